"""The lifecycle's values: statuses, the transition table, alert records, the state.

An alert enters the lifecycle when it fires. From then on its
:class:`AlertRecord` says where it stands (:class:`LifecycleStatus`), who acknowledged
or owns it, when it is snoozed until, how far its escalation went, and how long
it spent in each status. :data:`TRANSITIONS` is the whole status machine, in
one table; every command and system change is checked against it.

::

                 acknowledge                      unacknowledge
      ┌──────┐ ─────────────▶ ┌──────────────┐ ────────────────▶ (open)
 fire │ OPEN │                │ ACKNOWLEDGED │
 ───▶ └──────┘ ◀── wake ───── └──────────────┘
        │  ▲  snooze ▼   ┌─────────┐ ▲ acknowledge
        │  └──────────── │ SNOOZED │─┘
        │   resolve /    └─────────┘
        │   resolved by the rule          ttl without update
        ▼   (from any active status)      (from any active status)
   ┌──────────┐    fire again        ┌─────────┐
   │ RESOLVED │ ───────────▶ OPEN ◀──│ EXPIRED │
   └──────────┘                      └─────────┘
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any

import attrs

from alertkit._core.model import Alert, Severity
from alertkit._errors import InvalidTransitionError, SnapshotError
from alertkit.notify.schema import _alert, _alert_dict, _Reader

from .audit import AuditRecord

__all__ = [
    "ACTIVE",
    "FORMAT_VERSION",
    "TRANSITIONS",
    "AlertRecord",
    "EscalationProgress",
    "LifecycleState",
    "LifecycleStatus",
    "Note",
    "check_transition",
]

FORMAT_VERSION = 1


class LifecycleStatus(enum.Enum):
    """Where an alert stands in its lifecycle."""

    OPEN = "open"
    """Firing, nobody has taken it yet: escalation runs."""
    ACKNOWLEDGED = "acknowledged"
    """Somebody is on it: escalation stops, repeat notifications too (configurable)."""
    SNOOZED = "snoozed"
    """Quiet until ``snoozed_until``, then open again."""
    RESOLVED = "resolved"
    """Over: the rule stopped firing, or somebody resolved it by hand."""
    EXPIRED = "expired"
    """Not updated for the lifecycle's ``ttl``: its source went away without resolving it."""

    def __str__(self) -> str:
        return self.value


OPEN, ACK, SNOOZED, RESOLVED, EXPIRED = (
    LifecycleStatus.OPEN, LifecycleStatus.ACKNOWLEDGED, LifecycleStatus.SNOOZED,
    LifecycleStatus.RESOLVED, LifecycleStatus.EXPIRED)
ACTIVE = frozenset({OPEN, ACK, SNOOZED})
"""The statuses of an alert that is still firing as far as the lifecycle knows."""

TRANSITIONS: Mapping[str, Mapping[LifecycleStatus | None, LifecycleStatus]] = {
    # action: {status before (None: no record yet): status after}
    "fire": {None: OPEN, RESOLVED: OPEN, EXPIRED: OPEN, OPEN: OPEN, ACK: ACK,
             SNOOZED: SNOOZED},
    "touch": {OPEN: OPEN, ACK: ACK, SNOOZED: SNOOZED},
    "acknowledge": {OPEN: ACK, SNOOZED: ACK},
    "unacknowledge": {ACK: OPEN},
    "assign": {OPEN: OPEN, ACK: ACK, SNOOZED: SNOOZED},
    "comment": {s: s for s in LifecycleStatus},
    "snooze": {OPEN: SNOOZED, ACK: SNOOZED, SNOOZED: SNOOZED},
    "wake": {SNOOZED: OPEN},
    "resolve": {OPEN: RESOLVED, ACK: RESOLVED, SNOOZED: RESOLVED},
    "rule_resolved": {OPEN: RESOLVED, ACK: RESOLVED, SNOOZED: RESOLVED, EXPIRED: RESOLVED},
    "expire": {OPEN: EXPIRED, ACK: EXPIRED, SNOOZED: EXPIRED},
    "escalate": {OPEN: OPEN},
    "escalate_now": {OPEN: OPEN},
    "skip_to_level": {OPEN: OPEN},
}
"""The status machine. ``fire`` on an active alert refreshes it; ``rule_resolved`` is the
rule's own resolution; ``wake`` ends a snooze; ``escalate`` is a scheduled escalation step.
Anything not in the table raises :class:`~alertkit.InvalidTransitionError`."""

_WHY = {
    ACK: "it is already acknowledged",
    RESOLVED: "it is resolved",
    EXPIRED: "it has expired",
    SNOOZED: "it is snoozed",
    OPEN: "it is not acknowledged",
}


def check_transition(action: str, status: LifecycleStatus | None,
                     fingerprint: str) -> LifecycleStatus:
    """The status after ``action`` from ``status``, or a precise error."""
    allowed = TRANSITIONS[action]
    after = allowed.get(status)
    if after is None:
        why = _WHY.get(status, "it is not firing") if status is not None else "it is unknown"
        raise InvalidTransitionError(
            f"cannot {action.replace('_', ' ')} alert {fingerprint}: {why} "
            f"(status {status}; allowed from {', '.join(sorted(str(s) for s in allowed))})",
            action=action, status=str(status))
    return after


@attrs.frozen
class Note:
    """A comment left on an alert."""

    actor: str
    at: float
    text: str


@attrs.frozen(kw_only=True)
class EscalationProgress:
    """How far an alert's escalation policy went.

    ``level`` is the index of the next level to notify, in ``cycle`` (0 is the first
    pass through the policy, 1 the first repeat...); ``due_at`` is when (None: the policy
    is exhausted or stopped). ``last_at`` is when the previous level went out and
    ``cycle_start`` when the current cycle began (the alert's firing time for cycle 0).
    """

    policy: str
    level: int = 0
    cycle: int = 0
    cycle_start: float
    last_at: float | None = None
    due_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "level": self.level, "cycle": self.cycle,
                "cycle_start": self.cycle_start, "last_at": self.last_at,
                "due_at": self.due_at}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EscalationProgress:
        return cls(policy=_str(d, "policy"), level=_int(d, "level"), cycle=_int(d, "cycle"),
                   cycle_start=_num(d, "cycle_start"), last_at=_opt_num(d, "last_at"),
                   due_at=_opt_num(d, "due_at"))


@attrs.frozen(kw_only=True)
class AlertRecord:
    """An alert's lifecycle: one per fingerprint, kept across its occurrences.

    ``alert`` is the latest snapshot from the rule. ``fired_at`` is when the current
    occurrence fired (``occurrence`` counts them from 1). The ``*_total`` and ``acks`` /
    ``resolves`` counters accumulate over occurrences for the statistics; ``time_in``
    holds the seconds spent in each status before ``status_since``.
    """

    fingerprint: str
    rule: str
    severity: Severity
    alert: Alert
    tenant: str | None = None
    status: LifecycleStatus = OPEN
    status_since: float
    fired_at: float
    updated_at: float
    occurrence: int = 1
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    first_ack_at: float | None = None
    ack_note: str = ""
    assignee: str | None = None
    snoozed_until: float | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    resolve_reason: str = ""
    comments: tuple[Note, ...] = ()
    escalation: EscalationProgress | None = None
    time_in: Mapping[str, float] = attrs.field(factory=dict)
    acks: int = 0
    ack_total: float = 0.0
    resolves: int = 0
    resolve_total: float = 0.0

    @property
    def labels(self) -> Mapping[str, str]:
        return self.alert.labels

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def summary(self) -> dict[str, Any]:
        """What the audit trail records before and after a change."""
        esc = self.escalation
        return {"status": self.status.value, "assignee": self.assignee,
                "acknowledged_by": self.acknowledged_by, "snoozed_until": self.snoozed_until,
                "escalation_level": None if esc is None else esc.level,
                "escalation_cycle": None if esc is None else esc.cycle}

    def time_in_status(self, now: float) -> dict[str, float]:
        """Seconds spent in each status so far, the current one counted up to ``now``."""
        out = dict(self.time_in)
        key = self.status.value
        out[key] = out.get(key, 0.0) + max(0.0, now - self.status_since)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (finite floats and strings only); :meth:`from_dict` inverts it."""
        return {
            "fingerprint": self.fingerprint, "rule": self.rule, "severity": str(self.severity),
            "alert": _alert_dict(self.alert, "firing"), "tenant": self.tenant,
            "status": self.status.value, "status_since": self.status_since,
            "fired_at": self.fired_at, "updated_at": self.updated_at,
            "occurrence": self.occurrence, "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": self.acknowledged_at,
            "first_ack_at": self.first_ack_at, "ack_note": self.ack_note,
            "assignee": self.assignee, "snoozed_until": self.snoozed_until,
            "resolved_at": self.resolved_at, "resolved_by": self.resolved_by,
            "resolve_reason": self.resolve_reason,
            "comments": [[c.actor, c.at, c.text] for c in self.comments],
            "escalation": None if self.escalation is None else self.escalation.to_dict(),
            "time_in": dict(self.time_in), "acks": self.acks, "ack_total": self.ack_total,
            "resolves": self.resolves, "resolve_total": self.resolve_total,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AlertRecord:
        """The record of a :meth:`to_dict` dict; :class:`~alertkit.SnapshotError` if bad."""
        try:
            if not isinstance(d, Mapping):
                raise TypeError(f"{d!r} is not an object")
            _, alert = _alert(_Reader(dict(d["alert"]), "alert"))
            sev = _str(d, "severity")
            try:
                severity = Severity[sev.upper()]
            except KeyError:
                raise ValueError(f"unknown severity {sev!r}") from None
            comments = []
            for c in d.get("comments", []):
                actor, at, text = c
                if not (isinstance(actor, str) and isinstance(text, str)):
                    raise TypeError(f"comment {c!r} is not [actor, at, text]")
                comments.append(Note(actor, _as_num(at, "comments.at"), text))
            esc = d.get("escalation")
            time_in = d.get("time_in", {})
            if not isinstance(time_in, Mapping):
                raise TypeError(f"time_in {time_in!r} is not an object")
            return cls(
                fingerprint=_str(d, "fingerprint"), rule=_str(d, "rule"), severity=severity,
                alert=alert, tenant=_opt_str(d, "tenant"),
                status=LifecycleStatus(_str(d, "status")),
                status_since=_num(d, "status_since"), fired_at=_num(d, "fired_at"),
                updated_at=_num(d, "updated_at"), occurrence=_int(d, "occurrence"),
                acknowledged_by=_opt_str(d, "acknowledged_by"),
                acknowledged_at=_opt_num(d, "acknowledged_at"),
                first_ack_at=_opt_num(d, "first_ack_at"), ack_note=_str(d, "ack_note"),
                assignee=_opt_str(d, "assignee"), snoozed_until=_opt_num(d, "snoozed_until"),
                resolved_at=_opt_num(d, "resolved_at"), resolved_by=_opt_str(d, "resolved_by"),
                resolve_reason=_str(d, "resolve_reason"), comments=tuple(comments),
                escalation=None if esc is None else EscalationProgress.from_dict(esc),
                time_in={str(k): _as_num(v, "time_in") for k, v in time_in.items()},
                acks=_int(d, "acks"), ack_total=_num(d, "ack_total"),
                resolves=_int(d, "resolves"), resolve_total=_num(d, "resolve_total"),
            )
        except SnapshotError:
            raise
        except Exception as exc:  # KeyError, TypeError, ValueError, OutboxError...
            raise SnapshotError(f"alert record: {type(exc).__name__}: {exc}") from None


@attrs.define
class LifecycleState:
    """Every alert record and the in-memory audit trail; the caller holds it.

    It changes in place (as the evaluator's and dispatcher's states do) through
    :class:`~alertkit._lifecycle.lifecycle.Lifecycle`; records themselves are
    frozen, so a record handed out never changes under its holder (code that sets
    ``records[fp]`` itself sets ``indexed = False``, or uses ``Lifecycle.adopt``). ``audit`` keeps
    the most recent ``audit_limit`` records of the lifecycle (the durable trail is the
    store's); ``next_seq`` numbers the next audit record.
    """

    records: dict[str, AlertRecord] = attrs.field(factory=dict)
    audit: list[AuditRecord] = attrs.field(factory=list)
    next_seq: int = 1
    # The lifecycle's timer heap, (due, fingerprint), rebuilt from the records when
    # ``indexed`` is false (after a restore, or after changing ``records`` directly).
    timers: list[tuple[float, str]] = attrs.field(factory=list, eq=False, repr=False)
    indexed: bool = attrs.field(default=False, eq=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with a ``"version"`` key."""
        return {"version": FORMAT_VERSION, "next_seq": self.next_seq,
                "records": [r.to_dict() for r in self.records.values()],
                "audit": [a.to_dict() for a in self.audit]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LifecycleState:
        """The state of a :meth:`to_dict` dict; :class:`~alertkit.SnapshotError` if bad."""
        if not isinstance(d, Mapping):
            raise SnapshotError(f"lifecycle state: {d!r} is not an object")
        if d.get("version") != FORMAT_VERSION:
            raise SnapshotError(f"lifecycle state version {d.get('version')!r} is not "
                                f"supported (this alertkit reads {FORMAT_VERSION})")
        recs = d.get("records", [])
        audit = d.get("audit", [])
        next_seq = d.get("next_seq", 1)
        if not isinstance(recs, list) or not isinstance(audit, list) or \
                not isinstance(next_seq, int) or isinstance(next_seq, bool) or next_seq < 1:
            raise SnapshotError("lifecycle state: records and audit must be lists, next_seq "
                                "a positive integer")
        records = [AlertRecord.from_dict(r) for r in recs]
        trail = [AuditRecord.from_dict(a) for a in audit]
        if trail and trail[-1].seq >= next_seq:
            raise SnapshotError(f"lifecycle state: next_seq {next_seq} is not after the last "
                                f"audit record ({trail[-1].seq})")
        return cls({r.fingerprint: r for r in records}, trail, next_seq)


# -- decoding helpers (errors become SnapshotError in from_dict) ------------------------

def _str(d: Mapping[str, Any], k: str) -> str:
    v = d[k]
    if not isinstance(v, str):
        raise TypeError(f"{k} {v!r} is not a string")
    return v


def _opt_str(d: Mapping[str, Any], k: str) -> str | None:
    return None if d.get(k) is None else _str(d, k)


def _as_num(v: object, k: str) -> float:
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
        raise TypeError(f"{k} {v!r} is not a finite number")
    return float(v)


def _num(d: Mapping[str, Any], k: str) -> float:
    return _as_num(d[k], k)


def _opt_num(d: Mapping[str, Any], k: str) -> float | None:
    return None if d.get(k) is None else _num(d, k)


def _int(d: Mapping[str, Any], k: str) -> int:
    v = d[k]
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise TypeError(f"{k} {v!r} is not a non-negative integer")
    return v
