"""Alertmanager interoperability on the receiving side: webhook payloads in.

- :func:`parse_alertmanager_payload` checks an Alertmanager webhook body
  (version 4) strictly and turns it into an :class:`AlertmanagerPayload`
  holding alertkit :class:`~alertkit.Alert` values. Every error names the
  JSON path of the bad field (``alerts[2].startsAt``); nothing is returned
  unless the whole payload is valid.
- :class:`AlertmanagerReceiver` is a plain ASGI application (no framework)
  serving that endpoint, to mount in Starlette, FastAPI or any ASGI server.
- :class:`EngineFeed` passes received alerts into an :class:`~alertkit.Engine`
  as events, so its subscribers, notifiers and dispatcher see them.
"""

from __future__ import annotations

import base64
import hmac
import inspect
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeAlias

import attrs

from alertkit._core.labels import Labels
from alertkit._core.model import Alert, AlertEvent, AlertState, EventKind, Severity
from alertkit._dispatch.notification import Notification, idempotency_key
from alertkit._errors import AlertkitError, AlertmanagerPayloadError, NotifierConfigError

__all__ = [
    "AlertmanagerPayload",
    "AlertmanagerReceiver",
    "EngineFeed",
    "ReceivedAlert",
    "parse_alertmanager_payload",
    "parse_rfc3339",
]

log = logging.getLogger("alertkit.ingest")

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z"
)
_SEVERITIES = {
    "critical": Severity.CRITICAL, "page": Severity.CRITICAL, "fatal": Severity.CRITICAL,
    "high": Severity.HIGH, "error": Severity.HIGH, "major": Severity.HIGH,
    "medium": Severity.MEDIUM, "warning": Severity.MEDIUM, "warn": Severity.MEDIUM,
    "low": Severity.LOW, "minor": Severity.LOW,
    "info": Severity.INFO, "none": Severity.INFO, "informational": Severity.INFO,
}


def parse_rfc3339(text: str) -> float | None:
    """Epoch seconds of an RFC 3339 time; ``None`` for Go's zero time (year 1).

    >>> parse_rfc3339("2023-11-14T22:13:20.25Z")
    1700000000.25
    >>> parse_rfc3339("0001-01-01T00:00:00Z") is None
    True

    Raises ``ValueError`` for anything else.
    """
    m = _RFC3339.match(text)
    if m is None:
        raise ValueError("not an RFC 3339 time like 2023-11-14T22:13:20Z")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if year == 1 and (month, day, hour, minute, second) == (1, 1, 0, 0, 0):
        return None
    fraction = m.group(7) or ""
    offset = 0
    if m.group(9):
        hours, minutes = int(m.group(10)), int(m.group(11))
        if hours > 23 or minutes > 59:
            raise ValueError("the UTC offset is out of range")
        offset = (hours * 60 + minutes) * 60 * (1 if m.group(9) == "+" else -1)
    try:
        dt = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    # Integer microseconds, then one division: no float noise from the fraction.
    micros = int((fraction + "000000")[:6])
    whole = int(dt.timestamp()) - offset
    return (whole * 1_000_000 + micros) / 1_000_000


@attrs.frozen
class ReceivedAlert:
    """One alert of a webhook payload, with what Alertmanager says of it.

    ``alert`` is the alertkit view (``rule`` = the ``alertname`` label, state
    firing or inactive, severity from the ``severity`` label, value NaN since
    Alertmanager carries none, ``active_at`` = ``fired_at`` = ``startsAt``,
    ``resolved_at`` = ``endsAt`` when resolved). ``fingerprint`` is
    Alertmanager's own (``alert.fingerprint`` is alertkit's, of the labels).
    """

    alert: Alert
    status: str
    fingerprint: str
    generator_url: str
    ends_at: float | None


@attrs.frozen
class AlertmanagerPayload:
    """A parsed Alertmanager webhook body (version 4)."""

    receiver: str
    status: str
    alerts: tuple[ReceivedAlert, ...]
    group_labels: Labels
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    external_url: str
    group_key: str
    truncated_alerts: int

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(r.alert for r in self.alerts if r.status == "firing")

    @property
    def resolved(self) -> tuple[Alert, ...]:
        return tuple(r.alert for r in self.alerts if r.status == "resolved")

    def events(self, at: float) -> list[AlertEvent]:
        """A ``firing`` or ``resolved`` :class:`~alertkit.AlertEvent` per alert, at ``at``."""
        return [AlertEvent(EventKind.FIRING if r.status == "firing" else EventKind.RESOLVED,
                           r.alert, at) for r in self.alerts]

    def notification(self, created_at: float) -> Notification:
        """The payload as an alertkit :class:`~alertkit.Notification` (to relay it)."""
        firing, resolved = self.firing, self.resolved
        return Notification(
            receiver=self.receiver, group_key=self.group_key, group_labels=self.group_labels,
            firing=firing, resolved=resolved, created_at=created_at,
            idempotency_key=idempotency_key(self.group_key, firing, resolved),
            truncated=self.truncated_alerts,
        )


class _Path:
    """Typed access to a JSON object; every error names the field's path."""

    __slots__ = ("data", "path")

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise AlertmanagerPayloadError(path or "$", f"expected an object, got "
                                           f"{_kind(data)}")
        self.data: dict[str, Any] = data
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str) -> Any:
        if key not in self.data:
            raise AlertmanagerPayloadError(self.at(key), "missing")
        return self.data[key]

    def text(self, key: str, *, choices: tuple[str, ...] = ()) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise AlertmanagerPayloadError(self.at(key), f"expected a string, got {_kind(value)}")
        if choices and value not in choices:
            raise AlertmanagerPayloadError(
                self.at(key), f"expected one of {', '.join(map(repr, choices))}, got "
                f"{_short(value)}")
        return value

    def strmap(self, key: str) -> dict[str, str]:
        value = self.get(key)
        if not isinstance(value, dict):
            raise AlertmanagerPayloadError(self.at(key), f"expected an object, got "
                                           f"{_kind(value)}")
        for k, v in value.items():
            if not isinstance(v, str):
                raise AlertmanagerPayloadError(f"{self.at(key)}.{k}",
                                               f"expected a string, got {_kind(v)}")
        return value

    def labels(self, key: str) -> Labels:
        mapping = self.strmap(key)
        try:
            return Labels(mapping)
        except AlertkitError as exc:
            raise AlertmanagerPayloadError(self.at(key), str(exc)) from None

    def time(self, key: str) -> float | None:
        text = self.text(key)
        try:
            return parse_rfc3339(text)
        except ValueError as exc:
            raise AlertmanagerPayloadError(self.at(key), f"{_short(text)}: {exc}") from None


def _kind(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _severity(labels: Mapping[str, str]) -> Severity:
    return _SEVERITIES.get(labels.get("severity", "").strip().lower(), Severity.MEDIUM)


def _alert(item: object, path: str) -> ReceivedAlert:
    r = _Path(item, path)
    status = r.text("status", choices=("firing", "resolved"))
    labels = r.labels("labels")
    annotations = r.strmap("annotations")
    starts = r.time("startsAt")
    if starts is None:
        raise AlertmanagerPayloadError(r.at("startsAt"), "the zero time is not a start time")
    ends = r.time("endsAt")
    generator = r.text("generatorURL") if "generatorURL" in r.data else ""
    fingerprint = r.text("fingerprint") if "fingerprint" in r.data else ""
    if status == "resolved":
        if ends is None:
            raise AlertmanagerPayloadError(r.at("endsAt"),
                                           "a resolved alert needs its end time")
        if ends < starts:
            raise AlertmanagerPayloadError(r.at("endsAt"), "ends before startsAt")
    alert = Alert(
        fingerprint=labels.fingerprint,
        rule=labels.get("alertname", ""),
        labels=labels,
        annotations=dict(annotations),
        state=AlertState.FIRING if status == "firing" else AlertState.INACTIVE,
        severity=_severity(labels),
        value=math.nan,
        active_at=starts,
        fired_at=starts,
        resolved_at=ends if status == "resolved" else None,
    )
    return ReceivedAlert(alert=alert, status=status, fingerprint=fingerprint,
                         generator_url=generator, ends_at=ends)


def parse_alertmanager_payload(data: bytes | str | Mapping[str, Any]) -> AlertmanagerPayload:
    """Check and convert an Alertmanager webhook body (version 4).

    ``data`` is the raw body (bytes or text, JSON) or the decoded object.
    Required fields are those Alertmanager 0.2x always sends; unknown fields
    are ignored (for later versions). Raises
    :class:`~alertkit.AlertmanagerPayloadError` naming the first bad field's
    path (``alerts[0].labels.severity: expected a string, got a number``).

    >>> p = parse_alertmanager_payload('''{"version": "4", "receiver": "ops",
    ...   "status": "firing", "groupKey": "{}:{}", "groupLabels": {},
    ...   "commonLabels": {}, "commonAnnotations": {}, "externalURL": "",
    ...   "truncatedAlerts": 0, "alerts": [{"status": "firing",
    ...   "labels": {"alertname": "Down"}, "annotations": {},
    ...   "startsAt": "2023-11-14T22:13:20Z", "endsAt": "0001-01-01T00:00:00Z",
    ...   "generatorURL": "", "fingerprint": "d6a0d2f2a1f4c0b1"}]}''')
    >>> p.firing[0].rule, p.firing[0].fired_at
    ('Down', 1700000000.0)
    """
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AlertmanagerPayloadError("$", f"the body is not UTF-8 ({exc.reason} at "
                                           f"byte {exc.start})") from None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise AlertmanagerPayloadError(
                "$", f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    r = _Path(data, "")
    version = r.text("version")
    if version != "4":
        raise AlertmanagerPayloadError("version", f"only version '4' is understood, got "
                                       f"{_short(version)}")
    raw_alerts = r.get("alerts")
    if not isinstance(raw_alerts, list):
        raise AlertmanagerPayloadError("alerts", f"expected an array, got {_kind(raw_alerts)}")
    alerts = tuple(_alert(item, f"alerts[{i}]") for i, item in enumerate(raw_alerts))
    truncated = r.data.get("truncatedAlerts", 0)
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise AlertmanagerPayloadError("truncatedAlerts", f"expected a non-negative integer, "
                                       f"got {truncated!r}"[:120])
    status = r.text("status", choices=("firing", "resolved"))
    return AlertmanagerPayload(
        receiver=r.text("receiver"),
        status=status,
        alerts=alerts,
        group_labels=r.labels("groupLabels"),
        common_labels=dict(r.strmap("commonLabels")),
        common_annotations=dict(r.strmap("commonAnnotations")),
        external_url=r.text("externalURL"),
        group_key=r.text("groupKey"),
        truncated_alerts=truncated,
    )


# -- the ASGI application ----------------------------------------------------------------

PayloadCallback: TypeAlias = Callable[[AlertmanagerPayload], "Awaitable[None] | None"]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class AlertmanagerReceiver:
    """An ASGI application receiving Alertmanager webhooks: ``POST`` a v4 body.

    ``on_payload(payload)`` (a plain or ``async`` function) gets each valid
    :class:`AlertmanagerPayload`; it runs in the server's event loop, so it
    may touch an :class:`~alertkit.Engine` (see :class:`EngineFeed`).
    Answers:

    - 200 ``{"status": "ok"}`` once ``on_payload`` returned;
    - 405 for any method but POST (``Allow: POST``);
    - 401 with ``WWW-Authenticate`` if ``bearer_token`` or ``basic_auth``
      ``(user, password)`` is set and the request lacks it (compared in
      constant time);
    - 413 if the body is over ``max_body`` bytes (default 1 MiB), judged by
      ``Content-Length`` before reading, or while reading a chunked body;
      reading stops at the limit;
    - 415 unless the content type is ``application/json``; 400 if the body
      is not UTF-8 JSON; 422 if it is JSON but not a valid payload, with
      ``{"error": message, "path": "alerts[0].startsAt"}``;
    - 500 if ``on_payload`` raised (logged; Alertmanager retries 5xx).

    ``on_payload`` sees only valid payloads: a bad one changes nothing.
    Every path is served; mount it where you want the endpoint, e.g.
    ``Mount("/alertmanager", app=receiver)`` in Starlette or
    ``app.mount("/alertmanager", receiver)`` in FastAPI.
    """

    def __init__(
        self,
        on_payload: PayloadCallback,
        *,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        max_body: int = 1 << 20,
    ) -> None:
        if not callable(on_payload):
            raise NotifierConfigError("AlertmanagerReceiver: on_payload must be callable")
        if bearer_token is not None and basic_auth is not None:
            raise NotifierConfigError("AlertmanagerReceiver: give bearer_token or basic_auth, "
                                      "not both")
        self._expected: bytes | None = None
        self._challenge = b""
        if bearer_token is not None:
            if not isinstance(bearer_token, str) or not bearer_token or any(
                c in bearer_token for c in " \r\n\t\0"
            ):
                raise NotifierConfigError("AlertmanagerReceiver: bearer_token must be a "
                                          "non-empty token")
            self._expected = f"Bearer {bearer_token}".encode()
            self._challenge = b'Bearer realm="alertkit"'
        elif basic_auth is not None:
            if not (isinstance(basic_auth, tuple) and len(basic_auth) == 2
                    and all(isinstance(x, str) for x in basic_auth)
                    and basic_auth[0] and ":" not in basic_auth[0]):
                raise NotifierConfigError("AlertmanagerReceiver: basic_auth must be a "
                                          "(user, password) pair, the user without ':'")
            token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode())
            self._expected = b"Basic " + token
            self._challenge = b'Basic realm="alertkit", charset="UTF-8"'
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise NotifierConfigError(f"AlertmanagerReceiver: max_body must be a positive "
                                      f"number of bytes, got {max_body!r}")
        self.on_payload = on_payload
        self.max_body = max_body
        self._auth_kind = "bearer" if bearer_token else "basic" if basic_auth else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets: refuse
            await send({"type": "websocket.close", "code": 1003})
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope.get("headers", []):
            headers.setdefault(bytes(name).lower(), bytes(value))
        if scope["method"] != "POST":
            await _answer(send, 405, {"error": "only POST is allowed"}, [(b"allow", b"POST")])
            return
        if self._expected is not None and not _same(headers.get(b"authorization", b""),
                                                     self._expected):
            await _answer(send, 401, {"error": "authentication required"},
                          [(b"www-authenticate", self._challenge)])
            return
        media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if media != b"application/json":
            await _answer(send, 415, {"error": "the content type must be application/json"})
            return
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await _answer(send, 400, {"error": "bad Content-Length"})
                return
            if int(length) > self.max_body:
                await _answer(send, 413, {"error": f"the body is over {self.max_body} bytes"})
                return
        body = await _read(receive, self.max_body)
        if body is None:
            await _answer(send, 413, {"error": f"the body is over {self.max_body} bytes"})
            return
        try:
            payload = parse_alertmanager_payload(body)
        except AlertmanagerPayloadError as exc:
            status = 400 if exc.path == "$" else 422
            await _answer(send, status, {"error": str(exc), "path": exc.path})
            return
        try:
            outcome = self.on_payload(payload)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            log.exception("AlertmanagerReceiver: on_payload failed for group %r",
                          payload.group_key)
            await _answer(send, 500, {"error": "the receiver failed to handle the payload"})
            return
        await _answer(send, 200, {"status": "ok"})

    def __repr__(self) -> str:
        auth = f", auth={self._auth_kind!r}" if self._auth_kind else ""
        return f"AlertmanagerReceiver(max_body={self.max_body}{auth})"


def _same(given: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(given, expected)


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The request body, or ``None`` as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _answer(send: Send, status: int, body: dict[str, str],
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(data)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class EngineFeed:
    """An ``on_payload`` callback passing received alerts into an Engine as events.

    Each alert gives a ``firing`` event when it is seen firing and was not
    before, and a ``resolved`` event when it is seen resolved and was not
    before, so Alertmanager's repeated notifications do not repeat events. The events
    reach the Engine's :meth:`~alertkit.Engine.events` subscribers, its
    notifiers and its dispatcher, as if its own rules had produced them.
    Call it from the Engine's event loop (an :class:`AlertmanagerReceiver`
    served in the same loop does).

    >>> feed = EngineFeed(engine)            # doctest: +SKIP
    >>> app = AlertmanagerReceiver(feed)     # doctest: +SKIP
    """

    def __init__(self, engine: Any) -> None:
        if not callable(getattr(engine, "emit", None)) or not hasattr(engine, "clock"):
            raise NotifierConfigError(f"EngineFeed needs an alertkit Engine, got "
                                      f"{type(engine).__name__}")
        self.engine = engine
        self._seen: dict[str, str] = {}

    def __call__(self, payload: AlertmanagerPayload) -> None:
        now = float(self.engine.clock.now())
        events: list[AlertEvent] = []
        for item in payload.alerts:
            key = item.alert.fingerprint
            previous = self._seen.get(key)
            if item.status == "firing" and previous != "firing":
                events.append(AlertEvent(EventKind.FIRING, item.alert, now))
            elif item.status == "resolved" and previous != "resolved":
                events.append(AlertEvent(EventKind.RESOLVED, item.alert, now))
            self._seen[key] = item.status
        if events:
            self.engine.emit(events)

    def __repr__(self) -> str:
        return f"EngineFeed({self.engine!r}, tracked={len(self._seen)})"

