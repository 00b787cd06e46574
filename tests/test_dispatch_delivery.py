"""Rate limits, cooldowns, settling notifications, and snapshots of the dispatcher state."""

from __future__ import annotations

import json

import pytest

import alertkit as ak
from alertkit._dispatch.ratelimit import TokenBucket
from dispatch_helpers import Sim, am, firing

PER_INSTANCE = ak.Route(receiver="default", group_by=["instance"], group_wait=1,
                        group_interval=3, repeat_interval=1000)


# -- token buckets ----------------------------------------------------------------------


def test_token_bucket_is_pure() -> None:
    lim = ak.RateLimit(2, 0.5)
    b = TokenBucket.full(lim, 0.0)
    assert b.ready(lim, 0.0)
    b.take(lim, 0.0)
    b.take(lim, 0.0)
    assert not b.ready(lim, 0.0) and b.ready_at(lim, 0.0) == 2.0
    assert b.ready(lim, 2.0) and b.level(lim, 100.0) == 2.0
    assert ak.RateLimit.per(10, "1h") == ak.RateLimit(10, 10 / 3600)


# -- rate limits ------------------------------------------------------------------------


def test_over_the_limit_notifications_are_merged_into_one_summary() -> None:
    d = am(PER_INSTANCE, [ak.ReceiverConfig(name="default", rate_limit=ak.RateLimit(1, 1 / 60))])
    sim = Sim(d)
    for i in "abc":
        sim.fire(0, "RL", instance=i)
    sent = sim.run(100)
    assert sent == [(1.0, "default", "firing", ["a"], []),
                    (61.0, "default", "firing", ["b", "c"], [])]
    summary = sim.log[1][1]
    assert summary.group_key == "summary:default:{}"
    stats = d.stats(sim.s)
    assert stats["rate_limited"] == 2 and stats["summaries"] == 1 and stats["held"] == 0
    # Delivering the summary logged both groups: no repeat before repeat_interval.
    assert sim.run(500) == []


def test_held_content_follows_the_group_until_it_goes_out() -> None:
    d = am(PER_INSTANCE, [ak.ReceiverConfig(name="default", rate_limit=ak.RateLimit(1, 1 / 60))])
    sim = Sim(d)
    sim.fire(0, "RL", instance="a")
    sim.fire(0, "RL", instance="b")
    sim.resolve(20, "RL", instance="b")
    # b was held at 1; it resolved at 20: at its tick at 22 it no longer needs sending
    # (it was never announced), so the hold empties and nothing is sent for it.
    assert sim.run(100) == [(1.0, "default", "firing", ["a"], [])]
    assert d.stats(sim.s)["rate_limited"] >= 1


def test_recipients_have_their_own_buckets() -> None:
    rc = ak.ReceiverConfig(name="default", recipient_by=["team"],
                           recipient_rate_limit=ak.RateLimit(1, 1 / 60))
    sim = Sim(am(PER_INSTANCE, [rc]))
    sim.fire(0, "RL", instance="a", team="x")
    sim.fire(0, "RL", instance="b", team="y")
    sim.fire(0, "RL", instance="c", team="x")
    sent = sim.run(100)
    assert sent == [(1.0, "default", "firing", ["a"], []),
                    (1.0, "default", "firing", ["b"], []),
                    (61.0, "default", "firing", ["c"], [])]  # one held: sent as itself


def test_a_summary_that_fails_is_decided_again_at_each_groups_next_tick() -> None:
    d = am(PER_INSTANCE, [ak.ReceiverConfig(name="default", rate_limit=ak.RateLimit(1, 1 / 60))])
    verdicts = iter(["delivered", "failed"])
    sim = Sim(d, deliver=lambda n: next(verdicts, "delivered"))
    for i in "abc":
        sim.fire(0, "RL", instance=i)
    sent = sim.run(130)
    assert [s[0] for s in sent] == [1.0, 61.0, 121.0]
    assert sent[2][3] == ["b", "c"]


# -- cooldowns --------------------------------------------------------------------------


def test_a_cooldown_defers_new_alerts_of_the_rule_to_the_first_tick_after_it() -> None:
    d = am(PER_INSTANCE, cooldowns={"Flappy": 60})
    sim = Sim(d)
    sim.fire(0, "Flappy", instance="a")
    sim.fire(10, "Flappy", instance="b")
    sim.fire(10, "Other", instance="c")
    sent = sim.run(100)
    assert sent == [(1.0, "default", "firing", ["a"], []),
                    (11.0, "default", "firing", ["c"], []),
                    (62.0, "default", "firing", ["b"], [])]  # b's ticks: 11, 14, ... 62
    assert d.stats(sim.s)["cooldown_deferred"] == 17


# -- settling ---------------------------------------------------------------------------


def test_a_failed_notification_is_sent_again_at_the_next_tick() -> None:
    verdicts = iter(["failed", "failed"])
    sim = Sim(am(), deliver=lambda n: next(verdicts, "delivered"))
    sim.fire(0, "F", instance="a")
    assert [s[0] for s in sim.run(20)] == [1.0, 4.0, 7.0, 19.0]


def test_an_unsettled_notification_is_abandoned_at_the_next_tick() -> None:
    sim = Sim(am(), deliver=lambda n: "keep")
    sim.fire(0, "U", instance="a")
    sim.run(4.5)
    (_, first), (_, second) = sim.log
    assert first.idempotency_key == second.idempotency_key  # same content, same key
    assert not sim.d.delivered(sim.s, first, 4.5)  # abandoned: ignored
    assert sim.d.delivered(sim.s, second, 4.5)
    assert not sim.d.delivered(sim.s, second, 4.6)  # settled once only
    assert not sim.d.failed(sim.s, second, 4.6)
    stats = sim.d.stats(sim.s)
    assert stats["abandoned"] == 1 and stats["stale_settlements"] == 3


def test_resolved_alerts_stay_until_the_resolved_notification_is_delivered() -> None:
    verdicts = iter(["delivered", "failed"])
    sim = Sim(am(), deliver=lambda n: next(verdicts, "delivered"))
    sim.fire(0, "R", instance="a")
    sim.resolve(2, "R", instance="a")
    assert sim.run(8) == [(1.0, "default", "firing", ["a"], []),
                          (4.0, "default", "resolved", [], ["a"]),
                          (7.0, "default", "resolved", [], ["a"])]


def test_a_refire_during_delivery_is_not_dropped_with_the_resolved_one() -> None:
    d = am()
    s = d.new_state()
    d.apply(s, firing("X", 0, instance="a"))
    (n,) = d.advance(s, 1)
    d.delivered(s, n, 1)
    d.apply(s, ak.AlertEvent(ak.EventKind.RESOLVED, firing("X", 0, instance="a").alert, 2))
    (n,) = d.advance(s, 4)
    assert n.status == "resolved"
    d.apply(s, firing("X", 4.5, instance="a"))  # fires again before delivery is reported
    d.delivered(s, n, 5)
    (n,) = d.advance(s, 7)
    assert n.status == "firing"


# -- snapshots --------------------------------------------------------------------------


def _busy() -> tuple[ak.Dispatcher, Sim]:
    rule = ak.InhibitRule(source_matchers=["severity=critical"],
                          target_matchers=["severity=warning"], equal=["cluster"])
    rc = ak.ReceiverConfig(name="default", rate_limit=ak.RateLimit(2, 1 / 30), max_alerts=3)
    d = am(PER_INSTANCE, [rc], inhibit_rules=[rule], cooldowns={"C": 20})
    sim = Sim(d, deliver=lambda n: "keep" if n.firing and n.firing[0].rule == "K" else
              "delivered")
    for i in range(6):
        sim.fire(i * 0.7, "A", instance=str(i % 4), cluster=str(i % 2), severity="warning")
    sim.fire(2, "C", instance="0", severity="critical", cluster="0")
    sim.fire(3, "K", instance="k")
    sim.resolve(9, "A", since=0, instance="1", cluster="1", severity="warning")
    sim.at(1, lambda: d.create_silence(sim.s, ["instance=3"], ends_at=50, now=1, id="s"))
    return d, sim


def test_snapshot_round_trip_is_exact_and_mid_stream_gives_the_same_notifications() -> None:
    d, sim = _busy()
    sim.run(30)
    blob = d.snapshot(sim.s)
    restored = d.restore(blob)
    assert d.snapshot(restored) == blob
    d2, sim2 = _busy()
    sim2.run(30)
    sim2.s = d2.restore(d2.snapshot(sim2.s))
    assert sim.run(200) == sim2.run(200)
    assert [n for _, n in sim.log] == [n for _, n in sim2.log]


def test_restore_with_a_changed_tree_routes_alerts_afresh() -> None:
    d = am()
    s = d.new_state()
    d.apply(s, firing("A", 0, team="db"))
    d.advance(s, 1)
    d2 = am(ak.Route(receiver="db", group_wait=5, routes=[
        ak.Route(matchers=["team=db"], receiver="db")]), [ak.ReceiverConfig(name="db")])
    s2 = d2.restore(d.snapshot(s))
    assert list(s2.groups) == [("db", '{}/{team="db"}:{}')]
    assert d2.next_wakeup(s2) == 6.0


@pytest.mark.parametrize(("blob", "match"), [
    (b"not json", "corrupt"),
    (b"[]", "not an alertkit dispatcher snapshot"),
    (json.dumps({"format": "alertkit.dispatch", "version": 99}).encode(), "version 99"),
    (json.dumps({"format": "alertkit.dispatch", "version": 1}).encode(), "corrupt"),
])
def test_bad_snapshots(blob: bytes, match: str) -> None:
    with pytest.raises(ak.SnapshotError, match=match):
        am().restore(blob)


def test_a_state_belongs_to_its_dispatcher() -> None:
    with pytest.raises(ak.AlertkitError, match="another Dispatcher"):
        am().advance(am().new_state(), 0)
