"""The lifecycle machine: commands and time in, records, audit and notifications out.

:class:`Lifecycle` holds configuration only (escalation policies, ``ttl``, the
authorization policy, the tenant label, where assignees are notified); the
state is a :class:`~alertkit._lifecycle.model.LifecycleState` the caller holds
and passes in, as with the evaluator and the dispatcher. Every method is a
deterministic function of (state, input, ``now``): :meth:`Lifecycle.apply`
(commands), :meth:`Lifecycle.observe` (the rule's events), :meth:`Lifecycle.advance`
(time: snoozes ending, expiry, escalation steps). Each returns an
:class:`Outcome`: the records changed, the audit records written, and the
:class:`LifecycleNotification` values to deliver.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

import attrs

from alertkit._core.model import Alert, AlertEvent, AlertState, EventKind
from alertkit._core.timeutil import DurationLike, parse_duration
from alertkit._dispatch.notification import Notification
from alertkit._errors import (
    AlertNotFoundError,
    ConfigError,
    DurationError,
    LifecycleError,
    PermissionDenied,
)

from . import escalation as esc
from .audit import SYSTEM, AuditRecord
from .commands import (
    Acknowledge,
    Actor,
    Assign,
    Command,
    Comment,
    EscalateNow,
    Resolve,
    SkipToLevel,
    Snooze,
    Unacknowledge,
)
from .model import (
    ACTIVE,
    EXPIRED,
    OPEN,
    RESOLVED,
    SNOOZED,
    AlertRecord,
    LifecycleState,
    LifecycleStatus,
    Note,
    check_transition,
)

__all__ = ["Authorize", "Lifecycle", "LifecycleNotification", "Outcome", "Router"]

Authorize: TypeAlias = Callable[[Actor, str, AlertRecord | None], bool]
"""``policy(actor, action, record) -> bool``: may this actor do this (to this alert)?"""

MAX_COMMENTS = 50
"""How many comments an alert record keeps (the audit trail has every one)."""

Router: TypeAlias = Callable[[Mapping[str, str]], Sequence[str]]
"""labels -> the receivers a routing tree sends an alert with them to."""


@attrs.frozen
class LifecycleNotification:
    """A notification the lifecycle asks for: an escalation level's receiver, or the
    assignee's receiver when an alert resolves (``reason`` ``"escalation"`` or
    ``"assignee"``). :meth:`to_notification` makes the pipeline's
    :class:`~alertkit.Notification` of it; ``key`` is its idempotency key, stable for
    the same step of the same occurrence."""

    receiver: str
    alert: Alert
    resolved: bool
    reason: str
    key: str
    at: float
    level: int | None = None
    cycle: int | None = None
    policy: str | None = None

    @property
    def group_key(self) -> str:
        return f"lifecycle:{self.reason}:{self.alert.fingerprint}"

    def to_notification(self) -> Notification:
        alerts = (self.alert,)
        return Notification(receiver=self.receiver, group_key=self.group_key,
                            group_labels=self.alert.labels,
                            firing=() if self.resolved else alerts,
                            resolved=alerts if self.resolved else (),
                            created_at=self.at, idempotency_key=self.key)


@attrs.frozen
class Outcome:
    """What one call changed: the records after the change (``removed``: fingerprints
    forgotten), the audit records it wrote, the notifications now due."""

    records: tuple[AlertRecord, ...] = ()
    audit: tuple[AuditRecord, ...] = ()
    notifications: tuple[LifecycleNotification, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.records or self.audit or self.notifications or self.removed)


class _Changes:
    """Collects one call's changes, then freezes them into an :class:`Outcome`."""

    __slots__ = ("audit", "notes", "records", "removed")

    def __init__(self) -> None:
        self.records: dict[str, AlertRecord] = {}
        self.audit: list[AuditRecord] = []
        self.notes: list[LifecycleNotification] = []
        self.removed: list[str] = []

    def outcome(self) -> Outcome:
        return Outcome(tuple(self.records.values()), tuple(self.audit), tuple(self.notes),
                       tuple(self.removed))


def _key(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat().replace("+00:00", "Z")


def _duration(value: DurationLike | None, field: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value, field=field, allow_zero=False)
    except DurationError as exc:
        raise ConfigError(str(exc)) from None


class Lifecycle:
    """The lifecycle rules of one Engine (or of your own loop).

    :param policies: :class:`~alertkit.EscalationPolicy` values, tried in order.
    :param ttl: an active alert not updated (by the rule, :meth:`touch` or a command)
        for this long becomes ``expired``; None (default): never.
    :param authorize: ``policy(actor, action, record) -> bool``; False raises
        :class:`~alertkit.PermissionDenied`. ``record`` is None for actions on no alert
        (silences).
    :param tenant_label: the label naming an alert's tenant. An :class:`Actor` with a
        ``tenant`` sees and changes only that tenant's alerts (others are "not found")
        and escalation policies with another ``tenant`` never apply to them.
    :param assignee_receivers: where an assignee hears that their alert resolved:
        assignee -> receiver name, or a callable returning a receiver name (anything
        else, None included, means nobody is notified).
    :param ack_stops_repeats: drop a notification whose firing alerts are all
        acknowledged or snoozed (and with no resolved alert); see :meth:`annotate`.
    :param retention: how long resolved and expired records are kept (for queries,
        history and statistics) before they are forgotten.
    :param audit_limit: how many audit records the state keeps in memory.
    :param router: labels -> the receivers the routing tree sends them to, for policies
        with ``route_receivers`` (an Engine uses its dispatcher's
        :meth:`~alertkit.Dispatcher.receivers_for` when this is None). Without one, such
        policies apply to nothing.
    """

    def __init__(
        self,
        *,
        policies: Iterable[esc.EscalationPolicy] = (),
        ttl: DurationLike | None = None,
        authorize: Authorize | None = None,
        tenant_label: str | None = None,
        assignee_receivers: Mapping[str, str] | Callable[[str], str | None] | None = None,
        ack_stops_repeats: bool = True,
        retention: DurationLike = "7d",
        audit_limit: int = 10_000,
        router: Router | None = None,
    ) -> None:
        pols = tuple(policies)
        names: set[str] = set()
        for i, p in enumerate(pols):
            if not isinstance(p, esc.EscalationPolicy):
                raise ConfigError(f"policies[{i}]: {p!r} is not an EscalationPolicy")
            if p.name in names:
                raise ConfigError(f"policies[{i}]: two escalation policies are named "
                                  f"{p.name!r}")
            names.add(p.name)
        if authorize is not None and not callable(authorize):
            raise ConfigError(f"authorize: {authorize!r} is not callable")
        if tenant_label is not None and (not isinstance(tenant_label, str) or
                                         not tenant_label):
            raise ConfigError(f"tenant_label: {tenant_label!r} is not a label name")
        if assignee_receivers is not None and not (isinstance(assignee_receivers, Mapping)
                                                   or callable(assignee_receivers)):
            raise ConfigError(f"assignee_receivers: {assignee_receivers!r} is not a mapping "
                              f"or a callable")
        if not isinstance(audit_limit, int) or isinstance(audit_limit, bool) or \
                audit_limit < 1:
            raise ConfigError(f"audit_limit: {audit_limit!r} is not a positive integer")
        self.policies = pols
        self._by_name = {p.name: p for p in pols}
        self.ttl = _duration(ttl, "ttl")
        self.authorize = authorize
        self.tenant_label = tenant_label
        self.assignee_receivers = assignee_receivers
        self.ack_stops_repeats = bool(ack_stops_repeats)
        retained = _duration(retention, "retention")
        assert retained is not None
        self.retention = retained
        self.audit_limit = audit_limit
        self.router = router
        self._routed_policies = any(p.route_receivers for p in pols)

    def new_state(self) -> LifecycleState:
        return LifecycleState()

    @property
    def receivers(self) -> frozenset[str]:
        """Every receiver name the policies and the assignee mapping name."""
        out = {r for p in self.policies for r in p.receivers}
        if isinstance(self.assignee_receivers, Mapping):
            out.update(self.assignee_receivers.values())
        return frozenset(out)

    # -- access ---------------------------------------------------------------------------

    def visible(self, actor: Actor | None, record: AlertRecord) -> bool:
        """Whether ``actor`` may see ``record`` (tenant scoping; None sees everything)."""
        return actor is None or actor.tenant is None or actor.tenant == record.tenant

    def check(self, actor: Actor, action: str, record: AlertRecord | None) -> None:
        """Raise :class:`~alertkit.PermissionDenied` unless the policy allows it."""
        if self.authorize is not None and not self.authorize(actor, action, record):
            what = f" alert {record.fingerprint}" if record is not None else ""
            raise PermissionDenied(f"{actor.name} may not {action.replace('_', ' ')}{what}")

    def get(self, state: LifecycleState, fingerprint: str, actor: Actor | None = None
            ) -> AlertRecord:
        """The record of ``fingerprint`` as ``actor`` may see it, or
        :class:`~alertkit.AlertNotFoundError`."""
        rec = state.records.get(fingerprint)
        if rec is None or not self.visible(actor, rec):
            raise AlertNotFoundError(f"no alert with fingerprint {fingerprint!r}")
        return rec

    # -- commands -------------------------------------------------------------------------

    def apply(self, state: LifecycleState, command: Command, now: float) -> Outcome:
        """Apply an actor's command at ``now``; raise on an unknown alert, a refused actor
        or a status that does not allow it (the state is then unchanged)."""
        if not isinstance(now, int | float) or not math.isfinite(now):
            raise LifecycleError(f"now: {now!r} is not a finite time")
        actor, action = command.actor, command.action
        rec = self.get(state, command.fingerprint, actor)
        self.check(actor, action, rec)
        after = check_transition(action, rec.status, rec.fingerprint)
        ch = _Changes()
        who = actor.name
        detail: dict[str, Any] = {}
        new: AlertRecord
        touched = max(rec.updated_at, now)
        if isinstance(command, Acknowledge):
            first = rec.first_ack_at is None
            new = attrs.evolve(
                rec, **_moved(rec, after, now), acknowledged_by=who, acknowledged_at=now,
                ack_note=command.note, snoozed_until=None, escalation=_stopped(rec),
                first_ack_at=now if first else rec.first_ack_at,
                acks=rec.acks + 1 if first else rec.acks,
                ack_total=(rec.ack_total + max(0.0, now - rec.fired_at)) if first
                else rec.ack_total, updated_at=touched)
            detail = {"note": command.note}
        elif isinstance(command, Unacknowledge):
            new = attrs.evolve(rec, **_moved(rec, after, now), acknowledged_by=None,
                               acknowledged_at=None, ack_note="",
                               escalation=self._restart(rec, now), updated_at=touched)
            detail = {"note": command.note}
        elif isinstance(command, Assign):
            new = attrs.evolve(rec, assignee=command.assignee, updated_at=touched)
            detail = {"assignee": command.assignee}
        elif isinstance(command, Comment):
            # The record keeps the latest comments; the audit trail keeps them all.
            kept = (*rec.comments[-(MAX_COMMENTS - 1):], Note(who, now, command.text))
            new = attrs.evolve(rec, comments=kept, updated_at=touched)
            detail = {"text": command.text}
        elif isinstance(command, Snooze):
            if command.until <= now:
                raise LifecycleError(f"until: {_iso(command.until)} is not after now "
                                     f"({_iso(now)})")
            new = attrs.evolve(rec, **_moved(rec, after, now), snoozed_until=command.until,
                               acknowledged_by=None, acknowledged_at=None, ack_note="",
                               escalation=_stopped(rec), updated_at=touched)
            detail = {"until": command.until, "note": command.note}
        elif isinstance(command, Resolve):
            new = self._resolved(rec, now, who, command.reason, ch)
            detail = {"reason": command.reason}
        elif isinstance(command, EscalateNow | SkipToLevel):
            policy = self._policy_of(rec)
            prog = rec.escalation
            assert prog is not None
            if isinstance(command, SkipToLevel):
                if command.level > len(policy.levels):
                    raise LifecycleError(f"level: escalation policy {policy.name!r} has "
                                         f"levels 1 to {len(policy.levels)}, not "
                                         f"{command.level}")
                prog = esc.skip_to(policy, prog, command.level - 1, now)
            elif prog.level >= len(policy.levels):
                raise LifecycleError(f"cannot escalate alert {rec.fingerprint} now: its "
                                     f"escalation policy {policy.name!r} is exhausted (use "
                                     f"skip_to_level)")
            new, detail = self._escalate(attrs.evolve(rec, escalation=prog), policy, now, ch)
        else:  # pragma: no cover - the Command union is closed
            raise LifecycleError(f"{command!r} is not a lifecycle command")
        if new.updated_at < touched:  # resolve and escalate build their record elsewhere
            new = attrs.evolve(new, updated_at=touched)
        self._write(state, ch, new, now, who, action, rec, detail)
        return ch.outcome()

    # -- the rule's events ------------------------------------------------------------------

    def observe(self, state: LifecycleState, events: Iterable[AlertEvent], *,
                router: Router | None = None) -> Outcome:
        """Take the rule's events: ``firing`` opens (or re-opens) a record, ``resolved``
        resolves it (notifying its assignee); ``pending``/``cancelled`` are ignored.
        ``router`` stands in for the lifecycle's own (an Engine passes its dispatcher's)."""
        ch = _Changes()
        route = router if router is not None else self.router
        for event in events:
            kind = event.kind
            if kind is EventKind.FIRING:
                self._fire(state, event.alert, event.at, ch, route)
            elif kind is EventKind.RESOLVED:
                rec = state.records.get(event.alert.fingerprint)
                if rec is None:
                    continue
                if rec.status in ACTIVE or rec.status is EXPIRED:
                    after = self._resolved(attrs.evolve(rec, alert=event.alert), event.at,
                                           None, "", ch)
                    self._write(state, ch, after, event.at, SYSTEM, "rule_resolved", rec, {})
                else:  # resolved by hand earlier: keep the rule's last word, silently
                    state.records[rec.fingerprint] = ch.records[rec.fingerprint] = \
                        attrs.evolve(rec, alert=event.alert)
        return ch.outcome()

    def touch(self, state: LifecycleState, fingerprint: str, now: float) -> bool:
        """Mark an active alert as updated at ``now`` (for ``ttl``); False if it is not."""
        rec = state.records.get(fingerprint)
        if rec is None or rec.status not in ACTIVE or now <= rec.updated_at:
            return False
        state.records[fingerprint] = attrs.evolve(rec, updated_at=now)
        return True

    def _fire(self, state: LifecycleState, alert: Alert, now: float, ch: _Changes,
              router: Router | None) -> None:
        fp = alert.fingerprint
        rec = state.records.get(fp)
        if rec is not None and rec.status in ACTIVE:
            new = attrs.evolve(rec, alert=alert, updated_at=max(rec.updated_at, now))
            state.records[fp] = ch.records[fp] = new
            return
        fired = alert.fired_at if alert.fired_at is not None else now
        tenant = alert.labels.get(self.tenant_label) if self.tenant_label else None
        routed: Sequence[str] = ()
        if router is not None and self._routed_policies:
            routed = router(alert.labels)
        policy = esc.select_policy(self.policies, alert.labels, alert.severity, tenant,
                                   routed)
        progress = esc.start(policy, fired) if policy is not None else None
        if rec is None:
            new = AlertRecord(fingerprint=fp, rule=alert.rule, severity=alert.severity,
                              alert=alert, tenant=tenant, status=OPEN, status_since=now,
                              fired_at=fired, updated_at=now, escalation=progress)
        else:  # fires again after resolving or expiring: a new occurrence
            new = attrs.evolve(
                rec, **_moved(rec, OPEN, now), alert=alert, severity=alert.severity, tenant=tenant,
                fired_at=fired, updated_at=now, occurrence=rec.occurrence + 1,
                acknowledged_by=None, acknowledged_at=None, first_ack_at=None, ack_note="",
                snoozed_until=None, resolved_at=None, resolved_by=None, resolve_reason="",
                escalation=progress)
        self._write(state, ch, new, now, SYSTEM, "fire", rec,
                    {"occurrence": new.occurrence,
                     "policy": None if policy is None else policy.name})

    def _resolved(self, rec: AlertRecord, now: float, by: str | None, reason: str,
                  ch: _Changes) -> AlertRecord:
        new = attrs.evolve(rec, **_moved(rec, RESOLVED, now), resolved_at=now, resolved_by=by,
                           resolve_reason=reason, snoozed_until=None,
                           escalation=_stopped(rec), resolves=rec.resolves + 1,
                           resolve_total=rec.resolve_total + max(0.0, now - rec.fired_at))
        receiver = self._assignee_receiver(rec.assignee)
        if receiver is not None:
            view = self._view(new)
            alert = attrs.evolve(view, state=AlertState.INACTIVE, resolved_at=now)
            ch.notes.append(LifecycleNotification(
                receiver=receiver, alert=alert, resolved=True, reason="assignee",
                key=_key("assignee", rec.fingerprint, rec.occurrence, receiver), at=now))
        return new

    def _assignee_receiver(self, assignee: str | None) -> str | None:
        mapping = self.assignee_receivers
        if assignee is None or mapping is None:
            return None
        receiver = mapping.get(assignee) if isinstance(mapping, Mapping) else mapping(assignee)
        # Anything but a receiver name means "nobody to notify": raising here would stop
        # the rule's resolution half-way.
        return receiver if isinstance(receiver, str) and receiver else None

    # -- time -------------------------------------------------------------------------------

    def advance(self, state: LifecycleState, now: float) -> Outcome:
        """Everything due at ``now``: expiry (``ttl``), snoozes ending, escalation levels
        (several if several are overdue, in order), and forgetting old records.

        Only the records with something due are visited (a timer heap in the state), so
        the cost is independent of how many alerts sit quietly.
        """
        ch = _Changes()
        heap = self._timers(state)
        records = state.records
        while heap and heap[0][0] <= now:
            _, fp = heapq.heappop(heap)
            rec = records.get(fp)
            if rec is None:
                continue
            due = self._due_of(rec)
            if due is None:
                continue
            if due > now:  # moved later since (touched, acknowledged...): requeue
                heapq.heappush(heap, (due, fp))
                continue
            self._advance_record(state, rec, now, ch)
        return ch.outcome()

    def _advance_record(self, state: LifecycleState, rec: AlertRecord, now: float,
                        ch: _Changes) -> None:
        fp, status, ttl = rec.fingerprint, rec.status, self.ttl
        if status not in ACTIVE:
            if now - rec.status_since >= self.retention:
                del state.records[fp]
                ch.records.pop(fp, None)
                ch.removed.append(fp)
            return
        if ttl is not None and now - rec.updated_at >= ttl:
            new = attrs.evolve(rec, **_moved(rec, check_transition("expire", status, fp), now),
                               snoozed_until=None, escalation=_stopped(rec))
            self._write(state, ch, new, now, SYSTEM, "expire", rec,
                        {"ttl": ttl, "updated_at": rec.updated_at})
            return
        if status is SNOOZED and rec.snoozed_until is not None and rec.snoozed_until <= now:
            new = attrs.evolve(rec, **_moved(rec, check_transition("wake", status, fp), now),
                               snoozed_until=None, escalation=self._restart(rec, now))
            self._write(state, ch, new, now, SYSTEM, "wake", rec,
                        {"snoozed_until": rec.snoozed_until})
            rec, status = new, OPEN
        prog = rec.escalation
        while status is OPEN and prog is not None and prog.due_at is not None and \
                prog.due_at <= now:
            policy = self._by_name.get(prog.policy)
            if policy is None:  # the policy was removed since: stop quietly
                break
            new, detail = self._escalate(rec, policy, now, ch)
            self._write(state, ch, new, now, SYSTEM, "escalate", rec, detail)
            rec, prog = new, new.escalation

    def next_wakeup(self, state: LifecycleState) -> float | None:
        """When :meth:`advance` has something to do next (None: nothing is scheduled)."""
        heap = self._timers(state)
        records = state.records
        while heap:
            t, fp = heap[0]
            rec = records.get(fp)
            due = None if rec is None else self._due_of(rec)
            if due == t:
                return t
            heapq.heappop(heap)  # stale: gone, or due at another time now
            if due is not None:
                heapq.heappush(heap, (due, fp))
        return None

    def _due_of(self, rec: AlertRecord) -> float | None:
        """The next time :meth:`advance` has something to do for ``rec``."""
        status = rec.status
        if status not in ACTIVE:
            return rec.status_since + self.retention
        best = math.inf if self.ttl is None else rec.updated_at + self.ttl
        if status is SNOOZED:
            if rec.snoozed_until is not None:
                best = min(best, rec.snoozed_until)
        elif status is OPEN:
            prog = rec.escalation
            if prog is not None and prog.due_at is not None and prog.policy in self._by_name:
                best = min(best, prog.due_at)
        return None if best == math.inf else best

    def _timers(self, state: LifecycleState) -> list[tuple[float, str]]:
        """The state's timer heap, (re)built when missing or mostly stale."""
        heap = state.timers
        if state.indexed and len(heap) <= 2 * len(state.records) + 64:
            return heap
        heap.clear()
        for fp, rec in state.records.items():
            due = self._due_of(rec)
            if due is not None:
                heap.append((due, fp))
        heapq.heapify(heap)
        state.indexed = True
        return heap

    def adopt(self, state: LifecycleState, record: AlertRecord) -> None:
        """Put a record read from elsewhere (a store shared with other processes) into the
        state, replacing this fingerprint's, with its timers."""
        state.records[record.fingerprint] = record
        due = self._due_of(record)
        if due is not None and state.indexed:
            heapq.heappush(state.timers, (due, record.fingerprint))

    # -- escalation ---------------------------------------------------------------------------

    def _policy_of(self, rec: AlertRecord) -> esc.EscalationPolicy:
        prog = rec.escalation
        policy = None if prog is None else self._by_name.get(prog.policy)
        if policy is None:
            raise LifecycleError(f"alert {rec.fingerprint} has no escalation policy (none "
                                 f"applies to it)")
        return policy

    def _restart(self, rec: AlertRecord, now: float) -> Any:
        prog = rec.escalation
        policy = None if prog is None else self._by_name.get(prog.policy)
        return None if policy is None else esc.start(policy, now)

    def _escalate(self, rec: AlertRecord, policy: esc.EscalationPolicy, now: float,
                  ch: _Changes) -> tuple[AlertRecord, dict[str, Any]]:
        prog = rec.escalation
        assert prog is not None
        new_prog, level, cycle = esc.advance(policy, prog, now)
        lv = policy.levels[level]
        new = attrs.evolve(rec, escalation=new_prog)
        base = self._view(new)
        alert = attrs.evolve(base, annotations={
            **base.annotations, "escalation_policy": policy.name,
            "escalation_level": str(level + 1), "escalation_cycle": str(cycle + 1)})
        for receiver in lv.receivers:
            ch.notes.append(LifecycleNotification(
                receiver=receiver, alert=alert, resolved=False, reason="escalation",
                key=_key("escalation", rec.fingerprint, rec.occurrence, policy.name, cycle,
                         level, receiver),
                at=now, level=level + 1, cycle=cycle + 1, policy=policy.name))
        return new, {"policy": policy.name, "level": level + 1, "cycle": cycle + 1,
                     "receivers": ",".join(lv.receivers)}

    # -- notifications from the dispatcher ------------------------------------------------------

    def _view(self, rec: AlertRecord) -> Alert:
        """The alert as notifications show it: with who acknowledged, owns or snoozed it."""
        extra: dict[str, str] = {}
        if rec.acknowledged_by is not None:  # kept through a resolution, for its notice
            extra["acknowledged_by"] = rec.acknowledged_by
            if rec.acknowledged_at is not None:
                extra["acknowledged_at"] = _iso(rec.acknowledged_at)
            if rec.ack_note:
                extra["acknowledged_note"] = rec.ack_note
        if rec.status is SNOOZED and rec.snoozed_until is not None:
            extra["snoozed_until"] = _iso(rec.snoozed_until)
        elif rec.status is RESOLVED and rec.resolved_by is not None:
            extra["resolved_by"] = rec.resolved_by
            if rec.resolve_reason:
                extra["resolved_reason"] = rec.resolve_reason
        if rec.assignee is not None:
            extra["assignee"] = rec.assignee
        if not extra:
            return rec.alert
        return attrs.evolve(rec.alert, annotations={**rec.alert.annotations, **extra})

    def annotate(self, state: LifecycleState, n: Notification) -> Notification | None:
        """A dispatcher notification as the lifecycle wants it sent, or None to drop it.

        Each alert gains annotations saying who acknowledged it (``acknowledged_by``,
        ``acknowledged_at``), owns it (``assignee``), snoozed it (``snoozed_until``) or
        resolved it by hand (``resolved_by``). With ``ack_stops_repeats``, a notification
        whose firing alerts are all acknowledged, snoozed or resolved by hand, and that
        reports no resolved alert, is dropped: nobody needs the reminder.
        """
        records = state.records
        if not records:
            return n
        changed = False
        quiet = bool(n.firing) and not n.resolved
        firing: list[Alert] = []
        for a in n.firing:
            rec = records.get(a.fingerprint)
            if rec is None or rec.status is OPEN:
                quiet = False
                firing.append(a)
                continue
            if rec.status is EXPIRED:
                quiet = False
            view = self._view(rec)
            if view is not rec.alert:
                a = attrs.evolve(a, annotations={**a.annotations, **{
                    k: v for k, v in view.annotations.items() if k not in a.annotations}})
                changed = True
            firing.append(a)
        if quiet and self.ack_stops_repeats:
            return None
        resolved: list[Alert] = []
        for a in n.resolved:
            rec = records.get(a.fingerprint)
            if rec is not None:
                view = self._view(rec)
                if view is not rec.alert:
                    a = attrs.evolve(a, annotations={**a.annotations, **{
                        k: v for k, v in view.annotations.items() if k not in a.annotations}})
                    changed = True
            resolved.append(a)
        if not changed:
            return n
        return attrs.evolve(n, firing=tuple(firing), resolved=tuple(resolved))

    # -- bookkeeping ----------------------------------------------------------------------------

    def _write(self, state: LifecycleState, ch: _Changes, new: AlertRecord, now: float,
               actor: str, action: str, before: AlertRecord | None,
               detail: Mapping[str, Any]) -> None:
        state.records[new.fingerprint] = ch.records[new.fingerprint] = new
        if state.indexed:
            due = self._due_of(new)
            if due is not None:
                heapq.heappush(state.timers, (due, new.fingerprint))
        record = AuditRecord(seq=state.next_seq, at=now, actor=actor, action=action,
                             fingerprint=new.fingerprint, rule=new.rule, tenant=new.tenant,
                             before=None if before is None else before.summary(),
                             after=new.summary(), detail=dict(detail))
        state.next_seq += 1
        trail = state.audit
        trail.append(record)
        if len(trail) > self.audit_limit + self.audit_limit // 8 + 1:
            del trail[:len(trail) - self.audit_limit]
        ch.audit.append(record)


def _moved(rec: AlertRecord, status: LifecycleStatus, now: float) -> dict[str, Any]:
    """The changes that put ``rec`` in ``status`` from ``now``, the time in the old status
    added up (one ``attrs.evolve`` per change keeps commands cheap)."""
    if status is rec.status:
        return {}
    key = rec.status.value
    time_in = dict(rec.time_in)
    time_in[key] = time_in.get(key, 0.0) + max(0.0, now - rec.status_since)
    return {"status": status, "status_since": max(now, rec.status_since), "time_in": time_in}


def _stopped(rec: AlertRecord) -> Any:
    prog = rec.escalation
    return None if prog is None else attrs.evolve(prog, due_at=None)
