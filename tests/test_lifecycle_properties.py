"""Any sequence of commands, events and time keeps the status machine legal, the audit
trail complete and ordered, and escalation silent for acknowledged alerts."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from alertkit._errors import LifecycleError
from alertkit._lifecycle.commands import (
    Acknowledge,
    Actor,
    Assign,
    Comment,
    EscalateNow,
    Resolve,
    SkipToLevel,
    Snooze,
    Unacknowledge,
)
from alertkit._lifecycle.escalation import EscalationLevel, EscalationPolicy
from alertkit._lifecycle.lifecycle import Lifecycle, Outcome
from alertkit._lifecycle.model import ACK, OPEN, TRANSITIONS, LifecycleState, LifecycleStatus
from lifecycle_helpers import T0, alert, fired, resolved

FPS = ("a", "b", "c")
ACTORS = (Actor("ann"), Actor("bob", tenant="t1"), Actor("cy", tenant="t2"))
POLICY = EscalationPolicy(name="p", levels=[
    EscalationLevel("chat", delay="30s"), EscalationLevel("pager", delay="2m"),
    EscalationLevel("phone", delay="1m", after="previous")], repeat=1, repeat_after="5m")


def make_command(kind: str, actor: Actor, fp: str, now: float, arg: int) -> object:
    if kind == "ack":
        return Acknowledge(actor, fp, note="n")
    if kind == "unack":
        return Unacknowledge(actor, fp)
    if kind == "assign":
        return Assign(actor, fp, f"user{arg}")
    if kind == "comment":
        return Comment(actor, fp, f"c{arg}")
    if kind == "snooze":
        return Snooze(actor, fp, until=now + 1 + arg * 37)
    if kind == "resolve":
        return Resolve(actor, fp, reason="r")
    if kind == "escalate":
        return EscalateNow(actor, fp)
    return SkipToLevel(actor, fp, 1 + arg % 4)


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.lc = Lifecycle(policies=[POLICY], ttl="20m", tenant_label="tenant",
                            retention="1h", assignee_receivers=lambda a: f"rx-{a}")
        self.state = self.lc.new_state()
        self.now = T0
        self.occ = dict.fromkeys(FPS, 0)

    def _check_outcome(self, out: Outcome) -> None:
        for n in out.notifications:
            if n.reason == "escalation":
                rec = self.state.records[n.alert.fingerprint]
                # escalation only ever notifies an open alert, never an acknowledged one
                assert rec.status is OPEN, (rec.status, n)

    @rule(fp=st.sampled_from(FPS), tenant=st.sampled_from(["t1", "t2"]))
    def fire(self, fp: str, tenant: str) -> None:
        out = self.lc.observe(self.state, [fired(alert(fp, fired_at=self.now, tenant=tenant))])
        self._check_outcome(out)

    @rule(fp=st.sampled_from(FPS))
    def rule_resolves(self, fp: str) -> None:
        self._check_outcome(self.lc.observe(self.state, [resolved(alert(fp), self.now)]))

    @rule(kind=st.sampled_from(["ack", "unack", "assign", "comment", "snooze", "resolve",
                                "escalate", "skip"]),
          actor=st.sampled_from(ACTORS), fp=st.sampled_from(FPS),
          arg=st.integers(0, 20))
    def command(self, kind: str, actor: Actor, fp: str, arg: int) -> None:
        before = json.dumps(self.state.to_dict(), sort_keys=True)
        try:
            cmd = make_command(kind, actor, fp, self.now, arg)
            out = self.lc.apply(self.state, cmd, self.now)  # type: ignore[arg-type]
        except LifecycleError:
            # a refused command changes nothing at all
            assert json.dumps(self.state.to_dict(), sort_keys=True) == before
            return
        assert len(out.audit) == 1 and out.audit[0].action == cmd.action  # type: ignore[attr-defined]
        self._check_outcome(out)

    @rule(dt=st.sampled_from([0.0, 1.0, 29.0, 30.0, 61.0, 300.0, 1200.0, 4000.0]))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        self._check_outcome(self.lc.advance(self.state, self.now))

    @precondition(lambda self: bool(self.state.records))
    @rule()
    def restore(self) -> None:
        doc = json.loads(json.dumps(self.state.to_dict(), allow_nan=False))
        self.state = LifecycleState.from_dict(doc)

    @invariant()
    def audit_is_ordered_and_complete(self) -> None:
        trail = self.state.audit
        assert [a.seq for a in trail] == list(range(1, len(trail) + 1))
        assert all(x.at <= y.at for x, y in itertools.pairwise(trail))
        last: dict[str, str | None] = {}
        for a in trail:
            before = None if a.before is None else LifecycleStatus(a.before["status"])
            assert a.before is None or last.get(a.fingerprint) == a.before["status"], a
            assert TRANSITIONS[a.action].get(before) is LifecycleStatus(a.after["status"]), a
            last[a.fingerprint] = a.after["status"]
        for fp, rec in self.state.records.items():
            assert last.get(fp) == rec.status.value  # no status change goes unaudited

    @invariant()
    def timer_heap_agrees_with_a_full_scan(self) -> None:
        dues = [d for r in self.state.records.values()
                if (d := self.lc._due_of(r)) is not None]
        assert self.lc.next_wakeup(self.state) == (min(dues) if dues else None)

    @invariant()
    def records_are_consistent(self) -> None:
        for rec in self.state.records.values():
            if rec.status is ACK:
                assert rec.acknowledged_by is not None
                assert rec.escalation is None or rec.escalation.due_at is None
            if rec.status is LifecycleStatus.SNOOZED:
                assert rec.snoozed_until is not None and rec.snoozed_until > rec.status_since
            if rec.status in (LifecycleStatus.RESOLVED, LifecycleStatus.EXPIRED):
                assert rec.escalation is None or rec.escalation.due_at is None
            assert rec.status_since <= self.now
            assert rec.acks <= rec.occurrence and rec.resolves <= rec.occurrence
            assert all(v >= 0 for v in rec.time_in.values())


TestLifecycleMachine = LifecycleMachine.TestCase
TestLifecycleMachine.settings = settings(max_examples=60, stateful_step_count=40,
                                         deadline=None)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(["ack", "advance", "unack"]),
                                st.floats(0, 2000)), max_size=30))
def test_escalation_never_notifies_after_an_ack(steps: list[tuple[str, float]]) -> None:
    lc = Lifecycle(policies=[POLICY])
    state = lc.new_state()
    lc.observe(state, [fired(alert("a"))])
    now = T0
    acked = False
    for kind, dt in steps:
        now += dt
        if kind == "ack" and not acked:
            lc.apply(state, Acknowledge("ann", "a"), now)
            acked = True
        elif kind == "unack" and acked:
            lc.apply(state, Unacknowledge("ann", "a"), now)
            acked = False
        notes = lc.advance(state, now).notifications
        if acked:
            assert notes == ()
            assert lc.next_wakeup(state) is None
