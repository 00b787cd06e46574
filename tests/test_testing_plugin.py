"""The pytest plugin, run on small test files with pytester; and advance()."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import alertkit as ak
from alertkit.testing import RecordingNotifier, advance

pytest_plugins = ["pytester"]

# The plugin comes through its pytest11 entry point: no -p, no conftest needed.
PLUGIN = ["-p", "no:cacheprovider"]


@pytest.fixture(autouse=True)
def _import_this_alertkit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The subprocess imports the alertkit these tests run against (not another install)."""
    root = str(Path(ak.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH", "")) if p))


def run(pytester: pytest.Pytester, source: str, *, subprocess: bool = False
        ) -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    if subprocess:  # a fresh interpreter: nothing imported but what the plugin imports
        return pytester.runpytest_subprocess(*PLUGIN)
    return pytester.runpytest_inprocess(*PLUGIN)


def test_fixtures_for_a_fake_clock_and_a_recording_notifier(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
import alertkit as ak
from alertkit.testing import RecordingNotifier
from alertkit.testing.pytest_plugin import START

def test_clock(fake_clock):
    assert isinstance(fake_clock, ak.FakeClock) and fake_clock.now() == START
    fake_clock.advance(60)
    assert fake_clock.now() == START + 60

def test_fresh_clock_per_test(fake_clock):
    assert fake_clock.now() == START

def test_notifier(recording_notifier):
    assert isinstance(recording_notifier, RecordingNotifier)
    assert recording_notifier.sent == []
""")
    result.assert_outcomes(passed=3)


def test_the_engine_fixture_delivers_to_the_recording_notifier(
        pytester: pytest.Pytester) -> None:
    result = run(pytester, """
import pytest
import alertkit as ak
from alertkit.testing import advance

pytestmark = pytest.mark.anyio

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.fixture
def alertkit_rules():
    return [ak.Rule(name="HighCPU", condition="cpu > 90", for_="1m")]

async def test_fires_and_notifies(alertkit_engine, fake_clock, recording_notifier):
    alertkit_engine.observe("cpu", 95, host="a")
    await advance(fake_clock, "30s")
    assert recording_notifier.sent == []          # pending: for 1m
    await advance(fake_clock, "45s")
    [n] = recording_notifier.sent
    assert n.receiver == "recording" and n.firing[0].labels["host"] == "a"
    alertkit_engine.observe("cpu", 10, host="a")
    await advance(fake_clock, "1m")
    assert [a.rule for a in recording_notifier.alerts("resolved")] == ["HighCPU"]

async def test_retries_reach_the_notifier(alertkit_engine, fake_clock, recording_notifier):
    recording_notifier.fail_next(1)
    alertkit_engine.observe("cpu", 95, host="b")
    await advance(fake_clock, "3m")
    assert [a.delivered for a in recording_notifier.attempts] == [False, True]
""")
    result.assert_outcomes(passed=2)


def test_a_custom_route_in_the_engine_fixture(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
import pytest
import alertkit as ak
from alertkit.testing import advance

pytestmark = pytest.mark.anyio

@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param

@pytest.fixture
def alertkit_rules():
    return [ak.Rule(name="Hot", condition="t > 1")]

@pytest.fixture
def alertkit_route():
    return ak.Route(receiver="ops", group_wait="10s", routes=[
        ak.Route(matchers=['room="lab"'], receiver="lab")])

async def test_routes(alertkit_engine, fake_clock, recording_notifier):
    alertkit_engine.observe("t", 5, room="lab")
    alertkit_engine.observe("t", 5, room="hall")
    await advance(fake_clock, "11s")
    assert sorted(n.receiver for n in recording_notifier.sent) == ["lab", "ops"]
""")
    result.assert_outcomes(passed=2)


def test_strategies_are_registered_for_from_type(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
from hypothesis import given, settings, strategies as st
import alertkit as ak
from alertkit.testing import Series

@settings(max_examples=10, deadline=None)
@given(st.from_type(ak.Labels), st.from_type(ak.Sample), st.from_type(Series),
       st.from_type(ak.Rule))
def test_from_type(labels, sample, series, rule):
    assert isinstance(labels, ak.Labels) and isinstance(sample, ak.Sample)
    assert isinstance(series, Series) and isinstance(rule, ak.Rule)
""", subprocess=True)
    result.assert_outcomes(passed=1)


def test_a_failing_replay_assertion_reads_well_in_pytest_output(
        pytester: pytest.Pytester) -> None:
    result = run(pytester, """
import alertkit as ak
from alertkit.testing import replay

def test_wrong_expectation():
    rule = ak.Rule(name="HighCPU", condition="cpu > 90", for_="5m")
    tl = replay(rule, {"cpu": "95x10"}, ticks="1m")
    tl.assert_fired("HighCPU", between=("1m", "4m"))
""")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*AssertionError: expected HighCPU to fire between t=60 (+1m) and t=240 (+4m), but it "
        "did not.",
        "*Events of HighCPU near that period:",
        '*t=0 (+0s): pending   HighCPU{severity="medium"} value=95',
        '*t=300 (+5m): firing    HighCPU{severity="medium"} value=95',
    ])


# -- advance() ------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_advance_moves_a_fake_clock_in_steps() -> None:
    clock = ak.FakeClock(100.0)
    seen: list[float] = []
    rec = RecordingNotifier()
    assert rec.sent == []
    await advance(clock, "2s", step="500ms")
    seen.append(clock.now())
    await advance(clock, 0)
    assert seen == [102.0] and clock.now() == 102.0


@pytest.mark.anyio
async def test_advance_rejects_bad_arguments() -> None:
    with pytest.raises(ak.AlertkitError, match="is not a FakeClock"):
        await advance(ak.SystemClock(), 1)  # type: ignore[arg-type]
    with pytest.raises(ak.DurationError, match="step"):
        await advance(ak.FakeClock(), 1, step=0)
    with pytest.raises(ak.DurationError, match="duration"):
        await advance(ak.FakeClock(), -1)


def test_from_type_knows_alertkit_outside_pytest_too() -> None:
    import subprocess
    import sys

    code = ("from hypothesis import strategies as st\n"
            "import alertkit as ak\n"
            "print(type(st.from_type(ak.Rule).example()).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(
                             Path(ak.__file__).resolve().parents[1])}).stdout
    assert out.strip() == "Rule"
