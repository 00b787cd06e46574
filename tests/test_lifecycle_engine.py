"""The Engine's lifecycle methods end to end: rules -> dispatcher -> lifecycle -> delivery."""

from __future__ import annotations

import io
import json
from pathlib import Path

import anyio
import pytest

import alertkit as ak
from alertkit._dispatch.notification import Delivered, Notification, Retry
from alertkit._errors import (
    AlertNotFoundError,
    ConfigError,
    InvalidTransitionError,
    LifecycleError,
    PermissionDenied,
    SilenceError,
)
from alertkit._lifecycle.commands import Actor
from alertkit._lifecycle.escalation import EscalationLevel, EscalationPolicy
from alertkit._lifecycle.lifecycle import Lifecycle
from alertkit._lifecycle.model import AlertRecord, LifecycleStatus
from alertkit.notify.sender import DeliveryContext
from alertkit.runtime.delivery import Receiver
from alertkit.runtime.engine import Engine

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
RULE = ak.Rule(name="High", condition="cpu > 90", severity="high",
               annotations={"summary": "cpu {{ value }} on {{ labels.host }}"})


class Recorder:
    """A NotificationSender that records what it is sent (and can fail first)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.sent: list[Notification] = []
        self.attempts = 0
        self.fail_first = fail_first

    async def send(self, n: Notification, context: DeliveryContext
                   ) -> Delivered | Retry:
        self.attempts += 1
        if self.attempts <= self.fail_first:
            return Retry("busy", 503)
        self.sent.append(n)
        return Delivered(200)


def pipeline(*receivers: str, repeat: str = "5m") -> ak.Dispatcher:
    return ak.Dispatcher(
        ak.Route(receiver="ops", group_by=("alertname",), group_wait="10s",
                 group_interval="1m", repeat_interval=repeat),
        [ak.ReceiverConfig(name="ops"), *(ak.ReceiverConfig(name=r) for r in receivers)])


async def settle(clock: ak.FakeClock, seconds: float, step: float = 1.0) -> None:
    for _ in range(int(seconds / step)):
        clock.advance(step)
        await anyio.wait_all_tasks_blocked()


def make(clock: ak.FakeClock, recs: dict[str, Recorder], lifecycle: Lifecycle | None = None,
         **kw: object) -> Engine:
    extra = [r for r in recs if r != "ops"]
    kw.setdefault("stale_after", "1d")  # alerts keep firing with no new samples
    return Engine([RULE], clock=clock, dispatcher=pipeline(*extra),
                  receivers=[Receiver(name, {"rec": rec}) for name, rec in recs.items()],
                  lifecycle=lifecycle, **kw)  # type: ignore[arg-type]


def fp_of(engine: Engine, host: str) -> str:
    [a] = [a for a in engine.alerts() if a.labels["host"] == host]
    return a.fingerprint


async def test_ack_stops_repeats_and_notifications_say_who_acknowledged() -> None:
    clock = ak.FakeClock(T0)
    ops = Recorder()
    async with make(clock, {"ops": ops}) as engine:
        engine.observe("cpu", 95, host="a")
        await settle(clock, 11)
        assert len(ops.sent) == 1
        rec = await engine.acknowledge(fp_of(engine, "a"), actor="alice", note="on it")
        assert rec.status is LifecycleStatus.ACKNOWLEDGED
        await settle(clock, 600, step=5)  # two repeat intervals: nothing, it is acked
        assert len(ops.sent) == 1
        engine.observe("cpu", 97, host="b")  # a new alert in the group: sent, a annotated
        await settle(clock, 61)
        assert len(ops.sent) == 2
        shown = {a.labels["host"]: a.annotations for a in ops.sent[1].firing}
        assert shown["a"]["acknowledged_by"] == "alice"
        assert shown["a"]["acknowledged_note"] == "on it"
        assert "acknowledged_by" not in shown["b"]


async def test_repeats_continue_when_configured_so() -> None:
    clock = ak.FakeClock(T0)
    ops = Recorder()
    async with make(clock, {"ops": ops}, Lifecycle(ack_stops_repeats=False)) as engine:
        engine.observe("cpu", 95, host="a")
        await settle(clock, 11)
        await engine.acknowledge(fp_of(engine, "a"), actor="alice")
        await settle(clock, 360, step=5)
        assert len(ops.sent) == 2
        assert ops.sent[1].firing[0].annotations["acknowledged_by"] == "alice"


async def test_escalation_through_the_pipeline_stops_on_ack() -> None:
    clock = ak.FakeClock(T0)
    recs = {"ops": Recorder(), "chat": Recorder(), "pager": Recorder()}
    policy = EscalationPolicy(name="oncall", levels=[
        EscalationLevel("chat"), EscalationLevel("pager", delay="5m")])
    async with make(clock, recs, Lifecycle(policies=[policy])) as engine:
        engine.observe("cpu", 95, host="a")
        await settle(clock, 2)
        assert [n.firing[0].annotations["escalation_level"] for n in recs["chat"].sent] == ["1"]
        assert recs["chat"].sent[0].group_key.startswith("lifecycle:escalation:")
        await settle(clock, 120)
        await engine.acknowledge(fp_of(engine, "a"), actor="alice")
        await settle(clock, 900, step=10)
        assert recs["pager"].sent == []
        history = [a.action for a in engine.alert_history(fp_of(engine, "a"))]
        assert history == ["fire", "escalate", "acknowledge"]


async def test_escalation_is_retried_by_the_delivery_worker() -> None:
    clock = ak.FakeClock(T0)
    recs = {"ops": Recorder(), "pager": Recorder(fail_first=2)}
    policy = EscalationPolicy(name="p", levels=[EscalationLevel("pager", delay="1m")])
    async with make(clock, recs, Lifecycle(policies=[policy]),
                    retry_policy=ak.RetryPolicy(base=1, cap=2)) as engine:
        engine.observe("cpu", 95, host="a")
        await settle(clock, 90)
        assert recs["pager"].attempts == 3
        [n] = recs["pager"].sent
        assert n.firing[0].labels["host"] == "a"
        assert engine.delivery is not None
        assert engine.delivery.pending == 0


async def test_escalate_now_and_skip_to_level_by_an_actor() -> None:
    clock = ak.FakeClock(T0)
    recs = {"ops": Recorder(), "chat": Recorder(), "pager": Recorder(), "phone": Recorder()}
    policy = EscalationPolicy(name="p", levels=[
        EscalationLevel("chat"), EscalationLevel("pager", delay="1h"),
        EscalationLevel("phone", delay="2h")])
    async with make(clock, recs, Lifecycle(policies=[policy])) as engine:
        engine.observe("cpu", 95, host="a")
        await settle(clock, 2)
        fp = fp_of(engine, "a")
        rec = await engine.escalate_now(fp, actor="lead")
        assert rec.escalation is not None and rec.escalation.level == 2
        await settle(clock, 2)
        assert len(recs["pager"].sent) == 1
        await engine.skip_to_level(fp, 3, actor="lead")
        await settle(clock, 2)
        assert len(recs["phone"].sent) == 1
        assert [a.actor for a in engine.audit(action="skip_to_level")] == ["lead"]


async def test_resolution_notifies_the_assignee() -> None:
    clock = ak.FakeClock(T0)
    recs = {"ops": Recorder(), "bob-mail": Recorder()}
    async with make(clock, recs, Lifecycle(assignee_receivers={"bob": "bob-mail"})) as engine:
        engine.observe("cpu", 95, host="a")
        await settle(clock, 11)
        fp = fp_of(engine, "a")
        await engine.assign(fp, "bob", actor="lead")
        engine.observe("cpu", 10, host="a")
        await settle(clock, 2)
        [n] = recs["bob-mail"].sent
        assert n.status == "resolved"
        assert n.resolved[0].annotations["assignee"] == "bob"
        assert engine.alert_record(fp).status is LifecycleStatus.RESOLVED


async def test_manual_resolve_comment_snooze_and_queries() -> None:
    clock = ak.FakeClock(T0)
    async with make(clock, {"ops": Recorder()}) as engine:
        engine.observe("cpu", 95, host="a")
        engine.observe("cpu", 96, host="b")
        await settle(clock, 1)
        a, b = fp_of(engine, "a"), fp_of(engine, "b")
        await engine.comment(a, "looking at the logs", actor="alice")
        rec = await engine.snooze(b, actor="alice", duration="10m")
        assert rec.snoozed_until == clock.now() + 600
        assert [r.fingerprint for r in engine.alert_records(status="snoozed")] == [b]
        await settle(clock, 602, step=7)
        assert engine.alert_record(b).status is LifecycleStatus.OPEN
        await engine.resolve(a, actor="alice", reason="restarted")
        assert [r.fingerprint for r in engine.alert_records(status="resolved")] == [a]
        assert [r.fingerprint for r in engine.alert_records(labels={"host": "b"})] == [b]
        assert engine.alert_records(rule="Nope") == []
        with pytest.raises(InvalidTransitionError):
            await engine.acknowledge(a, actor="alice")
        with pytest.raises(AlertNotFoundError):
            await engine.acknowledge("0" * 16, actor="alice")
        with pytest.raises(LifecycleError, match="either until or duration"):
            await engine.snooze(a, actor="alice")
        with pytest.raises(LifecycleError, match="duration"):
            await engine.snooze(b, actor="alice", duration="soon")
        with pytest.raises(LifecycleError, match="since"):
            engine.alert_records(since="yesterday")  # type: ignore[arg-type]
        [s] = engine.lifecycle_stats()
        assert (s.rule, s.alerts, s.resolved) == ("High", 2, 1)
        buf = io.StringIO()
        engine.export_audit(buf, alert=a)
        actions = [json.loads(line)["action"] for line in buf.getvalue().splitlines()]
        assert actions == ["fire", "comment", "resolve"]
        assert engine.export_audit(rule="High").count("\n") == len(engine.audit())


async def test_lifecycle_state_survives_a_snapshot() -> None:
    clock = ak.FakeClock(T0)
    async with make(clock, {"ops": Recorder()}) as engine:
        engine.observe("cpu", 95, host="a")
        await settle(clock, 1)
        fp = fp_of(engine, "a")
        await engine.acknowledge(fp, actor="alice")
        snap = engine.snapshot()
    async with make(clock, {"ops": Recorder()}, state=snap) as again:
        rec = again.alert_record(fp)
        assert (rec.status, rec.acknowledged_by) == (LifecycleStatus.ACKNOWLEDGED, "alice")
        assert [a.action for a in again.alert_history(fp)] == ["fire", "acknowledge"]


async def test_tenants_are_scoped_for_alerts_and_silences() -> None:
    clock = ak.FakeClock(T0)
    acme, globex = Actor("ann", tenant="acme"), Actor("gus", tenant="globex")
    async with make(clock, {"ops": Recorder()}, Lifecycle(tenant_label="host")) as engine:
        engine.observe("cpu", 95, host="acme")
        engine.observe("cpu", 95, host="globex")
        await settle(clock, 1)
        a, g = fp_of(engine, "acme"), fp_of(engine, "globex")
        assert [r.fingerprint for r in engine.alert_records(actor=acme)] == [a]
        with pytest.raises(AlertNotFoundError):
            await engine.acknowledge(g, actor=acme)
        with pytest.raises(AlertNotFoundError):
            engine.alert_history(g, actor=acme)
        s = engine.silence({"alertname": "High"}, duration="1h", actor=acme)
        assert any(m.name == "host" and m.value == "acme" for m in s.matchers)
        assert s.created_by == "ann"
        assert [x.id for x in engine.silences(actor=acme)] == [s.id]
        assert engine.silences(actor=globex) == []
        with pytest.raises(SilenceError):
            engine.expire_silence(s.id, actor=globex)
        engine.expire_silence(s.id, actor=acme)
        assert {r.tenant for r in engine.alert_records()} == {"acme", "globex"}


async def test_authorization_policy_on_the_engine() -> None:
    def policy(actor: Actor, action: str, record: AlertRecord | None) -> bool:
        return "oncall" in actor.roles or action == "comment"

    clock = ak.FakeClock(T0)
    async with make(clock, {"ops": Recorder()}, Lifecycle(authorize=policy)) as engine:
        engine.observe("cpu", 95, host="a")
        await settle(clock, 1)
        fp = fp_of(engine, "a")
        await engine.comment(fp, "hello", actor="visitor")
        with pytest.raises(PermissionDenied):
            await engine.acknowledge(fp, actor="visitor")
        with pytest.raises(PermissionDenied):
            engine.silence({"alertname": "High"}, duration="1h", actor="visitor")
        await engine.acknowledge(fp, actor=Actor("olga", roles={"oncall"}))


async def test_expiry_when_the_rule_no_longer_knows_the_alert(tmp_path: Path) -> None:
    clock = ak.FakeClock(T0)
    async with make(clock, {"ops": Recorder()}, Lifecycle(ttl="10m")) as engine:
        engine.observe("cpu", 95, host="a")
        await settle(clock, 1)
        fp = fp_of(engine, "a")
        await settle(clock, 1200, step=30)  # still firing: refreshed, never expires
        assert engine.alert_record(fp).status is LifecycleStatus.OPEN
        snap = engine.snapshot()
    doc = json.loads(snap)
    doc["evaluator"] = json.loads(Engine([RULE]).snapshot())["evaluator"]  # rule forgot it
    async with make(clock, {"ops": Recorder()}, Lifecycle(ttl="10m"),
                    state=json.dumps(doc).encode()) as again:
        await settle(clock, 601, step=30)
        assert again.alert_record(fp).status is LifecycleStatus.EXPIRED


async def test_configuration_errors() -> None:
    policy = EscalationPolicy(name="p", levels=[EscalationLevel("pager")])
    with pytest.raises(ConfigError, match="need the notification pipeline"):
        Engine([RULE], lifecycle=Lifecycle(policies=[policy]))
    with pytest.raises(ConfigError, match="no delivery Receiver: pager"):
        make(ak.FakeClock(T0), {"ops": Recorder()}, Lifecycle(policies=[policy]))
    with pytest.raises(ConfigError, match="not a Lifecycle"):
        Engine([RULE], lifecycle=object())  # type: ignore[arg-type]


async def test_escalation_resumes_after_a_restart_without_repeating_a_level() -> None:
    clock = ak.FakeClock(T0)
    policy = EscalationPolicy(name="p", levels=[
        EscalationLevel("chat"), EscalationLevel("pager", delay="10m")])
    first = {"ops": Recorder(), "chat": Recorder(), "pager": Recorder()}
    async with make(clock, first, Lifecycle(policies=[policy])) as engine:
        engine.observe("cpu", 95, host="a")
        await settle(clock, 60)
        snap = engine.snapshot()
    assert (len(first["chat"].sent), len(first["pager"].sent)) == (1, 0)
    second = {"ops": Recorder(), "chat": Recorder(), "pager": Recorder()}
    async with make(clock, second, Lifecycle(policies=[policy]), state=snap) as again:
        await settle(clock, 538)
        assert second["pager"].sent == []
        await settle(clock, 4)
        assert (len(second["chat"].sent), len(second["pager"].sent)) == (0, 1)
        fp = fp_of(again, "a")
        assert [a.action for a in again.alert_history(fp)] == ["fire", "escalate", "escalate"]


async def test_commands_before_the_engine_runs_are_delivered_once_it_does() -> None:
    clock = ak.FakeClock(T0)
    recs = {"ops": Recorder(), "bob-mail": Recorder()}
    engine = make(clock, recs, Lifecycle(assignee_receivers={"bob": "bob-mail"}))
    engine.observe("cpu", 95, host="a")
    fp = fp_of(engine, "a")
    await engine.assign(fp, "bob", actor="lead")
    await engine.resolve(fp, actor="lead", reason="false alarm")
    async with engine:
        await settle(clock, 2)
        [n] = recs["bob-mail"].sent
        assert n.resolved[0].annotations["resolved_by"] == "lead"
        assert n.resolved[0].annotations["resolved_reason"] == "false alarm"


async def test_an_assignee_mapped_to_an_unknown_receiver_is_logged_not_fatal(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = ak.FakeClock(T0)
    recs = {"ops": Recorder()}
    names = {"bob": "nowhere", "eve": 42}
    lifecycle = Lifecycle(assignee_receivers=lambda a: names.get(a))  # type: ignore[arg-type,return-value]
    async with make(clock, recs, lifecycle) as engine:
        engine.observe("cpu", 95, host="a")
        engine.observe("cpu", 95, host="b")
        await settle(clock, 1)
        await engine.assign(fp_of(engine, "a"), "bob", actor="lead")
        await engine.assign(fp_of(engine, "b"), "eve", actor="lead")
        engine.observe("cpu", 1, host="a")
        engine.observe("cpu", 1, host="b")
        await settle(clock, 2)
        assert engine.lifecycle_undeliverable == 1  # eve's 42 means nobody
        assert "no receiver named 'nowhere'" in caplog.text
        assert {r.status for r in engine.alert_records()} == {LifecycleStatus.RESOLVED}


async def test_escalations_count_against_the_receivers_rate_limit() -> None:
    clock = ak.FakeClock(T0)
    ops = Recorder()
    dispatcher = ak.Dispatcher(
        ak.Route(receiver="ops", group_by=("alertname",), group_wait="10s",
                 group_interval="1m", repeat_interval="5m"),
        [ak.ReceiverConfig(name="ops", rate_limit=ak.RateLimit.per(1, "1h"))])
    policy = EscalationPolicy(name="p", levels=[EscalationLevel("ops")])
    async with Engine([RULE], clock=clock, stale_after="1d", dispatcher=dispatcher,
                      receivers=[Receiver("ops", {"rec": ops})],
                      lifecycle=Lifecycle(policies=[policy])) as engine:
        engine.observe("cpu", 95, host="a")
        await settle(clock, 15)
        # the escalation went out at once and took the hour's only token: the
        # dispatcher's group notification waits for the next one
        assert [n.group_key.split(":")[0] for n in ops.sent] == ["lifecycle"]
        assert engine.dispatch_state is not None
        assert engine.dispatch_state.stats["rate_limited"] == 1
        assert engine.dispatch_state.stats["lifecycle_rate_counted"] == 1


@pytest.mark.parametrize("kind", ["memory", "sqlite", "none"])
async def test_stored_audit_pages_through_the_whole_trail(tmp_path: Path, kind: str) -> None:
    from alertkit.stores.memory_store import MemoryStore

    clock = ak.FakeClock(T0)
    store: object = {"memory": MemoryStore(), "sqlite": str(tmp_path / "state.db"),
                     "none": None}[kind]
    lifecycle = Lifecycle(audit_limit=5, tenant_label="host")
    async with make(clock, {"ops": Recorder()}, lifecycle, store=store) as engine:
        engine.observe("cpu", 95, host="a")
        engine.observe("cpu", 95, host="b")
        await settle(clock, 1)
        a, b = fp_of(engine, "a"), fp_of(engine, "b")
        for i in range(20):
            await engine.comment(a if i % 2 else b, f"note {i}", actor="ann")
        trail = await engine.stored_audit()
        if kind == "none":  # only the in-memory trail (audit_limit)
            assert len(trail) < 22
            return
        assert len(trail) == 22
        assert [r.seq for r in trail] == sorted({r.seq for r in trail})
        mine = await engine.stored_audit(alert=a)
        assert [r.detail.get("text") for r in mine] == [None] + [f"note {i}"
                                                                 for i in range(1, 20, 2)]
        page = await engine.stored_audit(after_seq=trail[9].seq, limit=3)
        assert page == trail[10:13]
        assert [r.fingerprint for r in await engine.stored_audit(actor=Actor("x", tenant="a"))
                ] == [a] * 11
        assert await engine.stored_audit(since=clock.now() + 1) == []


async def test_policy_selected_by_the_dispatchers_route() -> None:
    clock = ak.FakeClock(T0)
    recs = {"ops": Recorder(), "db-team": Recorder(), "dba-pager": Recorder()}
    dispatcher = ak.Dispatcher(
        ak.Route(receiver="ops", group_by=("alertname",), routes=[
            ak.Route(receiver="db-team", matchers={"host": "db1"})]),
        [ak.ReceiverConfig(name=n) for n in recs])
    policy = EscalationPolicy(name="db", levels=[EscalationLevel("dba-pager")],
                              route_receivers=["db-team"])
    lifecycle = Lifecycle(policies=[policy])
    async with Engine([RULE], clock=clock, stale_after="1d", dispatcher=dispatcher,
                      receivers=[Receiver(n, {"rec": r}) for n, r in recs.items()],
                      lifecycle=lifecycle) as engine:
        engine.observe("cpu", 95, host="db1")
        engine.observe("cpu", 95, host="web1")
        await settle(clock, 2)
        assert [n.firing[0].labels["host"] for n in recs["dba-pager"].sent] == ["db1"]
        assert engine.alert_record(fp_of(engine, "web1")).escalation is None


async def test_route_receivers_need_a_dispatcher_that_has_them() -> None:
    policy = EscalationPolicy(name="db", levels=[EscalationLevel("ops")],
                              route_receivers=["db-team"])
    with pytest.raises(ConfigError, match="need a dispatcher"):
        Engine([RULE], lifecycle=Lifecycle(policies=[policy]))
    with pytest.raises(ConfigError, match="does not have: db-team"):
        make(ak.FakeClock(T0), {"ops": Recorder()}, Lifecycle(policies=[policy]))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"limit": -1}, "limit"), ({"limit": "5"}, "limit"), ({"after_seq": 1.5}, "after_seq"),
    ({"since": "monday"}, "since"), ({"actor": 3}, "actor"),
])
async def test_stored_audit_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    async with make(ak.FakeClock(T0), {"ops": Recorder()}) as engine:
        with pytest.raises(LifecycleError, match=match):
            await engine.stored_audit(**kwargs)  # type: ignore[arg-type]
        assert await engine.stored_audit(limit=0) == []


async def test_notifications_not_yet_in_the_outbox_travel_in_the_snapshot() -> None:
    clock = ak.FakeClock(T0)
    lifecycle = Lifecycle(assignee_receivers={"bob": "bob-mail"})
    first = make(clock, {"ops": Recorder(), "bob-mail": Recorder()}, lifecycle)
    first.observe("cpu", 95, host="a")
    fp = fp_of(first, "a")
    await first.assign(fp, "bob", actor="lead")
    await first.resolve(fp, actor="lead")  # the Engine never ran: nothing written yet
    snap = first.snapshot()
    assert len(json.loads(snap)["lifecycle_unsent"]) == 1
    bob = Recorder()
    async with make(clock, {"ops": Recorder(), "bob-mail": bob}, lifecycle,
                    state=snap) as again:
        await settle(clock, 2)
        [n] = bob.sent
        assert n.resolved[0].fingerprint == fp
        assert json.loads(again.snapshot())["lifecycle_unsent"] == []


@pytest.mark.parametrize("unsent", [{}, [{"version": 99}]])
def test_a_corrupt_unsent_list_is_a_snapshot_error(unsent: object) -> None:
    doc = json.loads(Engine([RULE]).snapshot())
    doc["lifecycle_unsent"] = unsent
    with pytest.raises(ak.SnapshotError, match="lifecycle_unsent"):
        Engine([RULE], state=json.dumps(doc).encode())


async def test_an_escalation_is_in_the_outbox_before_its_step_is_stored() -> None:
    from alertkit.stores.memory_store import MemoryStore

    seen: list[tuple[int, list[str]]] = []

    class Watching(MemoryStore):
        async def put_record(self, kind: str, key: str, doc: dict[str, object], *,
                             expected_version: int | None) -> int:
            esc = doc.get("escalation") if kind == "alert" else None
            if isinstance(esc, dict) and esc["last_at"] is not None:
                pending = await self.outbox.load()
                seen.append((esc["level"], sorted(e.notification.receiver
                                                   for e in pending.entries)))
            return await super().put_record(kind, key, doc,
                                            expected_version=expected_version)

    class Stuck(Recorder):  # keeps the delivery in flight, so it stays in the outbox
        async def send(self, n: Notification, context: DeliveryContext
                       ) -> Delivered | Retry:
            await anyio.sleep_forever()
            raise AssertionError  # pragma: no cover

    clock = ak.FakeClock(T0)
    recs = {"ops": Recorder(), "pager": Stuck()}
    policy = EscalationPolicy(name="p", levels=[EscalationLevel("pager")])
    async with make(clock, recs, Lifecycle(policies=[policy]), store=Watching()) as engine:
        engine.observe("cpu", 95, host="a")
        await settle(clock, 2)
    assert seen and seen[0] == (1, ["pager"])
