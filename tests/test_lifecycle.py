"""The pure lifecycle: every command, every refusal, audit, queries, statistics, state."""

from __future__ import annotations

import io
import json

import pytest

from alertkit._core.model import Severity
from alertkit._errors import (
    AlertNotFoundError,
    ConfigError,
    InvalidTransitionError,
    LifecycleError,
    PermissionDenied,
    SnapshotError,
)
from alertkit._lifecycle.audit import SYSTEM, AuditRecord, export_jsonl
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
from alertkit._lifecycle.lifecycle import Lifecycle
from alertkit._lifecycle.model import (
    TRANSITIONS,
    AlertRecord,
    LifecycleState,
    LifecycleStatus,
    check_transition,
)
from alertkit._lifecycle.queries import find, stats
from lifecycle_helpers import T0, alert, fired, resolved


def started(lc: Lifecycle | None = None, *alerts_: object) -> tuple[Lifecycle, LifecycleState]:
    lc = lc or Lifecycle()
    state = lc.new_state()
    lc.observe(state, [fired(a) for a in (alerts_ or (alert(),))])  # type: ignore[arg-type]
    return lc, state


# -- the status machine ---------------------------------------------------------------------

def test_firing_opens_a_record_with_a_fire_audit_record() -> None:
    _, state = started()
    rec = state.records["fp1"]
    assert (rec.status, rec.fired_at, rec.occurrence, rec.rule) == (LifecycleStatus.OPEN, T0, 1,
                                                                     "DiskFull")
    [a] = state.audit
    assert (a.seq, a.actor, a.action, a.before, a.after["status"]) == (1, SYSTEM, "fire",
                                                                       None, "open")


def test_acknowledge_records_who_when_and_note() -> None:
    lc, state = started()
    out = lc.apply(state, Acknowledge("alice", "fp1", note="on it"), T0 + 60)
    rec = out.records[0]
    assert rec.status is LifecycleStatus.ACKNOWLEDGED
    assert (rec.acknowledged_by, rec.acknowledged_at, rec.ack_note) == ("alice", T0 + 60,
                                                                       "on it")
    [a] = out.audit
    assert (a.actor, a.action, a.before["status"], a.after["status"], a.detail["note"]) == (
        "alice", "acknowledge", "open", "acknowledged", "on it")


def test_acknowledge_twice_is_refused_precisely() -> None:
    lc, state = started()
    lc.apply(state, Acknowledge("alice", "fp1"), T0 + 1)
    with pytest.raises(InvalidTransitionError, match="already acknowledged") as info:
        lc.apply(state, Acknowledge("bob", "fp1"), T0 + 2)
    assert (info.value.action, info.value.status) == ("acknowledge", "acknowledged")
    assert state.records["fp1"].acknowledged_by == "alice"


def test_no_ack_of_a_resolved_alert() -> None:
    lc, state = started()
    lc.observe(state, [resolved(alert(), T0 + 5)])
    with pytest.raises(InvalidTransitionError, match="it is resolved"):
        lc.apply(state, Acknowledge("alice", "fp1"), T0 + 6)


def test_unacknowledge_reopens() -> None:
    lc, state = started()
    lc.apply(state, Acknowledge("alice", "fp1"), T0 + 1)
    rec = lc.apply(state, Unacknowledge("alice", "fp1", note="wrong one"), T0 + 2).records[0]
    assert (rec.status, rec.acknowledged_by) == (LifecycleStatus.OPEN, None)
    with pytest.raises(InvalidTransitionError, match="not acknowledged"):
        lc.apply(state, Unacknowledge("alice", "fp1"), T0 + 3)


def test_assign_keeps_the_status_and_is_audited() -> None:
    lc, state = started()
    out = lc.apply(state, Assign("lead", "fp1", "bob"), T0 + 1)
    assert out.records[0].assignee == "bob"
    assert out.records[0].status is LifecycleStatus.OPEN
    assert out.audit[0].before["assignee"] is None
    assert out.audit[0].after["assignee"] == "bob"


def test_comment_is_allowed_after_resolution() -> None:
    lc, state = started()
    lc.observe(state, [resolved(alert(), T0 + 5)])
    rec = lc.apply(state, Comment("alice", "fp1", "root cause: full /var"), T0 + 6).records[0]
    assert [(c.actor, c.at, c.text) for c in rec.comments] == [
        ("alice", T0 + 6, "root cause: full /var")]


def test_snooze_until_then_open_again() -> None:
    lc, state = started()
    lc.apply(state, Acknowledge("alice", "fp1"), T0 + 1)
    rec = lc.apply(state, Snooze("alice", "fp1", until=T0 + 600), T0 + 2).records[0]
    assert (rec.status, rec.snoozed_until, rec.acknowledged_by) == (LifecycleStatus.SNOOZED,
                                                                    T0 + 600, None)
    assert lc.next_wakeup(state) == T0 + 600
    assert not lc.advance(state, T0 + 599)
    out = lc.advance(state, T0 + 600)
    assert out.records[0].status is LifecycleStatus.OPEN
    assert (out.audit[0].actor, out.audit[0].action) == (SYSTEM, "wake")


def test_snooze_must_end_in_the_future() -> None:
    lc, state = started()
    with pytest.raises(LifecycleError, match="is not after now"):
        lc.apply(state, Snooze("alice", "fp1", until=T0), T0)


def test_manual_resolve_then_rule_resolution_is_silent() -> None:
    lc, state = started()
    out = lc.apply(state, Resolve("alice", "fp1", reason="fixed by hand"), T0 + 30)
    rec = out.records[0]
    assert (rec.status, rec.resolved_by, rec.resolve_reason, rec.resolved_at) == (
        LifecycleStatus.RESOLVED, "alice", "fixed by hand", T0 + 30)
    with pytest.raises(InvalidTransitionError, match="it is resolved"):
        lc.apply(state, Resolve("alice", "fp1"), T0 + 31)
    out = lc.observe(state, [resolved(alert(), T0 + 40)])
    assert out.audit == ()  # no transition: already resolved
    assert state.records["fp1"].resolved_by == "alice"


def test_refiring_after_resolution_is_a_new_occurrence_keeping_the_assignee() -> None:
    lc, state = started()
    lc.apply(state, Assign("lead", "fp1", "bob"), T0 + 1)
    lc.apply(state, Acknowledge("bob", "fp1"), T0 + 2)
    lc.observe(state, [resolved(alert(), T0 + 10)])
    lc.observe(state, [fired(alert(fired_at=T0 + 100))])
    rec = state.records["fp1"]
    assert (rec.status, rec.occurrence, rec.assignee, rec.acknowledged_by, rec.fired_at) == (
        LifecycleStatus.OPEN, 2, "bob", None, T0 + 100)


def test_expiry_after_ttl_without_update() -> None:
    lc, state = started(Lifecycle(ttl="1h"))
    assert lc.next_wakeup(state) == T0 + 3600
    assert lc.touch(state, "fp1", T0 + 1800)
    assert not lc.advance(state, T0 + 3600)
    out = lc.advance(state, T0 + 1800 + 3600)
    assert out.records[0].status is LifecycleStatus.EXPIRED
    assert out.audit[0].action == "expire"
    with pytest.raises(InvalidTransitionError, match="expired"):
        lc.apply(state, Acknowledge("alice", "fp1"), T0 + 9000)
    assert not lc.touch(state, "fp1", T0 + 9001)  # expired alerts are not refreshed
    lc.observe(state, [fired(alert(fired_at=T0 + 9002))])
    assert state.records["fp1"].status is LifecycleStatus.OPEN


def test_old_resolved_records_are_forgotten_after_retention() -> None:
    lc, state = started(Lifecycle(retention="1d"))
    lc.observe(state, [resolved(alert(), T0 + 10)])
    assert lc.next_wakeup(state) == T0 + 10 + 86400
    out = lc.advance(state, T0 + 10 + 86400)
    assert out.removed == ("fp1",)
    assert state.records == {}


def test_unknown_alert() -> None:
    lc, state = started()
    with pytest.raises(AlertNotFoundError, match="nope"):
        lc.apply(state, Acknowledge("alice", "nope"), T0)


def test_transition_table_is_the_only_source() -> None:
    for action, allowed in TRANSITIONS.items():
        for before in [None, *LifecycleStatus]:
            if before in allowed:
                assert check_transition(action, before, "x") is allowed[before]
            else:
                with pytest.raises(InvalidTransitionError):
                    check_transition(action, before, "x")


# -- bad command arguments ------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: Acknowledge("", "fp1"),
    lambda: Acknowledge(42, "fp1"),  # type: ignore[arg-type]
    lambda: Acknowledge("a" * 201, "fp1"),
    lambda: Acknowledge("alice", ""),
    lambda: Acknowledge("alice", "fp1", note=3),  # type: ignore[arg-type]
    lambda: Assign("alice", "fp1", ""),
    lambda: Assign("alice", "fp1"),
    lambda: Comment("alice", "fp1", "   "),
    lambda: Comment("alice", "fp1", "x" * 10_001),
    lambda: Snooze("alice", "fp1", until=float("nan")),
    lambda: Snooze("alice", "fp1", until="tomorrow"),  # type: ignore[arg-type]
    lambda: Resolve("alice", "fp1", reason=None),  # type: ignore[arg-type]
    lambda: SkipToLevel("alice", "fp1", 0),
    lambda: SkipToLevel("alice", "fp1", True),
    lambda: Actor("bob", tenant=""),
    lambda: Actor("bob", roles="admin"),  # a string is not a set of roles
    lambda: Actor("bob", roles=[""]),
])
def test_bad_command_arguments_raise_lifecycle_errors(make: object) -> None:
    with pytest.raises(LifecycleError):
        make()  # type: ignore[operator]


def test_apply_refuses_a_non_finite_now() -> None:
    lc, state = started()
    with pytest.raises(LifecycleError, match="now"):
        lc.apply(state, Acknowledge("alice", "fp1"), float("inf"))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"policies": [object()]}, "not an EscalationPolicy"),
    ({"ttl": "soon"}, "ttl"),
    ({"authorize": 3}, "not callable"),
    ({"tenant_label": ""}, "tenant_label"),
    ({"assignee_receivers": 5}, "assignee_receivers"),
    ({"audit_limit": 0}, "audit_limit"),
    ({"retention": "0s"}, "retention"),
])
def test_bad_lifecycle_configuration(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Lifecycle(**kwargs)  # type: ignore[arg-type]


def test_duplicate_policy_names_are_refused() -> None:
    p = EscalationPolicy(name="p", levels=[EscalationLevel("chat")])
    with pytest.raises(ConfigError, match="two escalation policies"):
        Lifecycle(policies=[p, p])


# -- authorization and tenants --------------------------------------------------------------

def test_authorization_policy_denies() -> None:
    calls: list[tuple[str, str, str | None]] = []

    def policy(actor: Actor, action: str, record: AlertRecord | None) -> bool:
        calls.append((actor.name, action, None if record is None else record.fingerprint))
        return action != "resolve" or "admin" in actor.roles

    lc, state = started(Lifecycle(authorize=policy))
    lc.apply(state, Acknowledge("alice", "fp1"), T0 + 1)
    with pytest.raises(PermissionDenied, match="alice may not resolve alert fp1"):
        lc.apply(state, Resolve("alice", "fp1"), T0 + 2)
    assert state.records["fp1"].status is LifecycleStatus.ACKNOWLEDGED
    lc.apply(state, Resolve(Actor("root", roles={"admin"}), "fp1"), T0 + 3)
    assert calls == [("alice", "acknowledge", "fp1"), ("alice", "resolve", "fp1"),
                     ("root", "resolve", "fp1")]


def test_tenants_do_not_see_each_other() -> None:
    lc = Lifecycle(tenant_label="tenant")
    lc, state = started(lc, alert("a", tenant="acme"), alert("b", tenant="globex"))
    assert state.records["a"].tenant == "acme"
    acme = Actor("ann", tenant="acme")
    lc.apply(state, Acknowledge(acme, "a"), T0 + 1)
    with pytest.raises(AlertNotFoundError):
        lc.apply(state, Acknowledge(acme, "b"), T0 + 1)
    assert state.records["b"].status is LifecycleStatus.OPEN
    lc.apply(state, Acknowledge(Actor("operator"), "b"), T0 + 2)  # no tenant: everything
    assert [r.fingerprint for r in state.records.values() if lc.visible(acme, r)] == ["a"]


# -- audit ------------------------------------------------------------------------------------

def test_audit_is_numbered_and_exports_as_json_lines() -> None:
    lc, state = started()
    lc.apply(state, Assign("lead", "fp1", "bob"), T0 + 1)
    lc.apply(state, Acknowledge("bob", "fp1"), T0 + 2)
    lc.apply(state, Comment("bob", "fp1", "disk cleaned"), T0 + 3)
    lc.observe(state, [resolved(alert(), T0 + 4)])
    assert [a.seq for a in state.audit] == [1, 2, 3, 4, 5]
    assert [a.action for a in state.audit] == ["fire", "assign", "acknowledge", "comment",
                                               "rule_resolved"]
    buf = io.StringIO()
    assert export_jsonl(state.audit, buf) == ""
    lines = buf.getvalue().splitlines()
    assert len(lines) == 5
    assert [AuditRecord.from_dict(json.loads(line)) for line in lines] == state.audit
    assert json.loads(lines[1])["detail"] == {"assignee": "bob"}


def test_audit_limit_keeps_the_most_recent() -> None:
    lc, state = started(Lifecycle(audit_limit=10))
    for i in range(40):
        lc.apply(state, Comment("a", "fp1", f"c{i}"), T0 + i)
    assert len(state.audit) <= 10 + 10 // 8 + 1
    assert state.audit[-1].detail["text"] == "c39"
    assert [a.seq for a in state.audit] == sorted(a.seq for a in state.audit)


@pytest.mark.parametrize("doc", [
    {"seq": "1", "at": 1.0, "actor": "a", "action": "x", "fingerprint": "f", "rule": "r"},
    {"seq": 1, "at": True, "actor": "a", "action": "x", "fingerprint": "f", "rule": "r"},
    {"seq": 1, "at": 1.0, "actor": 3, "action": "x", "fingerprint": "f", "rule": "r"},
    {"seq": 1, "at": 1.0, "actor": "a", "action": "x", "fingerprint": "f"},
    {"seq": 1, "at": 1.0, "actor": "a", "action": "x", "fingerprint": "f", "rule": "r",
     "before": []},
    {"seq": 1, "at": 1.0, "actor": "a", "action": "x", "fingerprint": "f", "rule": "r",
     "tenant": 5},
])
def test_bad_audit_documents(doc: dict[str, object]) -> None:
    with pytest.raises(SnapshotError, match="audit record"):
        AuditRecord.from_dict(doc)


# -- state round trip -------------------------------------------------------------------------

def test_state_round_trips_through_json() -> None:
    policy = EscalationPolicy(name="p", levels=[EscalationLevel("chat", delay="1m")])
    lc, state = started(Lifecycle(policies=[policy], tenant_label="t"),
                        alert("a", t="x"), alert("b"))
    lc.apply(state, Assign("lead", "a", "bob"), T0 + 1)
    lc.apply(state, Comment("lead", "a", "hm"), T0 + 2)
    lc.apply(state, Snooze("lead", "b", until=T0 + 99), T0 + 3)
    lc.advance(state, T0 + 60)
    doc = json.loads(json.dumps(state.to_dict(), allow_nan=False))
    assert doc["version"] == 1
    assert LifecycleState.from_dict(doc) == state


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda d: d.update(version=2), "version 2"),
    (lambda d: d.update(records={}), "lists"),
    (lambda d: d.update(next_seq=1), "next_seq"),
    (lambda d: d["records"][0].update(status="weird"), "alert record"),
    (lambda d: d["records"][0].update(severity="dire"), "severity"),
    (lambda d: d["records"][0].update(fired_at="x"), "fired_at"),
    (lambda d: d["records"][0].update(acks=-1), "acks"),
    (lambda d: d["records"][0]["alert"].update(labels={"1bad": "x"}), "alert record"),
    (lambda d: d["records"][0].update(comments=[[1, 2, 3]]), "comment"),
    (lambda d: d["records"][0].update(time_in=[]), "time_in"),
])
def test_corrupt_state_is_reported(mutate: object, match: str) -> None:
    lc, state = started()
    lc.apply(state, Comment("a", "fp1", "x"), T0 + 1)
    doc = json.loads(json.dumps(state.to_dict()))
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(SnapshotError, match=match):
        LifecycleState.from_dict(doc)


def test_state_that_is_not_an_object() -> None:
    with pytest.raises(SnapshotError):
        LifecycleState.from_dict([])  # type: ignore[arg-type]


# -- queries and statistics ---------------------------------------------------------------------

def test_find_filters_every_way() -> None:
    lc, state = started(
        Lifecycle(), alert("a", rule="Disk", severity=Severity.HIGH, host="db1"),
        alert("b", rule="Disk", severity=Severity.LOW, host="web1", fired_at=T0 + 10),
        alert("c", rule="Cpu", severity=Severity.CRITICAL, host="db2", fired_at=T0 + 20))
    lc.apply(state, Assign("x", "b", "bob"), T0 + 30)
    lc.apply(state, Acknowledge("x", "c"), T0 + 30)
    recs = list(state.records.values())

    def fps(**kw: object) -> list[str]:
        return [r.fingerprint for r in find(recs, **kw)]  # type: ignore[arg-type]

    assert fps() == ["a", "b", "c"]
    assert fps(status="open") == ["a", "b"]
    assert fps(status=[LifecycleStatus.ACKNOWLEDGED]) == ["c"]
    assert fps(severity="critical") == ["c"]
    assert fps(severity=[Severity.HIGH, "low"]) == ["a", "b"]
    assert fps(labels={"host": "db1"}) == ["a"]
    assert fps(labels=['host=~"db.*"']) == ["a", "c"]
    assert fps(assignee="bob") == ["b"]
    assert fps(rule="Disk") == ["a", "b"]
    assert fps(since=T0 + 10, until=T0 + 20) == ["b"]
    with pytest.raises(LifecycleError, match="status"):
        fps(status="burning")
    with pytest.raises(LifecycleError, match="severity"):
        fps(severity="dire")
    with pytest.raises(LifecycleError, match="labels"):
        fps(labels=[3])


def test_mtta_mttr_and_time_in_state() -> None:
    lc, state = started(Lifecycle(), alert("a"), alert("b"))
    lc.apply(state, Acknowledge("x", "a"), T0 + 60)
    lc.apply(state, Unacknowledge("x", "a"), T0 + 70)
    lc.apply(state, Acknowledge("x", "a"), T0 + 80)   # MTTA counts the first ack only
    lc.apply(state, Acknowledge("x", "b"), T0 + 180)
    lc.observe(state, [resolved(alert("a"), T0 + 600)])
    lc.apply(state, Resolve("x", "b"), T0 + 1200)
    [s] = stats(state.records.values(), T0 + 2000)
    assert (s.rule, s.severity, s.alerts, s.occurrences, s.acknowledged, s.resolved) == (
        "DiskFull", Severity.HIGH, 2, 2, 2, 2)
    assert s.mtta == pytest.approx((60 + 180) / 2)
    assert s.mttr == pytest.approx((600 + 1200) / 2)
    assert s.time_in == pytest.approx({
        "open": 60 + 10 + 180, "acknowledged": 10 + 520 + 1020,
        "resolved": 1400 + 800})


def test_stats_with_nothing_acknowledged() -> None:
    _, state = started()
    [s] = stats(state.records.values(), T0 + 5)
    assert (s.mtta, s.mttr, s.time_in) == (None, None, {"open": 5.0})


# -- escalation commands (timing is in test_escalation.py) -----------------------------------

def test_escalate_without_a_policy_is_refused() -> None:
    lc, state = started()
    with pytest.raises(LifecycleError, match="no escalation policy"):
        lc.apply(state, EscalateNow("alice", "fp1"), T0 + 1)


# -- what the dispatcher's notifications become -----------------------------------------------

def _notification(*alerts_: object, resolved_: tuple[object, ...] = ()) -> object:
    from alertkit._core.labels import Labels
    from alertkit._dispatch.notification import Notification
    return Notification(receiver="ops", group_key="g", group_labels=Labels(),
                        firing=alerts_, resolved=resolved_,  # type: ignore[arg-type]
                        created_at=T0, idempotency_key="k")


def test_annotate_drops_reminders_of_handled_alerts_only() -> None:
    lc, state = started(Lifecycle(), alert("a"), alert("b"), alert("c"))
    lc.apply(state, Acknowledge("ann", "a", note="disk"), T0 + 1)
    lc.apply(state, Snooze("ann", "b", until=T0 + 100), T0 + 1)
    a, b, c = (state.records[x].alert for x in "abc")
    assert lc.annotate(state, _notification(a, b)) is None  # type: ignore[arg-type]
    n = lc.annotate(state, _notification(a, c))  # type: ignore[arg-type]
    assert n is not None
    assert n.firing[0].annotations["acknowledged_by"] == "ann"
    assert n.firing[0].annotations["acknowledged_note"] == "disk"
    assert n.firing[0].annotations["summary"] == "DiskFull on a"
    assert n.firing[1] is c  # open: untouched
    unchanged = _notification(c)
    assert lc.annotate(state, unchanged) is unchanged  # type: ignore[arg-type]
    # a resolved alert in it: sent, so the resolution is heard
    assert lc.annotate(state, _notification(a, resolved_=(c,))) is not None  # type: ignore[arg-type]
    assert Lifecycle(ack_stops_repeats=False).annotate(
        state, _notification(a, b)) is not None  # type: ignore[arg-type]


def test_annotate_knows_nothing_of_unknown_alerts() -> None:
    lc = Lifecycle()
    state = lc.new_state()
    n = _notification(alert("zz"))
    assert lc.annotate(state, n) is n  # type: ignore[arg-type]


def test_a_record_keeps_the_latest_comments_and_the_audit_all() -> None:
    from alertkit._lifecycle.lifecycle import MAX_COMMENTS

    lc, state = started()
    for i in range(MAX_COMMENTS + 7):
        lc.apply(state, Comment("a", "fp1", f"c{i}"), T0 + i)
    texts = [c.text for c in state.records["fp1"].comments]
    assert len(texts) == MAX_COMMENTS and texts[-1] == f"c{MAX_COMMENTS + 6}"
    assert texts[0] == "c7"
    assert sum(a.action == "comment" for a in state.audit) == MAX_COMMENTS + 7
