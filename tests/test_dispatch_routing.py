"""The routing tree: matching, continue, inheritance, grouping and group keys."""

from __future__ import annotations

import alertkit as ak
from dispatch_helpers import Sim, firing

RECEIVERS = [ak.ReceiverConfig(name=n) for n in
             ("default", "db", "teams", "critical", "critical_k2")]


def tree() -> ak.Route:
    """The semantics file's tree (section 2.1)."""
    return ak.Route(
        receiver="default", group_by=["alertname"], group_wait=1, group_interval=3,
        repeat_interval=10,
        routes=[
            ak.Route(matchers=['team="db"'], receiver="db", continue_=True),
            ak.Route(matchers=['team=~"db|web"'], receiver="teams", group_by=["..."]),
            ak.Route(matchers=["severity=critical"], receiver="critical", group_by=["cluster"],
                     routes=[ak.Route(matchers={"cluster": "k2"}, receiver="critical_k2")]),
        ],
    )


def test_depth_first_first_match_with_continue() -> None:
    d = ak.Dispatcher(tree(), RECEIVERS)
    assert d.receivers_for({"team": "db", "severity": "critical"}) == ["db", "teams"]
    assert d.receivers_for({"team": "web"}) == ["teams"]
    assert d.receivers_for({"team": "ops"}) == ["default"]
    assert d.receivers_for({"team": "dbx"}) == ["default"]  # regexes are anchored
    assert d.receivers_for({"severity": "critical", "cluster": "k2"}) == ["critical_k2"]
    assert d.receivers_for({"severity": "critical", "cluster": "k1"}) == ["critical"]


def test_a_node_whose_matching_children_all_continue_is_not_itself_a_match() -> None:
    route = ak.Route(receiver="default", routes=[
        ak.Route(matchers=["a=1"], receiver="db", continue_=True),
        ak.Route(matchers=["b=1"], receiver="teams", continue_=True)])
    d = ak.Dispatcher(route, RECEIVERS)
    assert d.receivers_for({"a": "1", "b": "1"}) == ["db", "teams"]
    assert d.receivers_for({"a": "1"}) == ["db"]
    assert d.receivers_for({}) == ["default"]


def test_missing_labels_match_as_empty() -> None:
    route = ak.Route(receiver="default", routes=[
        ak.Route(matchers=['team=""'], receiver="db"),
        ak.Route(matchers=['team!~"x.*"'], receiver="teams")])
    d = ak.Dispatcher(route, RECEIVERS)
    assert d.receivers_for({}) == ["db"]
    assert d.receivers_for({"team": "y"}) == ["teams"]
    assert d.receivers_for({"team": "xy"}) == ["default"]


def test_group_keys_and_inherited_group_by() -> None:
    d = ak.Dispatcher(tree(), RECEIVERS)
    s = d.new_state()
    d.apply(s, firing("Route", 0, team="web", instance="2"))
    d.apply(s, firing("Crit", 0, severity="critical", cluster="k2"))
    d.apply(s, firing("Res", 0))
    ns = {n.receiver: n for n in d.advance(s, 1)}
    assert ns["teams"].group_key == (
        '{}/{team=~"db|web"}:{alertname="Route", instance="2", team="web"}')
    assert ns["critical_k2"].group_labels == ak.Labels(cluster="k2")  # inherited group_by
    assert ns["critical_k2"].group_key == '{}/{severity="critical"}/{cluster="k2"}:{cluster="k2"}'
    assert ns["default"].group_key == '{}:{alertname="Res"}'


def test_routing_with_continue_sends_to_both_receivers_with_independent_groups() -> None:
    sim = Sim(ak.Dispatcher(tree(), RECEIVERS))
    sim.fire(0, "Route", team="db", severity="critical", instance="1")
    sim.fire(0, "Route", team="web", instance="2")
    sim.fire(0, "Route", team="ops", instance="3")
    sent = sim.run(2)
    assert sorted(sent) == [
        (1.0, "db", "firing", ["1"], []),
        (1.0, "default", "firing", ["3"], []),
        (1.0, "teams", "firing", ["1"], []),  # group_by "...": one group per alert
        (1.0, "teams", "firing", ["2"], []),
    ]


def test_alerts_lacking_a_group_by_label_are_grouped_together() -> None:
    route = ak.Route(receiver="default", group_by=["cluster"], group_wait=1, group_interval=3)
    d = ak.Dispatcher(route, RECEIVERS)
    s = d.new_state()
    d.apply(s, firing("A", 0, instance="1"))
    d.apply(s, firing("B", 0, instance="2"))
    d.apply(s, firing("C", 0, instance="3", cluster="c1"))
    ns = d.advance(s, 1)
    assert sorted((n.group_key, len(n.firing)) for n in ns) == [
        ('{}:{cluster="c1"}', 1), ("{}:{}", 2)]


def test_no_group_by_means_one_group_per_route() -> None:
    d = ak.Dispatcher(ak.Route(receiver="default", group_wait=1), RECEIVERS)
    s = d.new_state()
    for name in "XYZ":
        d.apply(s, firing(name, 0))
    (n,) = d.advance(s, 1)
    assert len(n.firing) == 3 and n.group_key == "{}:{}"


def test_defaults_are_alertmanagers() -> None:
    d = ak.Dispatcher(ak.Route(receiver="default"), RECEIVERS)
    s = d.new_state()
    d.apply(s, firing("D", 0))
    assert d.next_wakeup(s) == 30.0
    (n,) = d.advance(s, 30)
    d.delivered(s, n, 30)
    assert d.next_wakeup(s) == 330.0
    sent = [t for t in range(330, 15_000, 300) if d.advance(s, float(t))]
    assert sent == [30 + 49 * 300]  # 4h rounded up to 5m ticks: the first tick past 4h


def test_settings_are_inherited_only_when_unset() -> None:
    route = ak.Route(receiver="default", group_wait=5, group_interval=7, repeat_interval=60,
                     routes=[ak.Route(matchers=["a=1"], receiver="db", group_wait=2)])
    d = ak.Dispatcher(route, RECEIVERS)
    s = d.new_state()
    d.apply(s, firing("I", 0, a="1"))
    assert d.next_wakeup(s) == 2.0
    d.advance(s, 2)
    assert d.next_wakeup(s) == 9.0


def test_two_routes_with_the_same_path_and_receiver_get_distinct_groups() -> None:
    route = ak.Route(receiver="default", group_wait=1, routes=[
        ak.Route(matchers=["a=1"], continue_=True),
        ak.Route(matchers=["a=1"])])
    d = ak.Dispatcher(route, RECEIVERS)
    s = d.new_state()
    d.apply(s, firing("Dup", 0, a="1"))
    keys = sorted(n.group_key for n in d.advance(s, 1))
    assert keys == ['{}/{a="1"}#1:{}', '{}/{a="1"}:{}']
