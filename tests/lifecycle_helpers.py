"""Small builders shared by the lifecycle and escalation tests."""

from __future__ import annotations

from alertkit._core.labels import Labels
from alertkit._core.model import Alert, AlertEvent, AlertState, EventKind, Severity

T0 = 1_700_000_000.0


def alert(fp: str = "fp1", *, rule: str = "DiskFull", severity: Severity = Severity.HIGH,
          fired_at: float = T0, **labels: str) -> Alert:
    return Alert(fingerprint=fp, rule=rule, labels=Labels({"alertname": rule, **labels}),
                 annotations={"summary": f"{rule} on {fp}"}, state=AlertState.FIRING,
                 severity=severity, value=1.0, active_at=fired_at, fired_at=fired_at)


def fired(a: Alert, at: float | None = None) -> AlertEvent:
    return AlertEvent(EventKind.FIRING, a, a.fired_at if at is None else at)


def resolved(a: Alert, at: float) -> AlertEvent:
    from attrs import evolve
    return AlertEvent(EventKind.RESOLVED, evolve(a, state=AlertState.INACTIVE,
                                                 resolved_at=at), at)
