"""Property tests of the evaluator's invariants."""

from __future__ import annotations

import attrs
from hypothesis import given
from hypothesis import strategies as st

import alertkit as ak
from strategies import ReplayCase, Scenario, replays, run, scenarios

K = ak.EventKind
LEGAL_NEXT: dict[K | None, set[K]] = {
    None: {K.PENDING, K.FIRING},
    K.PENDING: {K.FIRING, K.CANCELLED},
    K.FIRING: {K.RESOLVED},
    K.RESOLVED: {K.PENDING, K.FIRING},
    K.CANCELLED: {K.PENDING, K.FIRING},
}


@given(scenarios())
def test_evaluation_is_deterministic(sc: Scenario) -> None:
    _, first = run(sc.evaluator(), sc.ops)
    _, second = run(sc.evaluator(), sc.ops)
    assert first == second


@given(scenarios(), st.data())
def test_snapshot_restore_mid_stream_gives_the_same_events(sc: Scenario,
                                                           data: st.DataObject) -> None:
    ev = sc.evaluator()
    _, expected = run(ev, sc.ops)
    cut = data.draw(st.integers(0, len(sc.ops)))
    state, before = run(ev, sc.ops[:cut])
    snapshot = ev.snapshot(state)
    restored = sc.evaluator().restore(snapshot)
    assert restored.owner is not ev
    ev2 = restored.owner
    assert isinstance(ev2, ak.Evaluator)
    assert ev2.snapshot(restored) == snapshot  # exact round trip
    _, after = run(ev2, sc.ops[cut:], restored)
    assert before + after == expected


@given(scenarios(with_ticks=False), st.data())
def test_splitting_a_batch_anywhere_gives_the_same_events(sc: Scenario,
                                                          data: st.DataObject) -> None:
    samples = [ak.Sample(m, v, t, labels) for _, m, labels, t, v in sc.ops]
    ev = sc.evaluator()
    whole = ev.ingest(ev.new_state(), samples)
    cut = data.draw(st.integers(0, len(samples)))
    state = ev.new_state()
    parts = ev.ingest(state, samples[:cut]).events + ev.ingest(state, samples[cut:]).events
    assert whole.ok and whole.accepted == len(samples)
    assert list(whole.events) == list(parts)


@given(scenarios())
def test_transitions_are_legal_and_events_mirror_the_state(sc: Scenario) -> None:
    ev = sc.evaluator()
    state, events = run(ev, sc.ops)
    last: dict[str, ak.AlertEvent] = {}
    for e in events:
        prev = last.get(e.alert.fingerprint)
        assert e.kind in LEGAL_NEXT[prev.kind if prev else None], (prev, e)
        if prev is not None:
            assert e.at >= prev.at
        last[e.alert.fingerprint] = e
    # No lost event: the last event of every alert says what the state holds now.
    active = {a.fingerprint: a.state for a in ev.alerts(state)}
    for fp, e in last.items():
        expected = {K.PENDING: ak.AlertState.PENDING, K.FIRING: ak.AlertState.FIRING}.get(e.kind)
        assert active.get(fp) == expected, (e, active.get(fp))
    assert set(active) <= set(last)


@given(replays())
def test_never_fires_before_for_has_elapsed_since_the_first_breach(case: ReplayCase) -> None:
    events = case.replay().events
    rules = {r.name: r for r in case.rules}
    pending_at: dict[str, float] = {}
    for e in events:
        fp = e.alert.fingerprint
        if e.kind is K.PENDING:
            assert e.alert.active_at == e.at
            pending_at[fp] = e.at
        elif e.kind is K.FIRING:
            hold = rules[e.alert.rule].for_
            assert e.at - e.alert.active_at >= hold
            if hold > 0:
                assert pending_at[fp] == e.alert.active_at
            else:
                assert e.alert.active_at == e.at
            assert e.alert.fired_at == e.at
        else:
            pending_at.pop(fp, None)


@given(replays())
def test_sample_mode_sees_at_least_what_tick_mode_sees_for_instant_rules(
        case: ReplayCase) -> None:
    # A spike seen at a tick is also seen by the sample-mode evaluation of the same sample.
    rule = ak.Rule(name="T", condition=ak.Threshold("x", ">", 85))
    case = attrs.evolve(case, rules=(rule,))
    tick = case.replay(mode="tick")
    sample = case.replay(mode="sample")
    fired_tick = {ls.fingerprint for ls in tick.label_sets("T") if tick.fired("T", labels=ls)}
    fired_sample = {ls.fingerprint for ls in sample.label_sets("T")
                    if sample.fired("T", labels=ls)}
    assert fired_tick <= fired_sample
