"""Rule test files: loading, promtool's semantics, diffs, notifications and precise errors."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertkit._core.model import AlertState
from alertkit._core.rules import Rule
from alertkit._errors import RuleTestFileError
from alertkit.testing.replay import replay
from alertkit.testing.series import STALE, SeriesValue, render_series
from alertkit.testing.testfile import (
    CaseResult,
    FileResult,
    load_test_file,
    run_test_file,
    run_test_files,
)

RULES_TOML = """\
[[groups]]
name = "hosts"

[[groups.rules]]
name = "HighCPU"
expr = "cpu > 90"
for = "2m"
annotations = { summary = "CPU at {{ value }} on {{ labels.host }}" }

[[groups.rules]]
name = "Down"
expr = "up == 0"
"""

PASSING_TOML = """\
rule_files = ["rules.toml"]
evaluation_interval = "1m"

[[tests]]
name = "fires after 2m"
interval = "1m"

[[tests.input_series]]
series = 'cpu{host="a"}'
values = "50 95+1x5"

[[tests.input_series]]
series = 'cpu{host="b"}'
values = "50x6"

[[tests.alert_rule_test]]
eval_time = "2m"
alertname = "HighCPU"

[[tests.alert_rule_test]]
eval_time = "3m30s"
alertname = "HighCPU"

[[tests.alert_rule_test.exp_alerts]]
exp_labels = { host = "a" }
exp_annotations = { summary = "CPU at 97 on a" }
"""

PASSING_YAML = """\
rule_files: [rules.toml]
evaluation_interval: 1m
tests:
  - name: fires after 2m
    interval: 1m
    input_series:
      - series: 'cpu{host="a"}'
        values: "50 95+1x5"
      - series: 'cpu{host="b"}'
        values: "50x6"
    alert_rule_test:
      - eval_time: 2m
        alertname: HighCPU
      - eval_time: 3m30s
        alertname: HighCPU
        exp_alerts:
          - exp_labels: {host: a}
            exp_annotations: {summary: CPU at 97 on a}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write(tmp_path, "rules.toml", RULES_TOML)


def only_case(result: FileResult) -> CaseResult:
    assert len(result.cases) == 1
    return result.cases[0]


@pytest.mark.parametrize(("name", "text"), [("cpu_test.toml", PASSING_TOML),
                                            ("cpu_test.yml", PASSING_YAML)])
def test_a_passing_file_in_both_formats(tmp_path: Path, rules: Path, name: str,
                                        text: str) -> None:
    result = run_test_file(write(tmp_path, name, text))
    assert result.ok
    case = only_case(result)
    assert case.name == "fires after 2m"
    assert case.failures == () and case.error is None


def test_a_failing_check_gives_a_readable_diff(tmp_path: Path, rules: Path) -> None:
    text = PASSING_TOML.replace("CPU at 97 on a", "CPU at 98 on a").replace(
        'exp_labels = { host = "a" }', 'exp_labels = { host = "b" }')
    case = only_case(run_test_file(write(tmp_path, "t.toml", text)))
    assert not case.ok
    (failure,) = case.failures
    assert str(failure) == textwrap.dedent("""\
        tests[0].alert_rule_test[1]: firing alerts of HighCPU at eval_time 3m30s:
          expected (1):
            firing {host="b"} annotations {summary='CPU at 98 on b'}
          got (1):
            firing {host="a"} annotations {summary='CPU at 97 on a'}
          - firing {host="b"} annotations {summary='CPU at 98 on b'}
          + firing {host="a"} annotations {summary='CPU at 97 on a'}""").replace(
        "CPU at 98 on b", "CPU at 98 on a")


def case_file(tmp_path: Path, body: str, *, header: str = 'rule_files = ["rules.toml"]\n'
              ) -> CaseResult:
    return only_case(run_test_file(write(tmp_path, "t.toml", header + textwrap.dedent(body))))


def test_eval_time_between_evaluations_sees_the_earlier_one(tmp_path: Path, rules: Path) -> None:
    # Pending at 1m, firing from the evaluation at 3m on: at 3m59s the 3m evaluation counts.
    body = """\
        [[tests]]
        [[tests.input_series]]
        series = 'cpu{host="a"}'
        values = "50 95x5"
        [[tests.alert_rule_test]]
        eval_time = "%s"
        alertname = "HighCPU"
        %s
        """
    expect = '[[tests.alert_rule_test.exp_alerts]]\nexp_labels = { host = "a" }\n' \
             'exp_annotations = { summary = "CPU at 95 on a" }'
    assert case_file(tmp_path, body % ("2m59s", "")).ok
    assert case_file(tmp_path, body % ("2m", "")).ok
    assert case_file(tmp_path, body % ("2m59s", expect)).failures
    assert case_file(tmp_path, body % ("3m", expect)).ok
    assert case_file(tmp_path, body % ("3m59s", expect)).ok


def test_pending_alerts_are_compared_only_when_a_state_is_named(tmp_path: Path,
                                                                rules: Path) -> None:
    body = """\
        [[tests]]
        [[tests.input_series]]
        series = 'cpu{host="a"}'
        values = "95x5"
        [[tests.alert_rule_test]]
        eval_time = "1m"
        alertname = "HighCPU"
        %s
        """
    pending = ('[[tests.alert_rule_test.exp_alerts]]\nexp_labels = { host = "a" }\n'
               'exp_annotations = { summary = "CPU at 95 on a" }\nstate = "%s"')
    assert case_file(tmp_path, body % "").ok  # promtool: only firing alerts are listed
    assert case_file(tmp_path, body % (pending % "pending")).ok
    failed = case_file(tmp_path, body % (pending % "firing"))
    assert "pending {host=\"a\"}" in str(failed.failures[0])
    assert "firing and pending alerts" in str(failed.failures[0])


def test_severity_is_compared_only_when_named(tmp_path: Path, rules: Path) -> None:
    body = """\
        [[tests]]
        [[tests.input_series]]
        series = 'up{job="api"}'
        values = "0"
        [[tests.alert_rule_test]]
        eval_time = "0m"
        alertname = "Down"
        [[tests.alert_rule_test.exp_alerts]]
        exp_labels = %s
        """
    assert case_file(tmp_path, body % '{ job = "api" }').ok
    assert case_file(tmp_path, body % '{ job = "api", severity = "medium" }').ok
    assert not case_file(tmp_path, body % '{ job = "api", severity = "high" }').ok


def test_annotations_are_compared_whole_as_promtool_does(tmp_path: Path, rules: Path) -> None:
    body = """\
        [[tests]]
        [[tests.input_series]]
        series = 'cpu{host="a"}'
        values = "95x3"
        [[tests.alert_rule_test]]
        eval_time = "3m"
        alertname = "HighCPU"
        [[tests.alert_rule_test.exp_alerts]]
        exp_labels = { host = "a" }
        """
    case = case_file(tmp_path, body)  # no exp_annotations: none expected, but there is one
    assert "annotations {summary='CPU at 95 on a'}" in str(case.failures[0])


def test_inline_rules_keep_firing_for_and_stale(tmp_path: Path) -> None:
    header = """\
        evaluation_interval = "1m"
        [[groups]]
        name = "g"
        [[groups.rules]]
        name = "Hot"
        expr = "temp > 30"
        keep_firing_for = "2m"
        """
    body = """\
        [[tests]]
        name = "kept for 2m after the condition ends"
        [[tests.input_series]]
        series = 'temp{room="a"}'
        values = "31 31 20 20 20 20"
        [[tests.alert_rule_test]]
        eval_time = "3m"
        alertname = "Hot"
        [[tests.alert_rule_test.exp_alerts]]
        exp_labels = { room = "a" }
        [[tests.alert_rule_test]]
        eval_time = "4m"
        alertname = "Hot"

        [[tests]]
        name = "a gap keeps the last sample for 5m, a staleness marker ends it at once"
        [[tests.input_series]]
        series = 'temp{room="gap"}'
        values = "31 _x3"
        [[tests.input_series]]
        series = 'temp{room="stale"}'
        values = "31 stale"
        [[tests.alert_rule_test]]
        eval_time = "1m"
        alertname = "Hot"
        [[tests.alert_rule_test.exp_alerts]]
        exp_labels = { room = "gap" }
        [[tests.alert_rule_test.exp_alerts]]
        exp_labels = { room = "stale" }
        [[tests.alert_rule_test]]
        eval_time = "3m"
        alertname = "Hot"
        [[tests.alert_rule_test.exp_alerts]]
        exp_labels = { room = "gap" }
        """
    path = write(tmp_path, "t.toml", textwrap.dedent(header) + textwrap.dedent(body))
    result = run_test_file(path)
    assert [c.ok for c in result.cases] == [True, True], [str(f) for c in result.cases
                                                          for f in c.failures]


def test_notifications_through_a_routing_tree(tmp_path: Path, rules: Path) -> None:
    text = """\
        rule_files = ["rules.toml"]
        [routes]
        receiver = "ops"
        group_by = ["alertname"]
        group_wait = "30s"
        group_interval = "5m"
        repeat_interval = "4h"
        routes = [{ matchers = ['job="db"'], receiver = "dba" }]

        [[tests]]
        [[tests.input_series]]
        series = 'up{job="api"}'
        values = "1 0 0 0 1 1 1 1"
        [[tests.input_series]]
        series = 'up{job="db"}'
        values = "1 1 0 0 0 0 0 0"
        [[tests.notifications]]
        receiver = "ops"
        at = "1m30s"
        firing = [{ alertname = "Down", job = "api" }]
        [[tests.notifications]]
        receiver = "dba"
        at = "2m30s"
        firing = [{ job = "db" }]
        [[tests.notifications]]
        receiver = "ops"
        at = "6m30s"
        resolved = [{ job = "api" }]
        """
    result = run_test_file(write(tmp_path, "t.toml", text))
    assert result.ok, [str(f) for c in result.cases for f in c.failures]
    wrong = text.replace('at = "6m30s"', 'at = "7m"')
    (failure,) = only_case(run_test_file(write(tmp_path, "t.toml", wrong))).failures
    assert "notifications, in the order they were sent" in str(failure)
    assert str(failure).endswith(
        '  - at 7m to ops: firing [] resolved [{job="api"}]\n'
        '  + at 6m30s to ops: firing [] resolved [{alertname="Down", job="api"}]')


def test_receivers_without_routes_send_everything_to_the_first(tmp_path: Path,
                                                               rules: Path) -> None:
    text = """\
        rule_files = ["rules.toml"]
        receivers = ["all"]
        [[tests]]
        [[tests.input_series]]
        series = 'up{job="api"}'
        values = "0 0"
        [[tests.notifications]]
        receiver = "all"
        firing = [{ job = "api" }]
        """
    assert run_test_file(write(tmp_path, "t.toml", text)).ok


def test_end_runs_past_the_last_sample(tmp_path: Path, rules: Path) -> None:
    text = """\
        rule_files = ["rules.toml"]
        receivers = ["all"]
        [[tests]]
        %s
        [[tests.input_series]]
        series = 'up{job="api"}'
        values = "0"
        [[tests.notifications]]
        receiver = "all"
        firing = [{ job = "api" }]
        """
    # Firing at 0; the first notification waits for group_wait (30s), after the last sample.
    (failure,) = only_case(run_test_file(write(tmp_path, "t.toml", text % ""))).failures
    assert "got (0):" in str(failure)
    assert run_test_file(write(tmp_path, "t.toml", text % 'end = "30s"')).ok


def test_a_sample_mode_rule_is_tested_as_it_runs(tmp_path: Path) -> None:
    # In sample mode the rule sees the spike at 30s, between two evaluations; tick mode never
    # does (promtool's semantics).
    text = """\
        [[groups]]
        name = "g"
        [[groups.rules]]
        name = "Spike"
        expr = "m > 5"
        keep_firing_for = "1m"
        %s
        [[tests]]
        interval = "30s"
        [[tests.input_series]]
        series = "m"
        values = "0 10 0 0 0"
        [[tests.alert_rule_test]]
        eval_time = "1m"
        alertname = "Spike"
        [[tests.alert_rule_test.exp_alerts]]
        """
    assert run_test_file(write(tmp_path, "t.toml", text % 'mode = "sample"')).ok
    assert not run_test_file(write(tmp_path, "t.toml", text % "")).ok


def test_run_test_files_reports_every_bad_file_before_running(tmp_path: Path,
                                                              rules: Path) -> None:
    good = write(tmp_path, "good.toml", PASSING_TOML)
    bad1 = write(tmp_path, "bad1.toml", PASSING_TOML.replace('"1m"', '"1x"', 1))
    bad2 = write(tmp_path, "bad2.yml", PASSING_YAML.replace("HighCPU", "LowCPU", 1))
    assert [r.ok for r in run_test_files([good, good])] == [True, True]
    with pytest.raises(RuleTestFileError) as info:
        run_test_files([good, bad1, bad2])
    text = str(info.value)
    assert "2 problems in rule test files" in text
    assert f"{bad1}:2: evaluation_interval: '1x' is not a duration" in text
    assert f"{bad2}:13: tests[0].alert_rule_test[0].alertname: no rule named 'LowCPU'" in text


def test_the_replay_failing_is_a_case_error(tmp_path: Path) -> None:
    # Two samples with the same labels at one time cannot be replayed (and cannot be
    # detected while loading, as a series name may be written in two ways).
    text = """\
        [[groups]]
        name = "g"
        [[groups.rules]]
        name = "R"
        expr = "m > 1"
        [[tests]]
        [[tests.input_series]]
        series = 'm{a="1", b="2"}'
        values = "1"
        [[tests.input_series]]
        series = 'm{b="2", a="1"}'
        values = "1"
        """
    with pytest.raises(RuleTestFileError, match=r"t.toml:11: tests\[0\].input_series\[1\]"
                                                r".series: series 'm\{b=\"2\", a=\"1\"\}' is "
                                                r"given twice"):
        load_test_file(write(tmp_path, "t.toml", text))


# -- bad files: every problem, with file, line and field path ------------------------------


BAD = [
    ("unknown key", 'rule_files = ["rules.toml"]\ncolour = 1\n[[tests]]\n',
     "t.toml:2: colour: unknown key"),
    ("unknown nested key",
     'rule_files = ["rules.toml"]\n[[tests]]\n[[tests.input_series]]\nseries = "m"\n'
     'values = "1"\nvalue = "2"\n',
     "t.toml:6: tests[0].input_series[0].value: unknown key"),
    ("missing key", 'rule_files = ["rules.toml"]\n[[tests]]\n[[tests.input_series]]\n'
     'series = "m"\n', "t.toml:3: tests[0].input_series[0].values: required key missing"),
    ("wrong type", 'rule_files = ["rules.toml"]\n[[tests]]\nname = 5\n',
     "t.toml:3: tests[0].name: expected a string, got 5"),
    ("bad interval", 'rule_files = ["rules.toml"]\n[[tests]]\ninterval = "0s"\n',
     "t.toml:3: tests[0].interval: '0s' must be greater than zero"),
    ("bad series name",
     'rule_files = ["rules.toml"]\n[[tests]]\n[[tests.input_series]]\n'
     "series = 'cpu{host=~\"a\"}'\nvalues = \"1\"\n",
     "t.toml:4: tests[0].input_series[0].series: series name 'cpu{host=~\"a\"}': label matcher"),
    ("bad values",
     'rule_files = ["rules.toml"]\n[[tests]]\n[[tests.input_series]]\nseries = "m"\n'
     'values = "1 2 3x"\n',
     "t.toml:5: tests[0].input_series[0].values: line 1, column 5: expected a number"),
    ("bad eval_time", 'rule_files = ["rules.toml"]\n[[tests]]\n[[tests.alert_rule_test]]\n'
     'eval_time = "-1m"\nalertname = "HighCPU"\n',
     "t.toml:4: tests[0].alert_rule_test[0].eval_time: '-1m' is not a duration"),
    ("unknown alertname", 'rule_files = ["rules.toml"]\n[[tests]]\n[[tests.alert_rule_test]]\n'
     'eval_time = "1m"\nalertname = "HighCPUU"\n',
     "t.toml:5: tests[0].alert_rule_test[0].alertname: no rule named 'HighCPUU'"),
    ("alertname in labels",
     'rule_files = ["rules.toml"]\n[[tests]]\n[[tests.alert_rule_test]]\n'
     'eval_time = "1m"\nalertname = "HighCPU"\n[[tests.alert_rule_test.exp_alerts]]\n'
     'exp_labels = { alertname = "HighCPU" }\n',
     "t.toml:7: tests[0].alert_rule_test[0].exp_alerts[0].exp_labels.alertname: leave "
     "alertname out"),
    ("bad label name",
     'rule_files = ["rules.toml"]\n[[tests]]\n[[tests.alert_rule_test]]\n'
     'eval_time = "1m"\nalertname = "HighCPU"\n[[tests.alert_rule_test.exp_alerts]]\n'
     'exp_labels = { "a-b" = "x" }\n',
     "t.toml:7: tests[0].alert_rule_test[0].exp_alerts[0].exp_labels: label name 'a-b'"),
    ("bad state",
     'rule_files = ["rules.toml"]\n[[tests]]\n[[tests.alert_rule_test]]\n'
     'eval_time = "1m"\nalertname = "HighCPU"\n[[tests.alert_rule_test.exp_alerts]]\n'
     'state = "burning"\n',
     "t.toml:7: tests[0].alert_rule_test[0].exp_alerts[0].state: 'burning' is not one of"),
    ("no rules", "[[tests]]\n", "t.toml: no rules to test"),
    ("no tests", 'rule_files = ["rules.toml"]\ntests = []\n', "t.toml:2: tests: no tests"),
    ("missing rule file", 'rule_files = ["nope.toml"]\n[[tests]]\n', "nope.toml: cannot read"),
    ("glob matches nothing", 'rule_files = ["nope/*.toml"]\n[[tests]]\n',
     "t.toml:1: rule_files[0]: 'nope/*.toml' matches no file"),
    ("bad inline rule", '[[groups]]\nname = "g"\n[[groups.rules]]\nname = "R"\n'
     'expr = "m >"\n[[tests]]\n', "t.toml:5: groups[0].rules[0].expr: line 1, column 4"),
    ("inline rule clashes with a file's", 'rule_files = ["rules.toml"]\n[[groups]]\n'
     'name = "g"\n[[groups.rules]]\nname = "Down"\nexpr = "m > 1"\n[[tests]]\n',
     "t.toml:5: groups[0].rules[0].name: rule 'Down' is defined twice"),
    ("bad route key", 'rule_files = ["rules.toml"]\n[routes]\nreceiver = "a"\nwait = "1m"\n'
     "[[tests]]\n", "t.toml:4: routes.wait: unknown key"),
    ("bad route value", 'rule_files = ["rules.toml"]\n[routes]\nreceiver = "a"\n'
     'group_wait = "soon"\n[[tests]]\n', "t.toml:4: routes.group_wait:"),
    ("no root receiver", 'rule_files = ["rules.toml"]\n[routes]\ngroup_wait = "1m"\n'
     "[[tests]]\n", "t.toml:2: routes.receiver: the root route needs a receiver"),
    ("notifications without routes", 'rule_files = ["rules.toml"]\n[[tests]]\n'
     '[[tests.notifications]]\nreceiver = "a"\n',
     "t.toml:3: tests[0].notifications: asserting notifications needs a routing tree"),
    ("bad end", 'rule_files = ["rules.toml"]\n[[tests]]\nend = "x"\n',
     "t.toml:3: tests[0].end: 'x' is not a duration"),
    ("unknown receiver", 'rule_files = ["rules.toml"]\nreceivers = ["a"]\n[[tests]]\n'
     '[[tests.notifications]]\nreceiver = "b"\n',
     "t.toml:5: tests[0].notifications[0].receiver: no receiver named 'b'"),
    ("bad notification time", 'rule_files = ["rules.toml"]\nreceivers = ["a"]\n[[tests]]\n'
     '[[tests.notifications]]\nreceiver = "a"\nat = "later"\n',
     "t.toml:6: tests[0].notifications[0].at: 'later' is not a duration"),
    ("too many evaluations", 'rule_files = ["rules.toml"]\nevaluation_interval = "1ms"\n'
     '[[tests]]\nend = "1d"\n[[tests.alert_rule_test]]\neval_time = "2h"\nalertname = "Down"\n',
     "t.toml:4: tests[0].end: 1d is more than 1000000 evaluations of 1ms"),
    ("empty receivers", 'rule_files = ["rules.toml"]\nreceivers = []\n[[tests]]\n',
     "t.toml:2: receivers: empty"),
    ("not TOML", "a = 1\nb = \n", "t.toml:2: not valid TOML"),
    ("a string for a list", 'rule_files = "rules.toml"\n[[tests]]\n',
     "t.toml:1: rule_files: expected a list, got 'rules.toml'"),
    ("a value for a table", 'rule_files = ["rules.toml"]\ntests = [5]\n',
     "t.toml:2: tests[0]: expected a table, got 5"),
    ("a list for labels", 'rule_files = ["rules.toml"]\n[[tests]]\n[[tests.alert_rule_test]]\n'
     'eval_time = 1\nalertname = "Down"\nexp_alerts = [{ exp_labels = [1] }]\n',
     "t.toml:6: tests[0].alert_rule_test[0].exp_alerts[0].exp_labels: expected a table, "
     "got [1]"),
    ("empty", "", "t.toml: tests: required key missing"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_toml_files(tmp_path: Path, rules: Path, case: str, text: str, message: str) -> None:
    path = write(tmp_path, "t.toml", text)
    with pytest.raises(RuleTestFileError) as info:
        load_test_file(path)
    assert message in str(info.value).replace(str(tmp_path) + "/", "")


def test_bad_yaml_files_name_lines_too(tmp_path: Path, rules: Path) -> None:
    path = write(tmp_path, "t.yaml", """\
        rule_files: [rules.toml]
        tests:
          - input_series:
              - series: m
                values: "1 x"
            alert_rule_test:
              - eval_time: 1m
                alertname: HighCPU
                exp_alerts:
                  - exp_labels: {host: 5}
        """)
    with pytest.raises(RuleTestFileError) as info:
        load_test_file(path)
    assert "t.yaml:10: tests[0].alert_rule_test[0].exp_alerts[0].exp_labels.host: expected a " \
           "string, got 5" in str(info.value)
    write(tmp_path, "t.yaml", "tests: [1, 2\n")
    with pytest.raises(RuleTestFileError, match=r"t.yaml:2: not valid YAML"):
        load_test_file(path)
    write(tmp_path, "t.yaml", "- 1\n")
    with pytest.raises(RuleTestFileError, match=r"t.yaml:1: expected a table with a 'tests' list"):
        load_test_file(path)


def test_every_problem_of_a_file_is_reported(tmp_path: Path, rules: Path) -> None:
    path = write(tmp_path, "t.toml", """\
        rule_files = ["rules.toml"]
        evaluation_interval = "1x"
        [[tests]]
        [[tests.input_series]]
        series = 'cpu{'
        values = "1 +"
        [[tests.alert_rule_test]]
        eval_time = "1q"
        alertname = "Nope"
        """)
    with pytest.raises(RuleTestFileError) as info:
        load_test_file(path)
    assert [str(i).split(": ")[0].rsplit(":", 1)[1] for i in info.value.issues] == \
        ["2", "5", "6", "8", "9"]


def test_unreadable_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(RuleTestFileError, match="cannot read"):
        load_test_file(tmp_path / "missing.toml")
    with pytest.raises(RuleTestFileError, match="unknown test file type '.txt'"):
        load_test_file(write(tmp_path, "t.txt", "x"))


# -- property: the runner and replay() agree ----------------------------------------------------

STEP_VALUES = st.one_of(st.none(), st.just(STALE), st.sampled_from([0.0, 5.0, 10.0, math.nan]))


@settings(max_examples=40, deadline=None)
@given(values=st.lists(STEP_VALUES, min_size=1, max_size=12),
       for_=st.sampled_from([0, 60, 90, 120]), keep=st.sampled_from([0, 60, 180]),
       at=st.integers(0, 18 * 60))
def test_the_runner_sees_what_replay_sees(values: list[SeriesValue], for_: int, keep: int,
                                          at: int) -> None:
    rule = Rule(name="R", condition="m > 5", for_=for_, keep_firing_for=keep)
    points = [(i * 60.0, None if v is STALE else v) for i, v in enumerate(values)
              if v is not None]
    tl = replay([rule], {'m{host="a"}': points}, ticks="1m", mode="tick", start=0,
                end=max(at, (len(values) - 1) * 60))
    firing = [a for a in tl.alerts_at(at // 60 * 60, rule="R") if a.state is AlertState.FIRING]
    exp = "".join('[[tests.alert_rule_test.exp_alerts]]\nexp_labels = { host = "a" }\n'
                  for _ in firing)
    text = (f'[[groups]]\nname = "g"\n[[groups.rules]]\nname = "R"\nexpr = "m > 5"\n'
            f'for = {for_}\nkeep_firing_for = {keep}\n[[tests]]\n[[tests.input_series]]\n'
            f"series = 'm{{host=\"a\"}}'\nvalues = \"{render_series(values)}\"\n"
            f'[[tests.alert_rule_test]]\neval_time = {at}\nalertname = "R"\n{exp}')
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "t.toml")
        path.write_text(text, encoding="utf-8")
        result = run_test_file(path)
    assert result.ok, (text, [str(f) for c in result.cases for f in c.failures])


def test_a_staleness_marker_keeps_range_windows_as_prometheus_does(tmp_path: Path) -> None:
    """After a marker the instant lookup is empty, but avg_over_time still averages the
    samples before it: (0 + 5) / 2 is not above 4, in promtool and here."""
    text = """\
        [[groups]]
        name = "g"
        [[groups.rules]]
        name = "R"
        expr = "avg_over_time(m[2m]) > 4"
        [[groups.rules]]
        name = "Up"
        expr = "m >= 0"
        [[tests]]
        [[tests.input_series]]
        series = "m"
        values = "0 stale 5 stale"
        [[tests.alert_rule_test]]
        eval_time = "2m"
        alertname = "R"
        [[tests.alert_rule_test]]
        eval_time = "1m"
        alertname = "Up"
        [[tests.alert_rule_test]]
        eval_time = "3m"
        alertname = "Up"
        """
    result = run_test_file(write(tmp_path, "t.toml", text))
    assert result.ok, [str(f) for c in result.cases for f in c.failures]


# -- differential: the same test files through promtool and alertkit -----------------------

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None and not os.environ.get("CI"),
    reason="promtool not installed (apt-get install prometheus)",
)


@attrs.frozen
class Scenario:
    """Rules (written for both tools), input series, and the alerts that could exist.

    Every subset of ``candidates`` is asserted at every eval time, one test each, so both tools
    must agree on which of these tests pass: that pins the firing set at each time exactly.
    """

    rules: tuple[tuple[str, str, dict[str, object]], ...]  # (name, expr, extra fields)
    series: dict[str, str]
    candidates: tuple[tuple[str, dict[str, str]], ...]  # (alertname, labels)
    eval_times: tuple[str, ...]
    interval: str = "1m"


SCENARIOS = {
    "for": Scenario(
        rules=(("HighCPU", "cpu > 90", {"for": "2m"}),),
        series={'cpu{host="a"}': "50 95x5 50 95x3", 'cpu{host="b"}': "95 95 _x5 95"},
        candidates=(("HighCPU", {"host": "a"}), ("HighCPU", {"host": "b"})),
        eval_times=("0s", "1m", "2m", "2m30s", "3m", "4m", "6m", "7m", "7m59s", "9m", "10m",
                    "12m", "13m")),
    "keep_firing_for": Scenario(
        rules=(("Hot", "temp > 30", {"keep_firing_for": "3m"}),),
        series={'temp{room="a"}': "31 31 20x6 31"},
        candidates=(("Hot", {"room": "a"}),),
        eval_times=("0s", "1m", "2m", "3m", "4m", "5m", "6m", "8m", "9m")),
    "gap_and_stale": Scenario(
        rules=(("Up", "m > 0", {}),),
        series={'m{s="gap"}': "1 _x6", 'm{s="stale"}': "1 stale 1 _x2 stale"},
        candidates=(("Up", {"s": "gap"}), ("Up", {"s": "stale"})),
        eval_times=("0s", "1m", "2m", "3m", "4m", "5m", "6m")),
    "absent": Scenario(
        rules=(("ApiGone", 'absent(up{job="api"})', {"for": "2m"}),),
        series={'up{job="api"}': "1 1 _x10 1"},
        candidates=(("ApiGone", {"job": "api"}),),
        eval_times=("0s", "5m", "6m", "7m", "8m", "9m", "11m", "12m")),
    "windows": Scenario(
        rules=(("AvgHigh", "avg_over_time(m[3m]) > 5", {"for": "1m"}),
               ("FastRate", "rate(c[5m]) > 0.5", {})),
        series={'m{host="a"}': "0 10 10 10 0 0 0 0", "c": "0+60x10 0+30x5"},
        candidates=(("AvgHigh", {"host": "a"}), ("FastRate", {})),
        eval_times=("1m", "2m", "3m", "4m", "5m", "6m", "7m", "10m", "11m", "13m")),
    "sample_spacing": Scenario(
        rules=(("Spiky", "m > 5", {"for": "1m"}),),
        series={"m": "0 10 10 10 0 0 10 10 10 10"},
        candidates=(("Spiky", {}),),
        eval_times=("1m", "2m", "3m", "4m", "5m"),
        interval="30s"),
    "rule_labels": Scenario(
        rules=(("Tagged", "m > 5", {"labels": {"team": "db", "host": "override"}}),),
        series={'m{host="a"}': "10 10 0"},
        candidates=(("Tagged", {"team": "db", "host": "override"}), ("Tagged", {"host": "a"})),
        eval_times=("0s", "1m", "2m")),
}


def _write_scenario(tmp_path: Path, s: Scenario) -> tuple[Path, Path, list[str]]:
    """The same test file next to Prometheus rules and next to alertkit rules."""
    prom_rules = {"groups": [{"name": "g", "interval": "1m", "rules": [
        {"alert": name, "expr": expr, **extra} for name, expr, extra in s.rules]}]}
    ak_rules = {"groups": [{"name": "g", "rules": [
        {"name": name, "expr": expr, **extra} for name, expr, extra in s.rules]}]}
    tests = []
    names = []
    input_series = [{"series": k, "values": v} for k, v in s.series.items()]
    for ti, t in enumerate(s.eval_times):
        for alertname in sorted({a for a, _ in s.candidates}):
            labels = [lab for a, lab in s.candidates if a == alertname]
            for mask in range(2 ** len(labels)):
                name = f"t{ti}_{alertname}_{mask}"
                names.append(name)
                tests.append({
                    "name": name, "interval": s.interval, "input_series": input_series,
                    "alert_rule_test": [{
                        "eval_time": t, "alertname": alertname,
                        "exp_alerts": [{"exp_labels": lab} for k, lab in enumerate(labels)
                                       if mask >> k & 1]}]})
    test_doc = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}
    dirs = []
    for sub, rules_doc in (("prom", prom_rules), ("ak", ak_rules)):
        d = tmp_path / sub
        d.mkdir()
        (d / "rules.yml").write_text(json.dumps(rules_doc, indent=1), encoding="utf-8")
        (d / "test.yml").write_text(json.dumps(test_doc, indent=1), encoding="utf-8")
        dirs.append(d / "test.yml")
    return dirs[0], dirs[1], names


@needs_promtool
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_same_pass_and_fail_as_promtool(tmp_path: Path, scenario: str) -> None:
    prom_file, ak_file, names = _write_scenario(tmp_path, SCENARIOS[scenario])
    proc = subprocess.run(["promtool", "test", "rules", prom_file.name], cwd=prom_file.parent,
                          capture_output=True, text=True, timeout=120, check=False)
    output = proc.stdout + proc.stderr
    assert "error" not in output.lower() or "FAILED" in output, output
    prom_failed = set(re.findall(r"^\s+name: (\S+),$", output, re.MULTILINE))
    assert (proc.returncode == 0) == (not prom_failed), output
    result = run_test_file(ak_file)
    ak_failed = {c.name for c in result.cases if not c.ok}
    assert all(c.error is None for c in result.cases)
    assert len(result.cases) == len(names)
    # Each eval time has exactly one passing subset per rule: the actual firing set.
    assert len(names) - len(prom_failed) == len(SCENARIOS[scenario].eval_times) * len(
        {a for a, _ in SCENARIOS[scenario].candidates}), output
    assert sorted(ak_failed ^ prom_failed) == [], (
        f"only alertkit failed: {sorted(ak_failed - prom_failed)}; "
        f"only promtool failed: {sorted(prom_failed - ak_failed)}")


@needs_promtool
@settings(max_examples=20, deadline=None)
@given(values=st.lists(STEP_VALUES, min_size=2, max_size=12),
       expr=st.sampled_from(["m > 5", "m != 0", "avg_over_time(m[2m]) > 4",
                             "max_over_time(m[3m]) >= 10", 'absent(m{host="a"})',
                             "m < 5", "count_over_time(m[2m]) >= 2", "delta(m[3m]) > 1"]),
       for_=st.sampled_from([0, 60, 120]), keep=st.sampled_from([0, 60]))
def test_random_test_files_pass_in_both(values: list[SeriesValue], expr: str, for_: int,
                                        keep: int) -> None:
    """Expectations written from replay()'s timeline, in a file rendered with render_series:
    both ``alertkit test`` and ``promtool test rules`` must pass it."""
    rule = Rule(name="R", condition=expr, for_=for_, keep_firing_for=keep)
    points = [(i * 60.0, None if v is STALE else v) for i, v in enumerate(values)
              if v is not None]
    last = (len(values) + 6) * 60
    tl = replay([rule], {'m{host="a"}': points}, ticks="1m", mode="tick", start=0, end=last)
    checks = [{"eval_time": f"{t}s", "alertname": "R",
               "exp_alerts": [{"exp_labels": {"host": "a"}}
                              for a in tl.alerts_at(t, rule="R")
                              if a.state is AlertState.FIRING]}
              for t in range(0, last + 1, 60)]
    test_doc = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "alert_rule_test": checks,
        "input_series": [{"series": 'm{host="a"}', "values": render_series(values)}]}]}
    with tempfile.TemporaryDirectory() as tmp:
        for sub, key in (("prom", "alert"), ("ak", "name")):
            d = Path(tmp, sub)
            d.mkdir()
            rule_doc = {"groups": [{"name": "g", "rules": [
                {key: "R", "expr": expr, "for": f"{for_}s", "keep_firing_for": f"{keep}s"}]}]}
            if sub == "prom":
                rule_doc["groups"][0]["interval"] = "1m"
            (d / "rules.yml").write_text(json.dumps(rule_doc), encoding="utf-8")
            (d / "test.yml").write_text(json.dumps(test_doc), encoding="utf-8")
        result = run_test_file(Path(tmp, "ak", "test.yml"))
        assert result.ok, [str(f) for c in result.cases for f in c.failures]
        proc = subprocess.run(["promtool", "test", "rules", "test.yml"], cwd=Path(tmp, "prom"),
                              capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, (render_series(values), proc.stdout + proc.stderr)
