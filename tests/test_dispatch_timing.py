"""Group timers with fake time: every rule of Alertmanager's aggregation groups.

Timers are the semantics file's (group_wait 1s, group_interval 3s, repeat_interval
10s); each expected timeline is what Alertmanager 0.25 was seen to send.
"""

from __future__ import annotations

import alertkit as ak
from dispatch_helpers import Sim, am, firing


def test_three_alerts_in_one_post_make_one_notification_after_group_wait() -> None:
    sim = Sim(am())
    for i in "abc":
        sim.fire(0, "G", instance=i)
    assert sim.run(3.5) == [(1.0, "default", "firing", ["a", "b", "c"], [])]


def test_three_posts_within_group_wait_make_one_notification() -> None:
    sim = Sim(am())
    for t, i in [(0, "a"), (0.3, "b"), (0.6, "c")]:
        sim.fire(t, "G", instance=i)
    assert sim.run(3.5) == [(1.0, "default", "firing", ["a", "b", "c"], [])]


def test_an_old_alert_skips_group_wait() -> None:
    sim = Sim(am())
    sim.fire(0, "Old", since=-3600, instance="a")
    assert sim.run(0.5) == [(0.0, "default", "firing", ["a"], [])]


def test_a_late_joiner_goes_out_at_the_next_tick_with_the_whole_group() -> None:
    sim = Sim(am())
    sim.fire(0, "J", instance="a")
    sim.fire(0, "J", instance="b")
    sim.fire(2.0, "J", instance="c")
    sim.fire(5.5, "J", instance="d")
    assert sim.run(8) == [
        (1.0, "default", "firing", ["a", "b"], []),
        (4.0, "default", "firing", ["a", "b", "c"], []),
        (7.0, "default", "firing", ["a", "b", "c", "d"], []),
    ]


def test_repeat_is_rounded_up_to_whole_group_intervals() -> None:
    sim = Sim(am())
    sim.fire(0, "Rep", instance="a")
    assert [n[0] for n in sim.run(40)] == [1.0, 13.0, 25.0, 37.0]


def test_repeat_exactly_a_multiple_of_the_interval_waits_one_more_tick() -> None:
    # Alertmanager's test is last_sent < tick - repeat (strict): 9s / 3s gives 12s.
    route = ak.Route(receiver="default", group_wait=1, group_interval=3, repeat_interval=9)
    sim = Sim(am(route))
    sim.fire(0, "Rep", instance="a")
    assert [n[0] for n in sim.run(30)] == [1.0, 13.0, 25.0]


def test_refreshing_an_alert_sends_nothing_extra() -> None:
    sim = Sim(am())
    for k in range(20):
        sim.fire(2.0 * k, "Rep", since=0, instance="a")
    assert [n[0] for n in sim.run(40)] == [1.0, 13.0, 25.0, 37.0]


def test_resolution_goes_out_at_the_next_tick_then_the_alert_is_dropped() -> None:
    sim = Sim(am())
    sim.fire(0, "Res", instance="a")
    sim.fire(0, "Res", instance="b")
    sim.resolve(4.5, "Res", instance="a")
    sim.resolve(8.5, "Res", instance="b")
    assert sim.run(30) == [
        (1.0, "default", "firing", ["a", "b"], []),
        (7.0, "default", "firing", ["b"], ["a"]),
        (10.0, "default", "resolved", [], ["b"]),
    ]


def test_a_raw_alert_resolves_when_its_end_passes() -> None:
    d = am()
    s = d.new_state()
    d.ingest_alert(s, firing("End", 0, instance="a").alert, 0, ends_at=2.5)
    sim = Sim(d, s)
    assert sim.run(10) == [(1.0, "default", "firing", ["a"], []),
                           (4.0, "default", "resolved", [], ["a"])]


def test_resolve_timeout_applies_to_raw_alerts_without_an_end() -> None:
    d = am(resolve_timeout=5)
    s = d.new_state()
    d.ingest_alert(s, firing("TO", 0, instance="a").alert, 0)
    assert Sim(d, s).run(10) == [(1.0, "default", "firing", ["a"], []),
                                 (7.0, "default", "resolved", [], ["a"])]


def test_an_alert_fired_and_resolved_between_ticks_is_never_announced() -> None:
    sim = Sim(am())
    sim.fire(0, "X", instance="a")
    sim.fire(1.5, "X", instance="b")
    sim.resolve(2.5, "X", since=1.5, instance="b")
    # b fired and resolved between the ticks at 1 and 4: at 4 the firing set is {a},
    # already notified, and the resolved b was never announced as firing... but
    # Alertmanager still reports it (rule 4: resolved set not a subset of the last one).
    assert sim.run(5) == [(1.0, "default", "firing", ["a"], []),
                          (4.0, "default", "firing", ["a"], ["b"])]


def test_send_resolved_false_logs_the_all_resolved_flush_without_sending() -> None:
    d = am(receivers=[ak.ReceiverConfig(name="default", send_resolved=False)])
    sim = Sim(d)
    sim.fire(0, "Q", instance="a")
    sim.fire(0, "Q", instance="b")
    sim.resolve(2, "Q", instance="a")
    sim.resolve(5, "Q", instance="b")
    sim.fire(8, "Q", since=8, instance="b")
    assert sim.run(12) == [
        # At 4 the firing set {b} is a subset of {a, b}: without send_resolved, nothing.
        # At 7 all resolved: logged, not sent. At 10 b fires again: {b} is new to the log.
        (1.0, "default", "firing", ["a", "b"], []),
        (10.0, "default", "firing", ["b"], []),
    ]


def test_a_refire_in_a_group_that_still_exists_goes_out_at_its_next_tick() -> None:
    sim = Sim(am())
    sim.fire(0, "F", instance="a")
    sim.resolve(2, "F", instance="a")
    sim.fire(5.5, "F", since=5.5, instance="a")
    assert sim.run(8) == [(1.0, "default", "firing", ["a"], []),
                          (4.0, "default", "resolved", [], ["a"]),
                          (7.0, "default", "firing", ["a"], [])]


def test_empty_groups_are_dropped_and_a_new_alert_waits_group_wait_again() -> None:
    d = am()
    sim = Sim(d)
    sim.fire(0, "E", instance="a")
    sim.resolve(2, "E", instance="a")
    assert [n[0] for n in sim.run(4.5)] == [1.0, 4.0]
    assert len(sim.s.groups) == 1  # emptied at 4, dropped at its next tick (7)
    sim.run(7.5)
    assert sim.s.groups == {} and sim.s.alerts == {}
    sim.fire(8, "E", since=8, instance="a")
    assert sim.run(12) == [(9.0, "default", "firing", ["a"], [])]


def test_pending_and_cancelled_events_are_ignored() -> None:
    d = am()
    s = d.new_state()
    a = firing("P", 0, instance="a").alert
    assert not d.apply(s, ak.AlertEvent(ak.EventKind.PENDING, a, 0))
    assert not d.apply(s, ak.AlertEvent(ak.EventKind.CANCELLED, a, 0))
    assert d.next_wakeup(s) is None and s.alerts == {}


def test_alerts_are_sorted_by_job_then_instance_then_labels() -> None:
    d = am(ak.Route(receiver="default", group_wait=1, group_interval=3))
    s = d.new_state()
    for labels in [{"instance": "b"}, {"job": "z"}, {"job": "a", "instance": "2"},
                   {"job": "a", "instance": "10"}, {"x": "1"}, {"instance": "a"}, {}]:
        d.apply(s, firing("S", 0, **labels))
    (n,) = d.advance(s, 1)
    got = [dict(a.labels.items()) for a in n.firing]
    assert got == [
        {"alertname": "S", "instance": "10", "job": "a"},
        {"alertname": "S", "instance": "2", "job": "a"},
        {"alertname": "S", "job": "z"},
        {"alertname": "S", "instance": "a"},
        {"alertname": "S", "instance": "b"},
        {"alertname": "S"},
        {"alertname": "S", "x": "1"},
    ]


def test_max_alerts_truncates_and_counts_the_rest() -> None:
    d = am(receivers=[ak.ReceiverConfig(name="default", max_alerts=2)])
    s = d.new_state()
    for i in "abcd":
        d.apply(s, firing("M", 0, instance=i))
    (n,) = d.advance(s, 1)
    assert [a.labels["instance"] for a in n.firing] == ["a", "b"] and n.truncated == 2


def test_every_notification_carries_the_idempotency_key_of_its_content() -> None:
    sim = Sim(am())
    sim.fire(0, "K", instance="a")
    sim.run(14)
    (_, n1), (_, n2) = sim.log
    assert n1.idempotency_key == n2.idempotency_key  # same content: same key
    assert n1.idempotency_key == ak.idempotency_key(n1.group_key, n1.firing, n1.resolved)
    assert n1.group_key == '{}:{alertname="K"}'
    assert n1.group_labels == ak.Labels(alertname="K")


def test_time_may_stand_still_or_step_back() -> None:
    d = am()
    s = d.new_state()
    d.apply(s, firing("T", 10, instance="a"))
    assert d.advance(s, 5) == []  # earlier than anything due: nothing happens
    assert len(d.advance(s, 11)) == 1
    assert d.advance(s, 11) == [] and d.advance(s, 9) == []
