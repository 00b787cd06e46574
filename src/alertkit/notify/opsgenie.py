"""Opsgenie Alert API: create an Opsgenie alert per alertkit alert, close it by alias.

Each alertkit alert maps to one Opsgenie alert whose ``alias`` is derived
from the alert's fingerprint: a repeated or retried create is deduplicated
by Opsgenie, and the resolution closes it by alias.
:meth:`OpsgenieNotifier.acknowledge` acknowledges it for the lifecycle layer.

Wire format: https://docs.opsgenie.com/docs/alert-api (POST ``/v2/alerts``
with ``Authorization: GenieKey …``; ``message`` at most 130 characters,
``alias`` 512, ``description`` 15,000; priorities ``P1`` to ``P5``; requests are
processed asynchronously and answered 202). Atlassian is moving Opsgenie
users to Jira Service Management; the channel stays for existing accounts.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import attrs
import httpx

from alertkit._core.model import Alert, Severity
from alertkit._dispatch.notification import DeliveryResult, Notification, Retry
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, truncate
from ._checks import (
    check_base_url,
    check_choice,
    check_str,
    check_strings,
    check_token,
    classify_json_error,
    combine,
    iso_utc,
    parse_bool,
    parse_service_url,
    summary_of,
    to_list,
    url_options,
)
from .registry import default_registry
from .sender import DeliveryContext

__all__ = ["OpsgenieConfig", "OpsgenieNotifier"]

REGIONS = {"us": "https://api.opsgenie.com", "eu": "https://api.eu.opsgenie.com"}
MESSAGE_LIMIT = 130
DESCRIPTION_LIMIT = 15_000
ALIAS_LIMIT = 512
DETAIL_VALUE_LIMIT = 1_000  # keeps ``details`` well under Opsgenie's 8,000-character total

#: alertkit severity → Opsgenie priority.
PRIORITIES = {
    Severity.CRITICAL: "P1",
    Severity.HIGH: "P2",
    Severity.MEDIUM: "P3",
    Severity.LOW: "P4",
    Severity.INFO: "P5",
}

_PREFIX = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_TAG = re.compile(r"[^\s,]{1,50}")


def _tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


@attrs.frozen(kw_only=True)
class OpsgenieConfig:
    """Settings of an :class:`OpsgenieNotifier`.

    - ``api_key``: the key of an API integration (sent as ``GenieKey``; a
      secret, never shown).
    - ``region``: ``"us"`` (api.opsgenie.com) or ``"eu"`` (api.eu.opsgenie.com);
      ``base_url`` overrides both (tests, proxies).
    - ``tags``: added to every alert, with the alert's severity.
    - ``teams``, ``users`` (usernames, i.e. e-mail addresses), ``escalations``
      and ``schedules``: the ``responders`` of every alert, by name.
    - ``source`` (default ``"alertkit"``) and ``entity`` (default: the
      alert's ``instance`` or ``host`` label).
    - ``alias_prefix``: the alias is ``"{alias_prefix}-{fingerprint}"``.
    - ``send_resolved``: close the Opsgenie alert when the alert resolves.
    """

    api_key: str = attrs.field(repr=False)
    region: str = "us"
    base_url: str | None = None
    tags: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    teams: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    users: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    escalations: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    schedules: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    source: str = "alertkit"
    entity: str | None = None
    alias_prefix: str = "alertkit"
    send_resolved: bool = True

    def __attrs_post_init__(self) -> None:
        check_token("opsgenie", "api_key", self.api_key)
        check_choice("opsgenie", "region", self.region, REGIONS)
        if self.base_url is not None:
            object.__setattr__(self, "base_url", check_base_url("opsgenie", self.base_url))
        check_strings("opsgenie", "tags", self.tags, pattern=_TAG,
                      hint="at most 50 characters, no spaces or commas")
        if len(self.tags) > 19:
            raise NotifierConfigError("opsgenie: at most 19 tags (Opsgenie allows 20 per "
                                      "alert, one is the severity)")
        for name in ("teams", "users", "escalations", "schedules"):
            check_strings("opsgenie", name, getattr(self, name), max_len=100)
        check_str("opsgenie", "source", self.source, max_len=100)
        if self.entity is not None:
            check_str("opsgenie", "entity", self.entity, max_len=512)
        check_str("opsgenie", "alias_prefix", self.alias_prefix)
        if not _PREFIX.fullmatch(self.alias_prefix):
            raise NotifierConfigError(
                "opsgenie: alias_prefix must be 1-64 letters, digits, '_', '.' or '-'"
            )
        if not isinstance(self.send_resolved, bool):
            raise NotifierConfigError("opsgenie: send_resolved must be True or False")

    @property
    def api_url(self) -> str:
        """The Alert API root, ``…/v2/alerts``."""
        return f"{self.base_url or REGIONS[self.region]}/v2/alerts"


class OpsgenieNotifier(HttpChannel):
    """Creates, closes and acknowledges Opsgenie alerts, one per alertkit alert.

    URL form: ``opsgenie://API_KEY`` with query options ``region``
    (``us``/``eu``), ``tags``, ``teams``, ``users``, ``escalations`` and
    ``schedules`` (comma-separated), ``source``,
    ``entity``, ``alias_prefix``, ``send_resolved`` (yes/no) and ``base_url``::

        opsgenie://eb243592-faa2-4ba2-a551q-1afdf565c889?region=eu&teams=sre,db

    Firing alerts are created (``POST /v2/alerts``), resolved ones closed
    (``POST /v2/alerts/{alias}/close?identifierType=alias``), one request per
    alert, in order. A request to retry (429, 5xx, timeout...) stops the
    rest and retries the whole notification, which Opsgenie deduplicates by
    alias; a 4xx fails that request for good while the others still go.

    >>> og = OpsgenieNotifier(OpsgenieConfig(api_key="k3y-k3y-k3y", region="eu"))
    >>> og
    OpsgenieNotifier(api_url='https://api.eu.opsgenie.com/v2/alerts', api_key='***')
    """

    kind = "opsgenie"
    formats: tuple[str, ...] = ("plain",)

    def __init__(self, config: OpsgenieConfig) -> None:
        if not isinstance(config, OpsgenieConfig):
            raise NotifierConfigError(
                f"OpsgenieNotifier needs an OpsgenieConfig, got {type(config).__name__}"
            )
        super().__init__([config.api_key])
        self.config = config
        self._headers = {"authorization": f"GenieKey {config.api_key}"}

    @classmethod
    def from_url(cls, url: str, **options: Any) -> OpsgenieNotifier:
        """A notifier from ``opsgenie://API_KEY?option=value…`` (see the class doc).

        Keyword ``options`` are :class:`OpsgenieConfig` fields; they win over the URL's.
        """
        parts = parse_service_url("opsgenie", url, ["opsgenie"])
        if parts.path or parts.user is not None or parts.port is not None:
            raise NotifierConfigError(
                "opsgenie URL must be opsgenie://API_KEY with options in the query"
            )
        fields = url_options("opsgenie", parts.query, {
            "region": str, "source": str, "entity": str, "alias_prefix": str,
            "base_url": str, "tags": to_list, "teams": to_list, "users": to_list,
            "escalations": to_list, "schedules": to_list,
            "send_resolved": lambda v: parse_bool("opsgenie", "send_resolved", v),
        })
        fields.update(options)
        try:
            config = OpsgenieConfig(api_key=parts.host, **fields)
        except TypeError as exc:
            raise NotifierConfigError(f"opsgenie: {exc}") from None
        return cls(config)

    def alias(self, alert: Alert) -> str:
        """The Opsgenie alias of ``alert``: the same for every request about it."""
        return f"{self.config.alias_prefix}-{alert.fingerprint}"[:ALIAS_LIMIT]

    def description(self, alert: Alert, notification: Notification | None = None) -> str:
        """The alert's description: annotations, labels, value and times, ≤ 15,000 chars."""
        lines = [f"{k}: {v}" for k, v in alert.annotations.items()]
        lines.append("")
        lines.append("Labels:")
        lines += [f"  {k}={v}" for k, v in alert.labels.items()]
        lines.append(f"Value: {alert.value}")
        lines.append(f"Active since: {iso_utc(alert.active_at)}")
        if notification is not None and notification.truncated:
            lines.append(f"… and {notification.truncated} more alert(s) of this group not sent")
        return truncate("\n".join(lines).strip(), DESCRIPTION_LIMIT)

    def payload(self, alert: Alert, notification: Notification | None = None
                ) -> dict[str, Any]:
        """The create-alert body for a firing ``alert``."""
        cfg = self.config
        severity = str(alert.severity)
        tags = [*cfg.tags, severity] if severity not in cfg.tags else list(cfg.tags)
        details = {k: truncate(v, DETAIL_VALUE_LIMIT) for k, v in alert.labels.items()}
        details["value"] = str(alert.value)
        if notification is not None:
            details["receiver"] = notification.receiver
            details["group_key"] = truncate(notification.group_key, DETAIL_VALUE_LIMIT)
        labels = alert.labels
        body: dict[str, Any] = {
            "message": truncate(summary_of(alert), MESSAGE_LIMIT),
            "alias": self.alias(alert),
            "description": self.description(alert, notification),
            "tags": tags,
            "details": details,
            "priority": PRIORITIES.get(alert.severity, "P3"),
            "source": cfg.source,
        }
        entity = cfg.entity or labels.get("instance") or labels.get("host")
        if entity:
            body["entity"] = truncate(entity, 512)
        responders = [
            *({"type": "team", "name": t} for t in cfg.teams),
            *({"type": "user", "username": u} for u in cfg.users),
            *({"type": "escalation", "name": e} for e in cfg.escalations),
            *({"type": "schedule", "name": s} for s in cfg.schedules),
        ]
        if responders:
            body["responders"] = responders
        return body

    def requests(self, notification: Notification) -> list[tuple[str, dict[str, Any]]]:
        """``(url, body)`` of every request ``notification`` makes, in order."""
        return [(url, body) for _, url, body in self._plan(notification)]

    def _plan(self, notification: Notification) -> list[tuple[str, str, dict[str, Any]]]:
        out = [(f"create {self.alias(a)}", self.config.api_url, self.payload(a, notification))
               for a in notification.firing]
        if self.config.send_resolved:
            for a in notification.resolved:
                when = iso_utc(a.resolved_at if a.resolved_at is not None
                               else notification.created_at)
                out.append((f"close {self.alias(a)}", self._action_url(self.alias(a), "close"),
                            {"source": self.config.source, "note": f"Resolved at {when}"}))
        return out

    def _action_url(self, alias: str, action: str) -> str:
        return f"{self.config.api_url}/{quote(alias, safe='')}/{action}?identifierType=alias"

    def _classify(self, response: httpx.Response, now: float) -> DeliveryResult:
        return classify_json_error(self, response, now)

    async def _send_all(self, plan: list[tuple[str, str, dict[str, Any]]],
                        context: DeliveryContext) -> DeliveryResult:
        results: list[tuple[str, DeliveryResult]] = []
        for index, (what, url, body) in enumerate(plan, 1):
            result, _ = await self.post(context, url, json=body, headers=self._headers,
                                        classify=self._classify)
            results.append((f"request {index}/{len(plan)} ({what})", result))
            if isinstance(result, Retry):
                break
        return combine(results, len(plan))

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        """Create the firing alerts and close the resolved ones (see the class doc)."""
        return await self._send_all(self._plan(notification), context)

    async def acknowledge(self, target: Alert | str, context: DeliveryContext, *,
                          note: str = "Acknowledged via alertkit") -> DeliveryResult:
        """Acknowledge the Opsgenie alert of an alertkit alert (or of an alias)."""
        if isinstance(target, Alert):
            alias = self.alias(target)
        else:
            alias = check_str("opsgenie", "alias", target, max_len=ALIAS_LIMIT)
        body = {"source": self.config.source, "note": check_str("opsgenie", "note", note,
                                                                 max_len=25_000)}
        plan = [(f"acknowledge {alias}", self._action_url(alias, "acknowledge"), body)]
        return await self._send_all(plan, context)

    def __repr__(self) -> str:
        return f"OpsgenieNotifier(api_url={self.config.api_url!r}, api_key='***')"


default_registry.register("opsgenie", OpsgenieNotifier.from_url, schemes=["opsgenie"])
