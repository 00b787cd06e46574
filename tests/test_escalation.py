"""Escalation policies: configuration, selection, timing (pure), overrides, stopping."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertkit._core.model import Severity
from alertkit._errors import ConfigError, InvalidTransitionError, LifecycleError
from alertkit._lifecycle.commands import (
    Acknowledge,
    EscalateNow,
    Resolve,
    SkipToLevel,
    Snooze,
    Unacknowledge,
)
from alertkit._lifecycle.escalation import EscalationLevel, EscalationPolicy, select_policy
from alertkit._lifecycle.lifecycle import Lifecycle
from alertkit._lifecycle.model import LifecycleState, LifecycleStatus
from lifecycle_helpers import T0, alert, fired, resolved

CHAT_PAGER_PHONE = EscalationPolicy(name="oncall", levels=[
    EscalationLevel("chat"),
    EscalationLevel("pager", delay="5m"),
    EscalationLevel(["phone", "manager"], delay="10m", after="previous"),
])


def run(lc: Lifecycle, state: LifecycleState, until: float, step: float = 1.0
        ) -> list[tuple[float, str, int | None, int | None]]:
    """Advance second by second, as a clock would; what was notified, when."""
    out = []
    t = T0
    while t <= until:
        for n in lc.advance(state, t).notifications:
            out.append((t - T0, n.receiver, n.level, n.cycle))
        t += step
    return out


def start(policy: EscalationPolicy, **kw: object) -> tuple[Lifecycle, LifecycleState]:
    lc = Lifecycle(policies=[policy], **kw)  # type: ignore[arg-type]
    state = lc.new_state()
    lc.observe(state, [fired(alert())])
    return lc, state


def test_levels_go_out_at_their_delays() -> None:
    lc, state = start(CHAT_PAGER_PHONE)
    assert run(lc, state, T0 + 3600) == [
        (0, "chat", 1, 1), (300, "pager", 2, 1), (900, "phone", 3, 1),
        (900, "manager", 3, 1)]
    assert lc.next_wakeup(state) is None  # exhausted, no repeat


def test_next_wakeup_is_exact() -> None:
    lc, state = start(CHAT_PAGER_PHONE)
    lc.advance(state, T0)
    assert lc.next_wakeup(state) == T0 + 300
    lc.advance(state, T0 + 300)
    assert lc.next_wakeup(state) == T0 + 900


def test_repeat_runs_the_whole_policy_again_after_repeat_after() -> None:
    policy = EscalationPolicy(name="p", levels=[EscalationLevel("chat"),
                                                EscalationLevel("pager", delay="1m")],
                              repeat=2, repeat_after="10m")
    lc, state = start(policy)
    assert run(lc, state, T0 + 7200) == [
        (0, "chat", 1, 1), (60, "pager", 2, 1),
        (660, "chat", 1, 2), (720, "pager", 2, 2),
        (1320, "chat", 1, 3), (1380, "pager", 2, 3)]


def test_overdue_levels_all_go_out_in_order_when_time_jumps() -> None:
    lc, state = start(CHAT_PAGER_PHONE)
    notes = lc.advance(state, T0 + 3600).notifications
    assert [(n.receiver, n.level) for n in notes] == [("chat", 1), ("pager", 2)]
    # "previous"-relative: the phone level counts from when the pager really went out
    assert lc.next_wakeup(state) == T0 + 3600 + 600


def test_ack_stops_escalation_and_unack_restarts_it() -> None:
    lc, state = start(CHAT_PAGER_PHONE)
    lc.advance(state, T0)
    lc.apply(state, Acknowledge("alice", "fp1"), T0 + 100)
    assert lc.next_wakeup(state) is None
    assert run(lc, state, T0 + 3600) == []
    lc.apply(state, Unacknowledge("alice", "fp1"), T0 + 4000)
    notes = lc.advance(state, T0 + 4000).notifications
    assert [(n.receiver, n.level) for n in notes] == [("chat", 1)]
    assert lc.next_wakeup(state) == T0 + 4300


def test_snooze_pauses_escalation_until_it_ends() -> None:
    lc, state = start(CHAT_PAGER_PHONE)
    lc.advance(state, T0)
    lc.apply(state, Snooze("alice", "fp1", until=T0 + 1000), T0 + 10)
    assert lc.next_wakeup(state) == T0 + 1000
    out = lc.advance(state, T0 + 1000)
    assert [(n.receiver, n.level) for n in out.notifications] == [("chat", 1)]
    assert [a.action for a in out.audit] == ["wake", "escalate"]


def test_resolution_stops_escalation() -> None:
    lc, state = start(CHAT_PAGER_PHONE)
    lc.advance(state, T0)
    lc.observe(state, [resolved(alert(), T0 + 30)])
    assert lc.next_wakeup(state) == T0 + 30 + lc.retention  # only the clean-up is left
    assert all(n.reason != "escalation" for n in lc.advance(state, T0 + 400).notifications)


def test_escalate_now_sends_the_next_level_immediately() -> None:
    lc, state = start(CHAT_PAGER_PHONE)
    lc.advance(state, T0)
    out = lc.apply(state, EscalateNow("alice", "fp1"), T0 + 20)
    assert [(n.receiver, n.level) for n in out.notifications] == [("pager", 2)]
    assert out.audit[0].action == "escalate_now"
    assert out.audit[0].detail == {"policy": "oncall", "level": 2, "cycle": 1,
                                   "receivers": "pager"}
    assert lc.next_wakeup(state) == T0 + 20 + 600  # phone: 10 min after the previous


def test_skip_to_level() -> None:
    lc, state = start(CHAT_PAGER_PHONE)
    out = lc.apply(state, SkipToLevel("alice", "fp1", 3), T0 + 5)
    assert [(n.receiver, n.level) for n in out.notifications] == [("phone", 3),
                                                                   ("manager", 3)]
    assert lc.next_wakeup(state) is None
    with pytest.raises(LifecycleError, match="exhausted"):
        lc.apply(state, EscalateNow("alice", "fp1"), T0 + 6)
    with pytest.raises(LifecycleError, match="levels 1 to 3, not 4"):
        lc.apply(state, SkipToLevel("alice", "fp1", 4), T0 + 7)
    out = lc.apply(state, SkipToLevel("alice", "fp1", 1), T0 + 8)  # start over by hand
    assert [(n.receiver, n.level) for n in out.notifications] == [("chat", 1)]


def test_overrides_are_refused_once_acknowledged() -> None:
    lc, state = start(CHAT_PAGER_PHONE)
    lc.apply(state, Acknowledge("alice", "fp1"), T0 + 1)
    with pytest.raises(InvalidTransitionError, match="acknowledged"):
        lc.apply(state, EscalateNow("bob", "fp1"), T0 + 2)
    with pytest.raises(InvalidTransitionError):
        lc.apply(state, SkipToLevel("bob", "fp1", 2), T0 + 2)


def test_idempotency_keys_are_stable_per_step_and_occurrence() -> None:
    lc1, s1 = start(CHAT_PAGER_PHONE)
    lc2, s2 = start(CHAT_PAGER_PHONE)
    k1 = [n.key for n in lc1.advance(s1, T0 + 400).notifications]
    k2 = [n.key for n in lc2.advance(s2, T0 + 400).notifications]
    assert k1 == k2 and len(set(k1)) == 2
    lc1.apply(s1, Resolve("a", "fp1"), T0 + 500)
    lc1.observe(s1, [fired(alert(fired_at=T0 + 600))])
    k3 = [n.key for n in lc1.advance(s1, T0 + 600).notifications]
    assert set(k3).isdisjoint(k1)  # a new occurrence is a new notification


def test_escalation_notifications_carry_the_level() -> None:
    lc, state = start(CHAT_PAGER_PHONE)
    [n] = lc.advance(state, T0).notifications
    pipeline = n.to_notification()
    assert pipeline.receiver == "chat"
    assert pipeline.group_key == "lifecycle:escalation:fp1"
    assert pipeline.status == "firing"
    assert pipeline.firing[0].annotations["escalation_level"] == "1"
    assert pipeline.firing[0].annotations["escalation_policy"] == "oncall"
    assert pipeline.idempotency_key == n.key


# -- selection ------------------------------------------------------------------------------

def test_selection_by_severity_matchers_and_tenant() -> None:
    crit = EscalationPolicy(name="crit", levels=[EscalationLevel("phone")],
                            severities=["critical"])
    db = EscalationPolicy(name="db", levels=[EscalationLevel("dba")],
                          matchers={"team": "db"})
    acme = EscalationPolicy(name="acme", levels=[EscalationLevel("acme-chat")],
                            tenant="acme")
    rest = EscalationPolicy(name="rest", levels=[EscalationLevel("chat")])
    pols = [crit, db, acme, rest]

    def pick(sev: Severity, tenant: str | None = None, **labels: str) -> str | None:
        p = select_policy(pols, labels, sev, tenant)
        return None if p is None else p.name

    assert pick(Severity.CRITICAL, team="db") == "crit"
    assert pick(Severity.HIGH, team="db") == "db"
    assert pick(Severity.HIGH, "acme", team="web") == "acme"
    assert pick(Severity.HIGH, "globex", team="web") == "rest"
    assert select_policy([crit], {}, Severity.LOW) is None


def test_an_alert_no_policy_applies_to_has_no_escalation() -> None:
    crit = EscalationPolicy(name="crit", levels=[EscalationLevel("phone")],
                            severities=[Severity.CRITICAL])
    lc = Lifecycle(policies=[crit])
    state = lc.new_state()
    lc.observe(state, [fired(alert(severity=Severity.LOW))])
    assert state.records["fp1"].escalation is None
    assert lc.next_wakeup(state) is None


# -- configuration errors --------------------------------------------------------------------

@pytest.mark.parametrize(("make", "match"), [
    (lambda: EscalationLevel([]), "at least one receiver"),
    (lambda: EscalationLevel([""]), "not a receiver name"),
    (lambda: EscalationLevel("chat", delay="-5m"), "delay"),
    (lambda: EscalationLevel("chat", delay="soon"), "delay"),
    (lambda: EscalationLevel("chat", after="later"), "'fired' or 'previous'"),
    (lambda: EscalationPolicy(name="p", levels=[]), "at least one level"),
    (lambda: EscalationPolicy(name="p", levels="chat"), "not a list of levels"),
    (lambda: EscalationPolicy(name="p", levels=["chat"]), "not an EscalationLevel"),
    (lambda: EscalationPolicy(name="", levels=[EscalationLevel("c")]), "name"),
    (lambda: EscalationPolicy(name="p", levels=[EscalationLevel("c")], repeat=-1), "repeat"),
    (lambda: EscalationPolicy(name="p", levels=[EscalationLevel("c")], repeat=1),
     "no delays"),
    (lambda: EscalationPolicy(name="p", levels=[EscalationLevel("c")],
                              severities=["dire"]), "not a severity"),
    (lambda: EscalationPolicy(name="p", levels=[EscalationLevel("c")],
                              matchers=["team=~("]), "matchers"),
    (lambda: EscalationPolicy(name="p", levels=[EscalationLevel("c")], tenant=""), "tenant"),
])
def test_bad_policies(make: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()  # type: ignore[operator]


def test_a_removed_policy_stops_quietly_after_a_restore() -> None:
    lc, state = start(CHAT_PAGER_PHONE)
    lc.advance(state, T0)
    restored = LifecycleState.from_dict(state.to_dict())
    other = Lifecycle()  # the policy is gone from the configuration
    assert not other.advance(restored, T0 + 3600).notifications
    assert restored.records["fp1"].status is LifecycleStatus.OPEN


def test_adopted_records_bring_their_timers() -> None:
    lc, state = start(CHAT_PAGER_PHONE)
    lc.advance(state, T0)
    other = Lifecycle(policies=[CHAT_PAGER_PHONE])
    theirs = other.new_state()
    assert other.next_wakeup(theirs) is None
    other.adopt(theirs, state.records["fp1"])  # e.g. read from a shared store
    assert other.next_wakeup(theirs) == T0 + 300
    notes = other.advance(theirs, T0 + 300).notifications
    assert [n.receiver for n in notes] == ["pager"]


def test_records_changed_directly_are_reindexed_on_request() -> None:
    lc, state = start(CHAT_PAGER_PHONE)
    lc.advance(state, T0)
    rec = state.records.pop("fp1")
    assert lc.next_wakeup(state) is None
    state.records["fp1"] = rec
    state.indexed = False
    assert lc.next_wakeup(state) == T0 + 300


# -- properties --------------------------------------------------------------------------------

levels_st = st.lists(st.builds(
    EscalationLevel, st.sampled_from(["chat", "pager", "phone"]),
    delay=st.integers(0, 600), after=st.sampled_from(["fired", "previous"])),
    min_size=1, max_size=4)


@settings(max_examples=80, deadline=None)
@given(levels=levels_st, repeat=st.integers(0, 2), repeat_after=st.integers(1, 900),
       steps=st.lists(st.integers(0, 700), min_size=1, max_size=40))
def test_levels_go_out_in_order_once_each_never_early(
        levels: list[EscalationLevel], repeat: int, repeat_after: int,
        steps: list[int]) -> None:
    policy = EscalationPolicy(name="p", levels=levels, repeat=repeat,
                              repeat_after=repeat_after)
    lc = Lifecycle(policies=[policy])
    state = lc.new_state()
    lc.observe(state, [fired(alert())])
    now, last_due = T0, T0
    seen: list[tuple[int | None, int | None]] = []
    sent: list[tuple[int | None, int | None, str]] = []
    for dt in steps:
        now += dt
        due = lc.next_wakeup(state)
        out = lc.advance(state, now)
        if out.notifications:
            assert due is not None and due <= now  # nothing goes out before it is due
            assert due >= last_due
            last_due = due
        else:
            assert due is None or due > now
        for n in out.notifications:
            sent.append((n.cycle, n.level, n.receiver))
            if (n.cycle, n.level) not in seen:
                seen.append((n.cycle, n.level))
    assert len(set(sent)) == len(sent)  # no receiver notified twice for one step
    expected = [(c + 1, lv + 1) for c in range(repeat + 1) for lv in range(len(levels))]
    assert seen == expected[:len(seen)]  # in order, none skipped, none twice
    if lc.next_wakeup(state) is None:
        assert seen == expected  # exhausted only once every level of every pass went out


def test_selection_by_route_receivers_uses_the_router() -> None:
    db = EscalationPolicy(name="db", levels=[EscalationLevel("dba")],
                          route_receivers=["db-team"])
    rest = EscalationPolicy(name="rest", levels=[EscalationLevel("chat")])

    def router(labels: object) -> list[str]:
        return ["db-team"] if dict(labels).get("team") == "db" else ["ops"]  # type: ignore[call-overload]

    lc = Lifecycle(policies=[db, rest], router=router)
    state = lc.new_state()
    lc.observe(state, [fired(alert("x", team="db")), fired(alert("y", team="web"))])
    assert state.records["x"].escalation is not None
    assert state.records["x"].escalation.policy == "db"
    assert state.records["y"].escalation is not None
    assert state.records["y"].escalation.policy == "rest"
    no_router = Lifecycle(policies=[db])  # route_receivers without a router: never applies
    s2 = no_router.new_state()
    no_router.observe(s2, [fired(alert("x", team="db"))])
    assert s2.records["x"].escalation is None


def test_bad_route_receivers() -> None:
    with pytest.raises(ConfigError, match="route_receivers"):
        EscalationPolicy(name="p", levels=[EscalationLevel("c")], route_receivers=[""])
