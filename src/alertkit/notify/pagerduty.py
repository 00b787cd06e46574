"""PagerDuty Events API v2: one event per alert, deduplicated by the alert's fingerprint.

A firing alert sends a ``trigger`` event, a resolved one a ``resolve``
event, both with the same ``dedup_key`` (derived from the alert's
fingerprint), so PagerDuty keeps one incident per alert however often the
notification is repeated or retried. :meth:`PagerDutyNotifier.acknowledge`
sends the ``acknowledge`` event for the lifecycle layer.

Wire format: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
(POST ``/v2/enqueue``; ``summary`` at most 1,024 characters, ``dedup_key``
at most 255; 202 accepted, 400 invalid event, 429 throttled, 5xx retry).
"""

from __future__ import annotations

import re
from typing import Any

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
    check_token,
    classify_json_error,
    combine,
    iso_utc,
    json_number,
    parse_bool,
    parse_service_url,
    summary_of,
    url_options,
)
from .registry import default_registry
from .sender import DeliveryContext

__all__ = ["PagerDutyConfig", "PagerDutyNotifier"]

REGIONS = {"us": "https://events.pagerduty.com", "eu": "https://events.eu.pagerduty.com"}
SUMMARY_LIMIT = 1024
DEDUP_KEY_LIMIT = 255

#: alertkit severity → PagerDuty ``payload.severity``.
SEVERITIES = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "info",
    Severity.INFO: "info",
}

_ROUTING_KEY = re.compile(r"[A-Za-z0-9]{32}")
_LINK_ANNOTATIONS = (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard"))


def _links(value: object) -> tuple[tuple[str, str], ...]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise NotifierConfigError("pagerduty: links must be a list of (href, text) pairs")
    out: list[tuple[str, str]] = []
    for item in value:
        if not (isinstance(item, list | tuple) and len(item) == 2):
            raise NotifierConfigError("pagerduty: links must be a list of (href, text) pairs")
        href = check_base_url("pagerduty", item[0], "link href", link=True)
        out.append((href, check_str("pagerduty", "link text", item[1])))
    return tuple(out)


@attrs.frozen(kw_only=True)
class PagerDutyConfig:
    """Settings of a :class:`PagerDutyNotifier`.

    - ``routing_key``: the 32-character integration key of an Events API v2
      integration (a secret; never shown).
    - ``region``: ``"us"`` (events.pagerduty.com) or ``"eu"``
      (events.eu.pagerduty.com); ``base_url`` overrides both (tests, proxies).
    - ``source``: the event's ``source``; by default the alert's ``instance``
      or ``host`` label, else ``"alertkit"``.
    - ``client`` / ``client_url``: the monitoring tool PagerDuty links back to.
    - ``links``: ``(href, text)`` pairs added to every trigger event (the
      alert's ``runbook_url`` and ``dashboard_url`` annotations are added too).
    - ``component_label`` / ``group_label``: label names whose values become
      the event's ``component`` and ``group`` (e.g. ``"service"``, ``"job"``);
      left out when the alert lacks the label.
    - ``dedup_prefix``: ``dedup_key`` is ``"{dedup_prefix}/{fingerprint}"``.
    - ``send_resolved``: send ``resolve`` events for resolved alerts.
    """

    routing_key: str = attrs.field(repr=False)
    region: str = "us"
    base_url: str | None = None
    source: str | None = None
    client: str = "alertkit"
    client_url: str | None = None
    links: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_links)
    component_label: str | None = None
    group_label: str | None = None
    dedup_prefix: str = "alertkit"
    send_resolved: bool = True

    def __attrs_post_init__(self) -> None:
        check_token("pagerduty", "routing_key", self.routing_key, pattern=_ROUTING_KEY,
                    hint="32 letters and digits")
        check_choice("pagerduty", "region", self.region, REGIONS)
        if self.base_url is not None:
            object.__setattr__(self, "base_url", check_base_url("pagerduty", self.base_url))
        if self.source is not None:
            check_str("pagerduty", "source", self.source, max_len=255)
        check_str("pagerduty", "client", self.client, max_len=255)
        if self.client_url is not None:
            check_base_url("pagerduty", self.client_url, "client_url", link=True)
        for name in ("component_label", "group_label"):
            value = getattr(self, name)
            if value is not None:
                check_str("pagerduty", name, value, max_len=200)
        check_str("pagerduty", "dedup_prefix", self.dedup_prefix, max_len=200)
        if not isinstance(self.send_resolved, bool):
            raise NotifierConfigError("pagerduty: send_resolved must be True or False")

    @property
    def endpoint(self) -> str:
        """The Events API v2 URL events are posted to."""
        return f"{self.base_url or REGIONS[self.region]}/v2/enqueue"


class PagerDutyNotifier(HttpChannel):
    """Sends alertkit notifications to PagerDuty as Events API v2 events.

    URL form: ``pagerduty://ROUTING_KEY`` with query options ``region``
    (``us``/``eu``), ``source``, ``client``, ``client_url``, ``component_label``,
    ``group_label``, ``dedup_prefix``, ``send_resolved`` (yes/no) and ``base_url``::

        pagerduty://0123456789abcdef0123456789abcdef?region=eu&client=Grafana

    One notification with several alerts sends one event per alert, in
    order. If an event must be retried (429, 5xx, timeout...), the rest are
    not sent and the whole notification is retried: PagerDuty drops the
    duplicates thanks to ``dedup_key``. A 400 (invalid event) fails that
    event for good; the others are still sent.

    >>> pd = PagerDutyNotifier(PagerDutyConfig(routing_key="R" * 32, region="eu"))
    >>> pd
    PagerDutyNotifier(endpoint='https://events.eu.pagerduty.com/v2/enqueue', routing_key='***')
    """

    kind = "pagerduty"
    formats: tuple[str, ...] = ("plain",)

    def __init__(self, config: PagerDutyConfig) -> None:
        if not isinstance(config, PagerDutyConfig):
            raise NotifierConfigError(
                f"PagerDutyNotifier needs a PagerDutyConfig, got {type(config).__name__}"
            )
        super().__init__([config.routing_key])
        self.config = config

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PagerDutyNotifier:
        """A notifier from ``pagerduty://ROUTING_KEY?option=value…`` (see the class doc).

        Keyword ``options`` are :class:`PagerDutyConfig` fields; they win over the URL's.
        """
        parts = parse_service_url("pagerduty", url, ["pagerduty"])
        if parts.path or parts.user is not None or parts.port is not None:
            raise NotifierConfigError(
                "pagerduty URL must be pagerduty://ROUTING_KEY with options in the query"
            )
        fields = url_options("pagerduty", parts.query, {
            "region": str, "source": str, "client": str, "client_url": str,
            "dedup_prefix": str, "base_url": str, "component_label": str, "group_label": str,
            "send_resolved": lambda v: parse_bool("pagerduty", "send_resolved", v),
        })
        fields.update(options)
        try:
            config = PagerDutyConfig(routing_key=parts.host, **fields)
        except TypeError as exc:
            raise NotifierConfigError(f"pagerduty: {exc}") from None
        return cls(config)

    def dedup_key(self, alert: Alert) -> str:
        """The ``dedup_key`` of ``alert``'s incident: the same for every event about it."""
        return f"{self.config.dedup_prefix}/{alert.fingerprint}"[:DEDUP_KEY_LIMIT]

    def event(self, alert: Alert, status: str, notification: Notification | None = None
              ) -> dict[str, Any]:
        """The event for one alert: ``status`` ``"firing"`` → trigger, ``"resolved"`` → resolve."""
        cfg = self.config
        if status == "resolved":
            return {"routing_key": cfg.routing_key, "event_action": "resolve",
                    "dedup_key": self.dedup_key(alert)}
        if status != "firing":
            raise NotifierConfigError(
                f"pagerduty: event status must be 'firing' or 'resolved', not {status!r}"
            )
        labels = dict(alert.labels)
        source = cfg.source or labels.get("instance") or labels.get("host") or "alertkit"
        details: dict[str, Any] = {
            "labels": labels,
            "annotations": dict(alert.annotations),
            "value": json_number(alert.value),
            "active_since": iso_utc(alert.active_at),
        }
        if notification is not None:
            details["receiver"] = notification.receiver
            details["group_key"] = notification.group_key
            if notification.truncated:
                details["alerts_not_shown"] = notification.truncated
        links = [{"href": href, "text": text} for href, text in cfg.links]
        for name, text in _LINK_ANNOTATIONS:
            href = alert.annotations.get(name, "")
            if href.startswith(("https://", "http://")):
                links.append({"href": href, "text": text})
        event: dict[str, Any] = {
            "routing_key": cfg.routing_key,
            "event_action": "trigger",
            "dedup_key": self.dedup_key(alert),
            "payload": {
                "summary": truncate(summary_of(alert), SUMMARY_LIMIT),
                "source": source,
                "severity": SEVERITIES.get(alert.severity, "info"),
                "timestamp": iso_utc(alert.fired_at if alert.fired_at is not None
                                     else alert.active_at),
                "class": alert.rule,
                "custom_details": details,
            },
            "client": cfg.client,
        }
        for field, label in (("component", cfg.component_label), ("group", cfg.group_label)):
            if label is not None and labels.get(label):
                event["payload"][field] = labels[label]
        if cfg.client_url is not None:
            event["client_url"] = cfg.client_url
        if links:
            event["links"] = links
        return event

    def events(self, notification: Notification) -> list[dict[str, Any]]:
        """The events ``notification`` sends, in order: triggers, then resolves."""
        out = [self.event(a, "firing", notification) for a in notification.firing]
        if self.config.send_resolved:
            out += [self.event(a, "resolved", notification) for a in notification.resolved]
        return out

    def _classify(self, response: httpx.Response, now: float) -> DeliveryResult:
        return classify_json_error(self, response, now)

    async def _send_events(self, events: list[dict[str, Any]], context: DeliveryContext
                           ) -> DeliveryResult:
        results: list[tuple[str, DeliveryResult]] = []
        for index, event in enumerate(events, 1):
            result, _ = await self.post(context, self.config.endpoint, json=event,
                                        classify=self._classify)
            label = f"event {index}/{len(events)} ({event['event_action']} {event['dedup_key']})"
            results.append((label, result))
            if isinstance(result, Retry):
                break
        return combine(results, len(events))

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        """Send one event per alert (see the class doc for how results combine)."""
        return await self._send_events(self.events(notification), context)

    async def acknowledge(self, target: Alert | str, context: DeliveryContext) -> DeliveryResult:
        """Acknowledge the incident of an alert (or of a ``dedup_key``)."""
        if isinstance(target, Alert):
            key = self.dedup_key(target)
        else:
            key = check_str("pagerduty", "dedup_key", target, max_len=DEDUP_KEY_LIMIT)
        event = {"routing_key": self.config.routing_key, "event_action": "acknowledge",
                 "dedup_key": key}
        return await self._send_events([event], context)

    def __repr__(self) -> str:
        return f"PagerDutyNotifier(endpoint={self.config.endpoint!r}, routing_key='***')"


default_registry.register("pagerduty", PagerDutyNotifier.from_url, schemes=["pagerduty"])
