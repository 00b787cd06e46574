"""Silences and inhibition: the semantics file's scenarios 2.4 and 2.5, and the silence API."""

from __future__ import annotations

import pytest

import alertkit as ak
from dispatch_helpers import Sim, am, firing

INHIBIT = ak.InhibitRule(source_matchers=['severity="critical"'],
                         target_matchers=['severity="warning"'], equal=["cluster"])


# -- inhibition (2.4) -------------------------------------------------------------------


def test_inhibition_is_checked_at_each_tick_and_not_remembered() -> None:
    sim = Sim(am(inhibit_rules=[INHIBIT]))
    sim.fire(0, "NodeDown", severity="critical", cluster="c1", instance="nd")
    sim.fire(0, "DiskWarn", severity="warning", cluster="c1", instance="c1")
    sim.fire(0, "DiskWarn", severity="warning", cluster="c2", instance="c2")
    sim.fire(0, "NoCluster", severity="warning", instance="nc")
    sim.resolve(5.5, "NodeDown", severity="critical", cluster="c1", instance="nd")
    assert sorted(sim.run(8)) == [
        (1.0, "default", "firing", ["c2"], []),
        (1.0, "default", "firing", ["nc"], []),  # no cluster: "" != "c1", not muted
        (1.0, "default", "firing", ["nd"], []),
        (7.0, "default", "firing", ["c1", "c2"], []),  # the source resolved: c1 joins
        (7.0, "default", "resolved", [], ["nd"]),
    ]


def test_inhibition_status_names_the_source() -> None:
    d = am(inhibit_rules=[INHIBIT])
    s = d.new_state()
    src = firing("NodeDown", 0, severity="critical", cluster="c1")
    tgt = firing("DiskWarn", 0, severity="warning", cluster="c1")
    d.apply(s, src)
    d.apply(s, tgt)
    st = d.alert_status(s, tgt.alert.fingerprint, 1)
    assert st is not None and st.state == "suppressed"
    assert st.inhibited_by == (src.alert.fingerprint,) and st.silenced_by == ()
    assert d.alert_status(s, src.alert.fingerprint, 1).state == "active"  # type: ignore[union-attr]
    assert d.alert_status(s, "nope", 1) is None


def test_alerts_that_both_lack_an_equal_label_count_as_equal() -> None:
    d = am(inhibit_rules=[INHIBIT])
    s = d.new_state()
    d.apply(s, firing("Src", 0, severity="critical"))
    d.apply(s, firing("Tgt", 0, severity="warning"))
    assert [n.firing[0].rule for n in d.advance(s, 1)] == ["Src"]


def test_an_alert_never_inhibits_itself_two_sided_matches_are_excluded() -> None:
    rule = ak.InhibitRule(source_matchers=["x=1"], target_matchers=["y=1"])
    d = am(ak.Route(receiver="default", group_by=["..."], group_wait=1), inhibit_rules=[rule])
    s = d.new_state()
    both = firing("Both", 0, x="1", y="1")
    d.apply(s, both)
    assert len(d.advance(s, 1)) == 1
    d.apply(s, firing("Both2", 0, x="1", y="1"))  # matches both sides: cannot mute Both
    st = d.alert_status(s, both.alert.fingerprint, 2)
    assert st is not None and st.state == "active"
    d.apply(s, firing("SourceOnly", 0, x="1"))
    st = d.alert_status(s, both.alert.fingerprint, 2)
    assert st is not None and st.state == "suppressed"


def test_a_resolved_source_does_not_inhibit() -> None:
    d = am(inhibit_rules=[INHIBIT])
    s = d.new_state()
    d.ingest_alert(s, firing("Src", 0, severity="critical").alert, 0, ends_at=0.5)
    d.apply(s, firing("Tgt", 0, severity="warning"))
    assert sorted(n.status + n.alerts[0].rule for n in d.advance(s, 1)) == ["firingTgt"]


def test_silenced_sources_still_inhibit() -> None:
    d = am(inhibit_rules=[INHIBIT])
    s = d.new_state()
    d.create_silence(s, ["alertname=Src"], ends_at=100, now=0)
    d.apply(s, firing("Src", 0, severity="critical"))
    d.apply(s, firing("Tgt", 0, severity="warning"))
    assert d.advance(s, 1) == []


# -- silences (2.5) ---------------------------------------------------------------------


def test_a_regex_silence_mutes_matching_alerts_until_it_is_expired() -> None:
    sim = Sim(am())
    ids: list[str] = []
    sim.at(0, lambda: ids.append(sim.d.create_silence(
        sim.s, ['alertname="Sil"', 'instance=~"web-.*"'], ends_at=3600, now=0,
        created_by="ops", comment="deploy").id))
    for i in ("web-1", "web-2", "db-1", "xweb-1"):
        sim.fire(0, "Sil", instance=i)
    sim.at(5.5, lambda: sim.d.expire_silence(sim.s, ids[0], 5.5))
    assert sim.run(8) == [
        (1.0, "default", "firing", ["db-1", "xweb-1"], []),
        (7.0, "default", "firing", ["db-1", "web-1", "web-2", "xweb-1"], []),
    ]
    (s,) = sim.d.silences(sim.s, 8)
    assert s.state(8) is ak.SilenceState.EXPIRED and s.ends_at == 5.5


def test_silence_status_per_alert() -> None:
    d = am()
    s = d.new_state()
    sil = d.create_silence(s, {"instance": "web-1"}, ends_at=100, now=0)
    e = firing("Sil", 0, instance="web-1")
    d.apply(s, e)
    st = d.alert_status(s, e.alert.fingerprint, 1)
    assert st is not None and st.state == "suppressed" and st.silenced_by == (sil.id,)
    assert st.receivers == ("default",)
    st = d.alert_status(s, e.alert.fingerprint, 100)
    assert st is not None and st.state == "active" and st.silenced_by == ()


def test_a_future_silence_stops_repeats_and_the_resolved_message() -> None:
    sim = Sim(am())
    sim.at(0, lambda: sim.d.create_silence(sim.s, ["alertname=Fut"], starts_at=4.5,
                                           ends_at=3600, now=0))
    sim.fire(0, "Fut", instance="a")
    sim.resolve(20, "Fut", instance="a")
    assert sim.run(40) == [(1.0, "default", "firing", ["a"], [])]
    assert sim.s.groups == {}  # the fully muted group emptied quietly


def test_a_short_silence_leaves_the_repeat_on_schedule() -> None:
    sim = Sim(am())
    sim.fire(0, "SilShort", instance="a")
    sim.at(2.5, lambda: sim.d.create_silence(sim.s, ["alertname=SilShort"], ends_at=7.5,
                                             now=2.5))
    assert [n[0] for n in sim.run(14)] == [1.0, 13.0]


def test_a_silence_over_the_repeat_sends_at_the_first_tick_after_it_ends() -> None:
    sim = Sim(am())
    sim.fire(0, "SilOverRepeat", instance="a")
    sim.at(2.5, lambda: sim.d.create_silence(sim.s, ["alertname=SilOverRepeat"],
                                             ends_at=14.5, now=2.5))
    assert [n[0] for n in sim.run(30)] == [1.0, 16.0, 28.0]


# -- the silence API --------------------------------------------------------------------


def test_silence_states_and_listing() -> None:
    d = am()
    s = d.new_state()
    a = d.create_silence(s, ["a=1"], ends_at=10, now=0, id="A")
    b = d.create_silence(s, ["b=1"], starts_at=5, ends_at=10, now=0, id="B")
    c = d.create_silence(s, ["c=1"], ends_at=2, now=0, id="C")
    assert [x.id for x in d.silences(s, 3)] == ["A", "B", "C"]
    assert [x.id for x in d.silences(s, 3, status="pending")] == ["B"]
    assert [x.id for x in d.silences(s, 3, status=ak.SilenceState.EXPIRED)] == ["C"]
    assert (a.state(0), b.state(0), c.state(2)) == (
        ak.SilenceState.ACTIVE, ak.SilenceState.PENDING, ak.SilenceState.EXPIRED)


def test_a_start_in_the_past_becomes_now_and_ids_are_deterministic() -> None:
    d = am()
    s1, s2 = d.new_state(), d.new_state()
    x = d.create_silence(s1, ["a=1"], starts_at=-50, ends_at=10, now=0, created_by="me")
    y = d.create_silence(s2, ["a=1"], starts_at=-50, ends_at=10, now=0, created_by="me")
    assert x.starts_at == 0 and x.id == y.id and len(x.id) == 36
    z = d.create_silence(s1, ["a=1"], starts_at=-50, ends_at=10, now=0, created_by="me")
    assert z.id != x.id


def test_updates_in_place_or_by_replacement_as_alertmanager() -> None:
    d = am()
    s = d.new_state()
    active = d.create_silence(s, ["a=1"], ends_at=100, now=0, id="act")
    # An active silence: a new end (not in the past) and comment keep the id.
    u = d.update_silence(s, "act", now=10, ends_at=200, comment="longer")
    assert (u.id, u.starts_at, u.ends_at, u.comment) == ("act", active.starts_at, 200, "longer")
    # New matchers: the old one expires, a new one replaces it.
    r = d.update_silence(s, "act", now=20, matchers=["a=2"], new_id="new")
    assert r.id == "new" and r.starts_at == 20
    assert d.get_silence(s, "act").ends_at == 20
    # A pending silence may move its start (not into the past) in place.
    d.create_silence(s, ["b=1"], starts_at=50, ends_at=100, now=20, id="pend")
    p = d.update_silence(s, "pend", now=30, starts_at=60)
    assert (p.id, p.starts_at) == ("pend", 60)
    # An active silence whose start changes is replaced.
    q = d.update_silence(s, "new", now=30, starts_at=40)
    assert q.id != "new" and d.get_silence(s, "new").state(30) is ak.SilenceState.EXPIRED


def test_expiring_a_pending_silence_makes_it_never_start() -> None:
    d = am()
    s = d.new_state()
    d.create_silence(s, ["a=1"], starts_at=50, ends_at=100, now=0, id="p")
    e = d.expire_silence(s, "p", 10)
    assert (e.starts_at, e.ends_at) == (10, 10) and e.state(10) is ak.SilenceState.EXPIRED
    with pytest.raises(ak.SilenceError, match="already expired"):
        d.expire_silence(s, "p", 11)


def test_expired_silences_are_forgotten_after_the_retention() -> None:
    d = am(retention="1h")
    s = d.new_state()
    d.create_silence(s, ["a=1"], ends_at=10, now=0, id="gone")
    d.advance(s, 3000)
    assert d.get_silence(s, "gone").id == "gone"
    d.advance(s, 3700)
    with pytest.raises(ak.SilenceError, match="no silence"):
        d.get_silence(s, "gone")
