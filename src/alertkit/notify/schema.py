"""Notifications as JSON: the webhook body and the outbox row, one schema.

The schema is alertkit's own (version 1), close to Alertmanager's webhook
body but carrying everything a :class:`~alertkit.Notification` holds, so that
``notification_from_dict(notification_to_dict(n)) == n`` exactly: labels,
annotations, severities, NaN and infinite values, every timestamp, texts.
It is strict JSON (non-finite values are the strings ``"NaN"``, ``"+Inf"``,
``"-Inf"``, as in state snapshots).

Hand-written rather than cattrs-generated: it is on the delivery hot path,
and every decoding error must name the path of the bad field
(``alerts[2].labels``) because it is how a corrupt outbox row is reported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from alertkit._core.labels import Labels
from alertkit._core.model import Alert, AlertState, Severity
from alertkit._dispatch.notification import Notification
from alertkit._errors import AlertkitError, OutboxError

__all__ = [
    "SCHEMA_VERSION",
    "notification_from_dict",
    "notification_from_json",
    "notification_to_dict",
    "notification_to_json",
]

SCHEMA_VERSION = 1


def _enc(v: float) -> float | str:
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return v


_SPECIAL = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}


def _alert_dict(alert: Alert, status: str) -> dict[str, Any]:
    return {
        "status": status,
        "fingerprint": alert.fingerprint,
        "rule": alert.rule,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "state": alert.state.value,
        "severity": str(alert.severity),
        "value": _enc(alert.value),
        "active_at": alert.active_at,
        "fired_at": alert.fired_at,
        "resolved_at": alert.resolved_at,
        "no_data": alert.no_data,
    }


def notification_to_dict(n: Notification) -> dict[str, Any]:
    """A JSON-ready dict of ``n`` (schema version 1).

    Alerts are one list, firing first, each with ``"status"`` ``"firing"`` or
    ``"resolved"``; ``common_labels`` and ``common_annotations`` are included
    for receivers' convenience and ignored when decoding.
    """
    return {
        "version": SCHEMA_VERSION,
        "receiver": n.receiver,
        "status": n.status,
        "group_key": n.group_key,
        "group_labels": dict(n.group_labels),
        "common_labels": n.common_labels,
        "common_annotations": n.common_annotations,
        "idempotency_key": n.idempotency_key,
        "created_at": n.created_at,
        "truncated": n.truncated,
        "texts": dict(n.texts),
        "alerts": [_alert_dict(a, "firing") for a in n.firing]
        + [_alert_dict(a, "resolved") for a in n.resolved],
    }


def notification_to_json(n: Notification) -> str:
    """:func:`notification_to_dict` as compact, strict JSON."""
    return json.dumps(notification_to_dict(n), separators=(",", ":"), allow_nan=False)


class _Reader:
    """Typed field access on a decoded dict; errors name the field's path."""

    __slots__ = ("data", "path")

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise OutboxError(f"{path or 'notification'}: expected an object, "
                              f"got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.path = path

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str) -> Any:
        try:
            return self.data[key]
        except KeyError:
            raise OutboxError(f"{self._at(key)}: missing") from None

    def text(self, key: str) -> str:
        v = self.get(key)
        if not isinstance(v, str):
            raise OutboxError(f"{self._at(key)}: expected a string, got {v!r}")
        return v

    def number(self, key: str) -> float:
        v = self.get(key)
        if isinstance(v, str) and v in _SPECIAL:
            return _SPECIAL[v]
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise OutboxError(f"{self._at(key)}: expected a number, got {v!r}")
        return float(v)

    def opt_number(self, key: str) -> float | None:
        return None if self.data.get(key) is None else self.number(key)

    def count(self, key: str, default: int) -> int:
        v = self.data.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise OutboxError(f"{self._at(key)}: expected a non-negative integer, got {v!r}")
        return v

    def strmap(self, key: str) -> dict[str, str]:
        v = self.data.get(key, {})
        if not isinstance(v, dict) or not all(
            isinstance(k, str) and isinstance(x, str) for k, x in v.items()
        ):
            raise OutboxError(f"{self._at(key)}: expected an object of strings, got {v!r}")
        return v

    def labels(self, key: str) -> Labels:
        try:
            return Labels(self.strmap(key))
        except OutboxError:
            raise
        except AlertkitError as exc:
            raise OutboxError(f"{self._at(key)}: {exc}") from None


def _alert(r: _Reader) -> tuple[str, Alert]:
    status = r.text("status")
    if status not in ("firing", "resolved"):
        raise OutboxError(f"{r.path}.status: expected 'firing' or 'resolved', got {status!r}")
    state_text = r.text("state")
    try:
        state = AlertState(state_text)
    except ValueError:
        raise OutboxError(f"{r.path}.state: unknown alert state {state_text!r}") from None
    severity_text = r.text("severity")
    try:
        severity = Severity[severity_text.upper()]
    except KeyError:
        raise OutboxError(f"{r.path}.severity: unknown severity {severity_text!r}") from None
    no_data = r.data.get("no_data", False)
    if not isinstance(no_data, bool):
        raise OutboxError(f"{r.path}.no_data: expected true or false, got {no_data!r}")
    alert = Alert(
        fingerprint=r.text("fingerprint"),
        rule=r.text("rule"),
        labels=r.labels("labels"),
        annotations=r.strmap("annotations"),
        state=state,
        severity=severity,
        value=r.number("value"),
        active_at=r.number("active_at"),
        fired_at=r.opt_number("fired_at"),
        resolved_at=r.opt_number("resolved_at"),
        no_data=no_data,
    )
    return status, alert


def notification_from_dict(data: Mapping[str, Any]) -> Notification:
    """The :class:`~alertkit.Notification` of a :func:`notification_to_dict` dict.

    Raises :class:`~alertkit.OutboxError` naming the bad field's path on any
    problem (unknown version, missing field, wrong type, bad label...).
    """
    r = _Reader(dict(data) if isinstance(data, Mapping) else data, "")
    version = r.data.get("version")
    if version != SCHEMA_VERSION:
        raise OutboxError(f"version: notification schema version {version!r} is not supported "
                          f"(this alertkit reads version {SCHEMA_VERSION})")
    alerts = r.get("alerts")
    if not isinstance(alerts, list):
        raise OutboxError(f"alerts: expected a list, got {type(alerts).__name__}")
    firing: list[Alert] = []
    resolved: list[Alert] = []
    for i, item in enumerate(alerts):
        status, alert = _alert(_Reader(item, f"alerts[{i}]"))
        (firing if status == "firing" else resolved).append(alert)
    return Notification(
        receiver=r.text("receiver"),
        group_key=r.text("group_key"),
        group_labels=r.labels("group_labels"),
        firing=tuple(firing),
        resolved=tuple(resolved),
        created_at=r.number("created_at"),
        idempotency_key=r.text("idempotency_key"),
        truncated=r.count("truncated", 0),
        texts=r.strmap("texts"),
    )


def notification_from_json(text: str | bytes) -> Notification:
    """Decode :func:`notification_to_json` output; errors are :class:`~alertkit.OutboxError`."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OutboxError(f"notification is not valid JSON: {exc}") from None
    return notification_from_dict(data)
