"""Alertmanager interoperability on the sending side.

- :func:`alertmanager_webhook_payload`: a notification as the JSON body
  Alertmanager's webhook receivers get (version 4), for receivers written
  for Alertmanager (the generic webhook's ``payload="alertmanager"``).
- :class:`AlertmanagerNotifier`: forwards alerts to one or more
  Alertmanagers' ``POST /api/v2/alerts``, the way Prometheus does, so an
  existing Alertmanager does the routing, silencing and paging.

The receiving side (webhook payloads *from* Alertmanager) is
:mod:`alertkit.notify.ingest`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio
import attrs

from alertkit._core.model import Alert
from alertkit._dispatch.notification import (
    Delivered,
    DeliveryResult,
    Failed,
    Notification,
    Retry,
    common_items,
)
from alertkit._errors import NotifierConfigError
from alertkit.notify._channel import HttpChannel
from alertkit.notify.redact import redact_url
from alertkit.notify.registry import default_registry
from alertkit.notify.sender import DeliveryContext

__all__ = [
    "ZERO_TIME",
    "AlertmanagerConfig",
    "AlertmanagerNotifier",
    "alertmanager_webhook_payload",
    "rfc3339",
]

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero ``time.Time``: the ``endsAt`` Alertmanager puts on firing alerts in webhooks."""

RESEND_DELAY = 60.0
"""Prometheus' ``--rules.alert.resend-delay`` default (1m): the floor of the endsAt horizon."""


def rfc3339(ts: float) -> str:
    """Epoch seconds as RFC 3339 in UTC, as Go prints it (fraction without trailing zeros).

    >>> rfc3339(1_700_000_000.25)
    '2023-11-14T22:13:20.25Z'
    >>> rfc3339(1_700_000_000)
    '2023-11-14T22:13:20Z'
    """
    dt = datetime.fromtimestamp(ts, tz=UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += "." + f"{dt.microsecond:06d}".rstrip("0")
    return text + "Z"


def _am_sort_key(labels: Mapping[str, str]) -> tuple[Any, ...]:
    # Alertmanager's AlertSlice.Less: by job, then instance (alerts lacking one go
    # after those having it), then the sorted label pairs.
    key: list[Any] = []
    for name in ("job", "instance"):
        value = labels.get(name)
        key.append((1, "") if value is None else (0, value))
    key.append(sorted(labels.items()))
    return tuple(key)


def _labels_of(alert: Alert) -> dict[str, str]:
    labels = dict(alert.labels)
    labels.setdefault("alertname", alert.rule)
    return labels


def alertmanager_webhook_payload(
    n: Notification, *, external_url: str = "", generator_url: str = ""
) -> dict[str, Any]:
    """``n`` as Alertmanager's webhook body, version 4.

    Alerts are sorted as Alertmanager sorts them (``job``, ``instance``, then
    the label set); ``startsAt`` is the firing time (the activation time if
    the alert never fired); a firing alert's ``endsAt`` is Go's zero time
    (:data:`ZERO_TIME`) as in Alertmanager's webhooks, a resolved one's is its
    resolution time. ``fingerprint`` is alertkit's label fingerprint (16 hex
    digits, like Alertmanager's, but not the same hash). ``truncatedAlerts``
    is ``n.truncated``.
    """
    rows: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for alert, status in [(a, "firing") for a in n.firing] + [(a, "resolved")
                                                              for a in n.resolved]:
        labels = _labels_of(alert)
        started = alert.fired_at if alert.fired_at is not None else alert.active_at
        if status == "resolved":
            ended = rfc3339(alert.resolved_at if alert.resolved_at is not None
                            else n.created_at)
        else:
            ended = ZERO_TIME
        rows.append((_am_sort_key(labels), {
            "status": status,
            "labels": labels,
            "annotations": dict(alert.annotations),
            "startsAt": rfc3339(started),
            "endsAt": ended,
            "generatorURL": generator_url,
            "fingerprint": alert.fingerprint,
        }))
    rows.sort(key=lambda row: row[0])
    alerts = [row[1] for row in rows]
    return {
        "receiver": n.receiver,
        "status": n.status,
        "alerts": alerts,
        "groupLabels": dict(n.group_labels),
        "commonLabels": common_items([a["labels"] for a in alerts]),
        "commonAnnotations": common_items([a["annotations"] for a in alerts]),
        "externalURL": external_url,
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": n.truncated,
    }


# -- the forwarder -----------------------------------------------------------------------


def _check_url(url: object) -> str:
    if not isinstance(url, str):
        raise NotifierConfigError(
            f"alertmanager URL must be a string, got {type(url).__name__}")
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise NotifierConfigError(f"alertmanager URL {shown} is not valid") from None
    if parts.scheme not in ("http", "https"):
        raise NotifierConfigError(
            f"alertmanager URL {shown}: the scheme must be http or https, "
            f"not {parts.scheme!r}")
    if not host:
        raise NotifierConfigError(f"alertmanager URL {shown} has no host")
    if parts.username is not None or parts.query or parts.fragment:
        raise NotifierConfigError(
            f"alertmanager URL {shown}: give credentials as basic_auth/bearer_token and no "
            f"query or fragment")
    return url.rstrip("/")


def _urls(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Iterable):
        raise NotifierConfigError("alertmanager urls must be a list of http(s) URLs")
    urls = tuple(_check_url(u) for u in value)
    if not urls:
        raise NotifierConfigError("alertmanager urls: give at least one Alertmanager URL")
    if len(set(urls)) != len(urls):
        raise NotifierConfigError("alertmanager urls: the same URL is listed twice")
    return urls


def _interval(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        math.isfinite(value) and value > 0
    ):
        raise NotifierConfigError(
            f"alertmanager evaluation_interval must be a positive number of seconds, "
            f"got {value!r}")
    return float(value)


def _basic(value: object) -> tuple[str, str] | None:
    if value is None:
        return None
    if not (isinstance(value, tuple | list) and len(value) == 2
            and all(isinstance(x, str) for x in value) and value[0]
            and ":" not in value[0]):
        raise NotifierConfigError(
            "alertmanager basic_auth must be a (user, password) pair of strings, "
            "the user non-empty and without ':'")
    return (value[0], value[1])


def _token(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or any(c in value for c in " \r\n\t\0"):
        raise NotifierConfigError("alertmanager bearer_token must be a non-empty token")
    return value


@attrs.frozen(kw_only=True)
class AlertmanagerConfig:
    """Where and how to forward alerts to Alertmanager.

    - ``urls``: the base URL of each Alertmanager (``http://127.0.0.1:9093``,
      with a path prefix if it runs under one); alerts go to
      ``<url>/api/v2/alerts`` of every one of them;
    - ``basic_auth`` ``(user, password)`` or ``bearer_token``;
    - ``generator_url``: the ``generatorURL`` of every alert (a link back to
      your app);
    - ``evaluation_interval``: seconds; a firing alert is sent with
      ``endsAt = now + 4 x max(60 s, evaluation_interval)``, as Prometheus
      does, so Alertmanager resolves it by itself if alertkit stops sending.
    """

    urls: tuple[str, ...] = attrs.field(converter=_urls)
    basic_auth: tuple[str, str] | None = attrs.field(default=None, converter=_basic,
                                                     repr=False)
    bearer_token: str | None = attrs.field(default=None, converter=_token, repr=False)
    generator_url: str = ""
    evaluation_interval: float = attrs.field(default=60.0, converter=_interval)

    def __attrs_post_init__(self) -> None:
        if self.basic_auth is not None and self.bearer_token is not None:
            raise NotifierConfigError("alertmanager: give basic_auth or bearer_token, not both")
        if not isinstance(self.generator_url, str) or any(
            c in self.generator_url for c in "\r\n\0"
        ):
            raise NotifierConfigError("alertmanager generator_url must be a one-line string")

    def __repr__(self) -> str:
        auth = ", basic_auth=***" if self.basic_auth else ""
        auth += ", bearer_token=***" if self.bearer_token else ""
        return (f"AlertmanagerConfig(urls={list(self.urls)!r}{auth}, "
                f"generator_url={self.generator_url!r}, "
                f"evaluation_interval={self.evaluation_interval!r})")


_URL_OPTIONS = {"bearer_token", "generator_url", "evaluation_interval"}


class AlertmanagerNotifier(HttpChannel):
    """Forwards each notification's alerts to Alertmanager's ``POST /api/v2/alerts``.

    The body is a JSON array, one object per alert: ``labels`` (with
    ``alertname``), ``annotations``, ``startsAt`` (the firing time),
    ``endsAt`` and ``generatorURL``. Firing alerts get ``endsAt = now + 4 x
    max(1m, evaluation_interval)`` (what Prometheus sends, so Alertmanager
    resolves them if alertkit goes away); resolved alerts get their
    resolution time. The notification's grouping is not sent: Alertmanager
    groups again with its own routes. Keep the route's ``repeat_interval``
    below the ``endsAt`` horizon, or Alertmanager resolves a still-firing alert
    when its ``endsAt`` passes (Prometheus re-sends every minute).

    With several Alertmanagers (a cluster), the alerts go to every one, as
    Prometheus does; the result is :class:`~alertkit.Delivered` if at least
    one accepted them (the cluster shares them), else :class:`~alertkit.Retry`
    if any failure may pass (connection error, timeout, 429, 5xx), else
    :class:`~alertkit.Failed` (400: Alertmanager rejected an alert).

    URL form: ``alertmanager://[user:password@]host[:port][/prefix][?options]``
    (plain HTTP) or ``alertmanagers://…`` (HTTPS); several hosts separated by
    commas (``alertmanager://am1:9093,am2:9093``); query options
    ``bearer_token``, ``generator_url``, ``evaluation_interval`` (seconds).

    >>> am = AlertmanagerNotifier.from_url("alertmanager://bot:s3cret@127.0.0.1:9093")
    >>> am
    AlertmanagerNotifier(urls=['http://127.0.0.1:9093'], auth='basic')
    """

    kind: ClassVar[str] = "alertmanager"  # type: ignore[misc]
    formats: tuple[str, ...] = ()

    def __init__(self, config: AlertmanagerConfig) -> None:
        if not isinstance(config, AlertmanagerConfig):
            raise NotifierConfigError(
                f"AlertmanagerNotifier takes an AlertmanagerConfig, got {type(config).__name__}")
        secrets: list[str | None] = [config.bearer_token]
        if config.basic_auth is not None:
            secrets += list(config.basic_auth)
        super().__init__(secrets)
        self.config = config
        self._headers: dict[str, str] = {}
        if config.bearer_token is not None:
            self._headers["authorization"] = f"Bearer {config.bearer_token}"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> AlertmanagerNotifier:
        """A forwarder from ``alertmanager://…`` / ``alertmanagers://…`` (see the class doc)."""
        return cls(cls.config_from_url(url, **options))

    @staticmethod
    def config_from_url(url: str, **options: Any) -> AlertmanagerConfig:
        """The :class:`AlertmanagerConfig` a URL stands for (``options`` override the query)."""
        if not isinstance(url, str):
            raise NotifierConfigError(
                f"alertmanager URL must be a string, got {type(url).__name__}")
        shown = redact_url(url)
        scheme, sep, rest = url.partition("://")
        schemes = {"alertmanager": "http", "alertmanagers": "https"}
        if not sep or scheme.lower() not in schemes:
            raise NotifierConfigError(
                f"alertmanager URL {shown} must start with alertmanager:// or alertmanagers://")
        if "#" in rest:
            raise NotifierConfigError(f"alertmanager URL {shown} has a fragment")
        rest, _, query = rest.partition("?")
        netloc, slash, path = rest.partition("/")
        prefix = (slash + path).rstrip("/")
        kwargs: dict[str, Any] = {}
        if "@" in netloc:
            userinfo, _, netloc = netloc.rpartition("@")
            user, _, password = userinfo.partition(":")
            kwargs["basic_auth"] = (unquote(user), unquote(password))
        if not netloc:
            raise NotifierConfigError(f"alertmanager URL {shown} has no host")
        http = schemes[scheme.lower()]
        kwargs["urls"] = [f"{http}://{host}{prefix}" for host in netloc.split(",")]
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key not in _URL_OPTIONS:
                raise NotifierConfigError(
                    f"alertmanager URL {shown}: unknown option {key!r} "
                    f"(known: {', '.join(sorted(_URL_OPTIONS))})")
            if key == "evaluation_interval":
                try:
                    kwargs[key] = float(value)
                except ValueError:
                    raise NotifierConfigError(
                        f"alertmanager URL {shown}: evaluation_interval must be a number of "
                        f"seconds") from None
            else:
                kwargs[key] = value
        kwargs.update(options)
        try:
            return AlertmanagerConfig(**kwargs)
        except TypeError as exc:
            raise NotifierConfigError(f"alertmanager: {exc}") from None

    def payload(self, notification: Notification, now: float | None = None) -> list[dict[str, Any]]:
        """The JSON array posted for ``notification`` at ``now`` (default: its creation time)."""
        at = notification.created_at if now is None else now
        horizon = rfc3339(at + 4 * max(RESEND_DELAY, self.config.evaluation_interval))
        body: list[dict[str, Any]] = []
        for alert in notification.firing:
            body.append(self._alert(alert, horizon))
        for alert in notification.resolved:
            ended = alert.resolved_at if alert.resolved_at is not None else at
            body.append(self._alert(alert, rfc3339(ended)))
        return body

    def _alert(self, alert: Alert, ends_at: str) -> dict[str, Any]:
        started = alert.fired_at if alert.fired_at is not None else alert.active_at
        item: dict[str, Any] = {
            "labels": _labels_of(alert),
            "annotations": dict(alert.annotations),
            "startsAt": rfc3339(started),
            "endsAt": ends_at,
        }
        if self.config.generator_url:
            item["generatorURL"] = self.config.generator_url
        return item

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        body = self.payload(notification, context.now)
        results: list[DeliveryResult] = [Retry("not sent")] * len(self.config.urls)

        async def one(index: int, base: str) -> None:
            result, _ = await self.post(
                context, f"{base}/api/v2/alerts", json=body, headers=self._headers,
                auth=self.config.basic_auth,
            )
            results[index] = result

        async with anyio.create_task_group() as tg:
            for index, base in enumerate(self.config.urls):
                tg.start_soon(one, index, base)
        return self._combine(results)

    def _combine(self, results: list[DeliveryResult]) -> DeliveryResult:
        if len(results) == 1:
            return results[0]
        shown = [redact_url(u) for u in self.config.urls]
        delivered = [(u, r) for u, r in zip(shown, results, strict=True)
                     if isinstance(r, Delivered)]
        if delivered:
            failed = len(results) - len(delivered)
            detail = f"accepted by {len(delivered)} of {len(results)} Alertmanagers"
            if failed:
                others = "; ".join(f"{u}: {r.reason}" for u, r in zip(shown, results, strict=True)
                                   if not isinstance(r, Delivered))
                detail += f" ({others})"
            return Delivered(delivered[0][1].status_code, detail=detail)
        reason = "; ".join(f"{u}: {r.reason}" for u, r in zip(shown, results, strict=True)
                           if not isinstance(r, Delivered))
        retries = [r for r in results if isinstance(r, Retry)]
        if retries:
            times = [r.retry_at for r in retries if r.retry_at is not None]
            return Retry(reason, status_code=retries[0].status_code,
                         retry_at=min(times) if times else None)
        first = results[0]
        return Failed(reason, status_code=first.status_code if isinstance(first, Failed)
                      else None)

    def __repr__(self) -> str:
        parts = [f"urls={list(self.config.urls)!r}"]  # no credentials in them (checked)
        if self.config.basic_auth is not None:
            parts.append("auth='basic'")
        elif self.config.bearer_token is not None:
            parts.append("auth='bearer'")
        return f"AlertmanagerNotifier({', '.join(parts)})"


def _factory(url: str, **options: Any) -> AlertmanagerNotifier:
    return AlertmanagerNotifier.from_url(url, **options)


default_registry.register("alertmanager", _factory, schemes=["alertmanager", "alertmanagers"])
