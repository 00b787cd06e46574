"""The ``alertkit`` command line: ``test``, ``check`` and ``simulate`` through ``main([...])``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from alertkit.cli import main
from alertkit.cli._chart import render_svg, selectors_of, thresholds_of
from alertkit.cli.simulate import load_series_file
from alertkit.config._rules import rules_from_dict
from alertkit.testing.replay import replay

SVG = "{http://www.w3.org/2000/svg}"

RULES = """\
[[groups]]
name = "hosts"

[[groups.rules]]
name = "HighCPU"
expr = "cpu > 90"
for = "2m"

[[groups.rules]]
name = "Down"
expr = "up == 0"
"""

TEST_OK = """\
rule_files = ["rules.toml"]

[[tests]]
name = "fires after 2m"

[[tests.input_series]]
series = 'cpu{host="a"}'
values = "50 95x5"

[[tests.alert_rule_test]]
eval_time = "3m"
alertname = "HighCPU"

[[tests.alert_rule_test.exp_alerts]]
exp_labels = { host = "a" }
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write(tmp_path / "rules.toml", RULES)


# -- main -------------------------------------------------------------------------------------


def test_usage_errors_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    assert main(["--help"]) == 0
    assert "check" in capsys.readouterr().out
    assert main(["test"]) == 2  # FILE is required
    assert "FILE" in capsys.readouterr().err


def test_python_dash_m(tmp_path: Path, rules: Path) -> None:
    test_file = write(tmp_path / "t.toml", TEST_OK)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent / "src")}
    proc = subprocess.run([sys.executable, "-m", "alertkit.cli", "test", str(test_file)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "1 test, 1 passed, 0 failed (1 file run)" in proc.stdout


# -- test -------------------------------------------------------------------------------------


def test_test_passing(tmp_path: Path, rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "t.toml", TEST_OK)
    assert main(["test", str(path)]) == 0
    out = capsys.readouterr().out
    assert out == f"{path}\n  PASS fires after 2m\n1 test, 1 passed, 0 failed (1 file run)\n"
    assert main(["test", "-q", str(path)]) == 0
    assert capsys.readouterr().out == "1 test, 1 passed, 0 failed (1 file run)\n"


def test_test_failing_prints_the_diff(tmp_path: Path, rules: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    ok = write(tmp_path / "ok.toml", TEST_OK)
    bad = write(tmp_path / "bad.toml", TEST_OK.replace('eval_time = "3m"', 'eval_time = "2m"'))
    assert main(["test", str(ok), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}\n  FAIL fires after 2m\n" in out
    assert textwrap.dedent("""\
            tests[0].alert_rule_test[0]: firing alerts of HighCPU at eval_time 2m:
              expected (1):
                firing {host="a"}
              got (0):
                (nothing)
              - firing {host="a"}
        """) in textwrap.dedent("\n".join(line[4:] for line in out.splitlines()
                                          if line.startswith("    "))) + "\n"
    assert out.endswith("2 tests, 1 passed, 1 failed (2 files run)\n")


def test_test_invalid_file_exits_2_and_still_runs_the_others(
        tmp_path: Path, rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = write(tmp_path / "ok.toml", TEST_OK)
    bad = write(tmp_path / "bad.toml", TEST_OK.replace('values = "50 95x5"',
                                                       'values = "50 95x"'))
    assert main(["test", str(bad), str(ok)]) == 2
    captured = capsys.readouterr()
    assert f"ERROR {bad}\n  {bad}:8: tests[0].input_series[0].values: line 1, column 4:" \
        in captured.err
    assert "      50 95x\n         ^" in captured.err  # the caret, indented under the issue
    assert "1 test, 1 passed, 0 failed (1 file run, 1 invalid file)" in captured.out


# -- check ----------------------------------------------------------------------------------


ROUTES = """\
receivers = ["ops", "db"]
[routes]
receiver = "ops"
group_by = ["alertname"]
routes = [{ matchers = ['team="db"'], receiver = "db" }]
"""


def test_check_valid_files(tmp_path: Path, rules: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    test_file = write(tmp_path / "t.toml", TEST_OK)
    routes = write(tmp_path / "routes.toml", ROUTES)
    yaml_rules = write(tmp_path / "r.yml", "groups:\n  - name: g\n    rules:\n"
                                           "      - name: X\n        expr: m > 1\n")
    assert main(["check", str(rules), str(test_file), str(routes), str(yaml_rules)]) == 0
    out = capsys.readouterr().out
    assert f"OK {rules} (rule file, 2 rules)" in out
    assert f"OK {test_file} (rule test file, 1 test, 2 rules)" in out
    assert f"OK {routes} (routing file, 2 receivers)" in out
    assert f"OK {yaml_rules} (rule file, 1 rule)" in out
    assert out.endswith("4 files valid\n")


def test_check_reports_every_problem_of_every_file(
        tmp_path: Path, rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad_rules = write(tmp_path / "bad_rules.toml", """\
        [[groups]]
        name = "g"
        [[groups.rules]]
        name = "A"
        expr = "cpu >"
        for = "5x"
        """)
    bad_test = write(tmp_path / "bad_test.yml", """\
        rule_files: [rules.toml]
        tests:
          - input_series:
              - series: m
                values: "1 2x"
        """)
    bad_routes = write(tmp_path / "bad_routes.toml", """\
        [routes]
        receiver = "ops"
        group_wait = "later"
        routes = [{ receiver = "db", colour = "red" }]
        """)
    missing = tmp_path / "missing.toml"
    assert main(["check", str(bad_rules), str(rules), str(bad_test), str(bad_routes),
                 str(missing)]) == 1
    captured = capsys.readouterr()
    err = captured.err
    assert f"{bad_rules}:5: groups[0].rules[0].expr: line 1, column 6" in err
    assert f"{bad_rules}:6: groups[0].rules[0].for: '5x' is not a duration" in err
    assert f"{bad_test}:5: tests[0].input_series[0].values: line 1, column 3" in err
    assert f"{bad_routes}:3: routes.group_wait:" in err
    assert f"{bad_routes}:4: routes.routes[0].colour: unknown key" in err
    assert f"{missing}: cannot read" in err
    assert captured.out.endswith("6 problems in 4 files (1 of 5 valid)\n")


def test_check_routing_file_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        'routes = 5\n': "routes: required: a table with at least a receiver",
        'receivers = [1]\n[routes]\nreceiver = "a"\n': "receivers: expected a list of "
                                                       "receiver names",
        'extra = 1\n[routes]\nreceiver = "a"\n': ":1: extra: unknown key",
        'receivers = ["a"]\n[routes]\nreceiver = "b"\n': "routes:",
        '[routes]\nreceiver = "a"\nroutes = [5]\n': "routes.routes[0]: expected a table",
        '[routes]\nreceiver = "a"\nroutes = 5\n': "routes.routes: expected a list of routes",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = write(tmp_path / f"routes{i}.toml", text)
        assert main(["check", str(path)]) == 1, text
        assert message in capsys.readouterr().err, text


# -- simulate: input files ---------------------------------------------------------------------


def test_series_files_in_every_form(tmp_path: Path) -> None:
    long = write(tmp_path / "long.csv", 'time,series,value\n0,"cpu{host=""a""}",1\n'
                                        '60,"cpu{host=""a""}",\n120,"cpu{host=""a""}",stale\n'
                                        '\n180,cpu,NaN\n')
    data = load_series_file(long)
    assert data['cpu{host="a"}'][0] == (0.0, 1.0)
    assert repr(data['cpu{host="a"}'][1]) == "(120.0, STALE)"
    assert str(data["cpu"][0][1]) == "nan"
    wide = write(tmp_path / "wide.csv", 'time,"cpu{host=""a""}",mem\n'
                                        "2026-01-01T00:00:00Z,1,\n2026-01-01T00:01:00,2,5\n")
    assert load_series_file(wide) == {'cpu{host="a"}': [(1767225600.0, 1.0),
                                                        (1767225660.0, 2.0)],
                                      "mem": [(1767225660.0, 5.0)]}
    mapping = write(tmp_path / "m.json", json.dumps(
        {'cpu{host="a"}': [[0, 1], [60, None], [120, "stale"]], "mem": "1+1x2 _ 7"}))
    loaded = load_series_file(mapping, start=1000, interval=10)
    assert loaded["mem"] == [(1000.0, 1.0), (1010.0, 2.0), (1020.0, 3.0), (1040.0, 7.0)]
    assert repr(loaded['cpu{host="a"}']) == "[(0.0, 1.0), (120.0, STALE)]"
    listing = write(tmp_path / "l.json", json.dumps(
        [{"series": "m", "time": 0, "value": 1}, {"series": "m", "time": "60", "value": "2"}]))
    assert load_series_file(listing) == {"m": [(0.0, 1.0), (60.0, 2.0)]}


BAD_SERIES = [
    ("a.csv", "", "a.csv: empty"),
    ("a.csv", "t,v\n", "a.csv:1: the header must be"),
    ("a.csv", "time,series,value\n0,m\n", "a.csv:2: expected 3 columns"),
    ("a.csv", "time,series,value\nsoon,m,1\n", "a.csv:2: 'soon' is not a time"),
    ("a.csv", "time,series,value\n0,m,high\n", "a.csv:2: 'high' is not a number"),
    ("a.csv", "time,series,value\n0,m{,1\n", "a.csv:2: series name 'm{' is not a series"),
    ("a.csv", "time,m\n0,1,2\n", "a.csv:2: expected 2 columns, got 3"),
    ("a.csv", "time,m\ninf,1\n", "a.csv:2: 'inf' is not a finite time"),
    ("a.csv", "time,m{a=~\"x\"}\n", "label matcher"),
    ("a.json", "{", "a.json:1: not valid JSON"),
    ("a.json", "5", "a.json: expected an object (series -> points) or a list"),
    ("a.json", '{"m": 5}', "a.json: m: expected a list of [time, value] pairs"),
    ("a.json", '{"m": [[0]]}', "a.json: m[0]: [0] is not a [time, value] pair"),
    ("a.json", '{"m": [[true, 1]]}', "a.json: m[0]: True is not a time"),
    ("a.json", '{"m": [[0, true]]}', "a.json: m[0]: True is not a number"),
    ("a.json", '{"m": [[{}, 1]]}', "a.json: m[0]: {} is not a time"),
    ("a.json", '{"m": "1 x"}', "a.json: m: line 1, column 3"),
    ("a.json", '[{"series": "m"}]', "a.json: [0]: expected an object with exactly series"),
    ("a.txt", "", "unknown series file type '.txt'"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD_SERIES)
def test_bad_series_files(tmp_path: Path, rules: Path, name: str, text: str, message: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / name, text)
    assert main(["simulate", str(rules), "--series", str(path)]) == 2
    err = capsys.readouterr().err.replace(str(tmp_path) + "/", "")
    assert err.startswith("error: ") and message in err, err


def test_simulate_bad_arguments(tmp_path: Path, rules: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    data = write(tmp_path / "d.csv", "time,cpu\n0,1\n")
    assert main(["simulate", str(rules), "--series", str(data), "--out", "x.png"]) == 2
    assert "use a .svg or .html file name" in capsys.readouterr().err
    assert main(["simulate", str(rules), "--series", str(data), "--interval", "0s"]) == 2
    assert "--interval" in capsys.readouterr().err
    assert main(["simulate", str(rules), "--series", str(tmp_path / "none.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err
    bad_rules = write(tmp_path / "bad.toml", "[[groups]]\nname = 1\n")
    assert main(["simulate", str(bad_rules), "--series", str(data)]) == 2
    assert "bad.toml:2: groups[0].name" in capsys.readouterr().err
    assert main(["simulate", str(rules), "--series", str(data), "--start", "10",
                 "--end", "5"]) == 2
    assert "before start" in capsys.readouterr().err
    assert main(["simulate", str(rules), "--series", str(data), "--end", "soon"]) == 2
    assert "--end: 'soon' is not a time (epoch seconds or ISO 8601) nor a duration" in \
        capsys.readouterr().err
    assert main(["simulate", str(rules), "--series", str(data), "--out",
                 str(tmp_path / "no" / "dir" / "c.svg")]) == 2
    assert "cannot write" in capsys.readouterr().err


# -- simulate: timeline, chart, progress -------------------------------------------------------


@pytest.fixture
def data(tmp_path: Path) -> Path:
    # host a: 50 then 95 from 1m to 6m (fires at 3m, resolves at 7m); host b never breaches.
    rows = ["time,series,value"]
    for i in range(11):
        rows.append(f'{i * 60},"cpu{{host=""a""}}",{95 if 1 <= i <= 6 else 50}')
        rows.append(f'{i * 60},"cpu{{host=""b""}}",{40 + i}')
    rows.append('300,"up{job=""api""}",0')
    return write(tmp_path / "data.csv", "\n".join(rows) + "\n")


def test_simulate_prints_the_timeline(rules: Path, data: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(rules), "--series", str(data), "--mode", "tick"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert 't=60 (+1m): pending   HighCPU{host="a", severity="medium"} value=95' in lines
    assert 't=180 (+3m): firing    HighCPU{host="a", severity="medium"} value=95' in lines
    assert 't=420 (+7m): resolved  HighCPU{host="a", severity="medium"} value=95' in lines
    assert "HighCPU: fired 1 time (1 label set), first at t=180 (+3m), firing 4m in total" \
        in lines
    assert "Down: fired 1 time (1 label set), first at t=300 (+5m), firing 5m in total" \
        in lines
    assert main(["simulate", str(rules), "--series", str(data), "-q", "--end", "30m"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("HighCPU: fired 1 time")


def test_simulate_never_fired(tmp_path: Path, rules: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    data = write(tmp_path / "d.csv", "time,cpu\n0,1\n60,2\n")
    assert main(["simulate", str(rules), "--series", str(data)]) == 0
    assert capsys.readouterr().out == ("no alert events\n\nHighCPU: never fired\n"
                                       "Down: never fired\n")


def _x(t: float, start: float, end: float) -> float:
    return 70 + (t - start) / (end - start) * (960 - 70 - 20)


def test_svg_chart_structure(tmp_path: Path, rules: Path, data: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "chart.svg"
    assert main(["simulate", str(rules), "--series", str(data), "--out", str(out),
                 "--mode", "tick", "--title", "CPU <test> & more"]) == 0
    assert f"chart written to {out}" in capsys.readouterr().out
    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title").text == "CPU <test> & more"  # type: ignore[union-attr]
    panels = root.findall(f"{SVG}g[@class='rule']")
    assert [p.get("data-rule") for p in panels] == ["HighCPU", "Down"]
    cpu, down = panels
    assert cpu.find(f"{SVG}text[@class='title']").text == \
        "HighCPU: cpu > 90.0 for 2m"  # type: ignore[union-attr]
    series = [p.get("data-series") for p in cpu.findall(f"{SVG}polyline[@class='series']")]
    assert series == ['cpu{host="a"}', 'cpu{host="b"}']
    # host a: 11 points, drawn at the right places
    points = cpu.findall(f"{SVG}polyline")[0].get("points", "").split()
    assert len(points) == 11
    assert float(points[0].split(",")[0]) == 70.0 and float(points[-1].split(",")[0]) == 940.0
    (threshold,) = cpu.findall(f"{SVG}line[@class='threshold']")
    label = cpu.find(f"{SVG}text[@class='threshold-label']")
    assert label is not None and label.text == "cpu > 90.0"
    # 90 lies between the drawn 50s and 95s
    ys = {float(p.split(",")[1]) for p in points}
    assert min(ys) < float(threshold.get("y1", "0")) < max(ys)
    (pending,) = cpu.findall(f"{SVG}rect[@class='pending']")
    (firing,) = cpu.findall(f"{SVG}rect[@class='firing']")
    assert float(pending.get("x", "0")) == pytest.approx(_x(60, 0, 600), abs=0.1)
    assert float(firing.get("x", "0")) == pytest.approx(_x(180, 0, 600), abs=0.1)
    assert float(firing.get("width", "0")) == pytest.approx(_x(420, 0, 600) - _x(180, 0, 600),
                                                            abs=0.2)
    (row,) = cpu.findall(f"{SVG}g[@class='alert']")
    assert row.get("data-labels") == '{host="a", severity="medium"}'
    assert len(row.findall(f"{SVG}rect[@class='firing-bar']")) == 1
    assert len(row.findall(f"{SVG}rect[@class='pending-bar']")) == 1
    # Down reads only up{job="api"}: one sample, drawn as a point; firing until the end.
    assert down.findall(f"{SVG}polyline") == []
    assert len(down.findall(f"{SVG}circle[@class='point']")) == 1
    assert down.findall(f"{SVG}rect[@class='firing']")[0].get("width") == \
        f"{_x(600, 0, 600) - _x(300, 0, 600):.1f}"


def test_html_chart(tmp_path: Path, rules: Path, data: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "chart.html"
    assert main(["simulate", str(rules), "--series", str(data), "--out", str(out),
                 "--mode", "tick"]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    root = ET.fromstring(text)  # well-formed: the page parses as XML too
    body = root.find("body")
    assert body is not None
    assert body.find(f"{SVG}svg") is not None  # the chart inline, no external file
    rows = body.findall("table/tbody/tr")
    assert [[td.text for td in r] for r in rows][:2] == [
        ["+1m", "pending", "HighCPU", '{host="a", severity="medium"}', "95"],
        ["+3m", "firing", "HighCPU", '{host="a", severity="medium"}', "95"]]
    assert "src=" not in text and "href=" not in text  # self-contained


def test_chart_edge_cases() -> None:
    rules = rules_from_dict({"groups": [{"name": "g", "rules": [
        {"name": "Gone", "expr": 'absent(up{job="x"})'},
        {"name": "Avg", "expr": "avg_over_time(m[5m]) > 3 and m < 100", "recovery": "m < 1"},
    ]}]})
    assert [str(s) for s in selectors_of(rules[1])] == ["m"]
    assert [str(t) for t in thresholds_of(rules[1])] == ["avg_over_time(m[5m]) > 3.0",
                                                         "m < 100.0", "m < 1.0"]
    # NaN, infinities and staleness markers break the line; a constant series still scales.
    tl = replay(rules, {"m": [(0, 2), (60, float("nan")), (120, 2), (180, 2), (240, None),
                              (300, float("inf")), (360, 2), (420, 2)]}, ticks="1m")
    root = ET.fromstring(render_svg(tl, rules))
    avg = root.findall(f"{SVG}g[@class='rule']")[1]
    assert len(avg.findall(f"{SVG}polyline")) == 2  # 120-180 and 360-420
    assert len(avg.findall(f"{SVG}circle")) == 1  # the lone sample at 0
    assert len(avg.findall(f"{SVG}line[@class='threshold']")) == 3
    gone = root.findall(f"{SVG}g[@class='rule']")[0]
    assert gone.find(f"{SVG}text[@class='no-alerts']") is None  # it fired: up{job="x"} absent
    # An empty replay: one instant, no series.
    empty = ET.fromstring(render_svg(replay(rules, {}, ticks="1m"), rules))
    assert len(empty.findall(f"{SVG}g[@class='rule']")) == 2


def test_long_series_are_thinned_but_keep_spikes() -> None:
    rules = rules_from_dict({"groups": [{"name": "g", "rules": [
        {"name": "Spike", "expr": "m > 50"}]}]})
    points = [(float(i), 100.0 if i == 12345 else 1.0) for i in range(20000)]
    root = ET.fromstring(render_svg(replay(rules, {"m": points}), rules))
    (line,) = root.iter(f"{SVG}polyline")
    drawn = line.get("points", "").split()
    assert len(drawn) <= 4000
    assert min(float(p.split(",")[1]) for p in drawn) < 100  # the spike (high = small y)


def test_progress_only_on_a_tty_or_when_asked(rules: Path, data: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["simulate", str(rules), "--series", str(data), "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["simulate", str(rules), "--series", str(data), "-q", "--progress"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "simulating: 0% of 10m" and err[-1] == "simulating: 100% of 10m"
    assert len(err) == 11

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["simulate", str(rules), "--series", str(data), "-q"]) == 0
    shown = tty.getvalue()
    assert shown.startswith("\rsimulating [....................]   0% of 10m")
    assert shown.endswith("\rsimulating [####################] 100% of 10m\n")


def test_colour_only_on_a_terminal(tmp_path: Path, rules: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "t.toml", TEST_OK)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stdout", tty)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["test", str(path)]) == 0
    assert "\033[32mPASS\033[0m" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    tty.truncate(0)
    tty.seek(0)
    assert main(["test", str(path)]) == 0
    assert "\033[" not in tty.getvalue()


def test_the_legend_names_each_series_up_to_a_limit() -> None:
    rules = rules_from_dict({"groups": [{"name": "g", "rules": [
        {"name": "Hot", "expr": "m > 5"}]}]})
    few = {f'm{{host="h{i}"}}': [(0, 1), (60, 2)] for i in range(3)}
    root = ET.fromstring(render_svg(replay(rules, few), rules))
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "legend"] == [
        '\u25a0 m{host="h0"}', '\u25a0 m{host="h1"}', '\u25a0 m{host="h2"}']
    many = {f'm{{host="h{i:02}"}}': [(0, 1), (60, 2)] for i in range(30)}
    root = ET.fromstring(render_svg(replay(rules, many), rules))
    legend = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "legend"]
    assert len(legend) == 25 and legend[-1] == "... and 6 more series"
    assert len(list(root.iter(f"{SVG}polyline"))) == 30
    # Nothing overlaps: the plot, then the time axis, then the legend, then the alert rows.
    plot = next(r for r in root.iter(f"{SVG}rect") if r.get("class") == "plot")
    bottom = float(plot.get("y", "0")) + float(plot.get("height", "0"))
    xtick = max(float(t.get("y", "0")) for t in root.iter(f"{SVG}text")
                if t.get("class") == "xtick")
    legend_ys = [float(t.get("y", "0")) for t in root.iter(f"{SVG}text")
                 if t.get("class") == "legend"]
    no_alerts = next(t for t in root.iter(f"{SVG}text") if t.get("class") == "no-alerts")
    assert bottom < xtick < min(legend_ys) and max(legend_ys) < float(no_alerts.get("y", "0"))
    assert float(no_alerts.get("y", "0")) < float(root.get("height", "0"))


def test_many_alerts_are_capped_in_rows() -> None:
    rules = rules_from_dict({"groups": [{"name": "g", "rules": [
        {"name": "Hot", "expr": "m > 5"}]}]})
    many = {f'm{{host="h{i:02}"}}': [(0, 10), (60, 10)] for i in range(60)}
    root = ET.fromstring(render_svg(replay(rules, many), rules))
    rows = [g for g in root.iter(f"{SVG}g") if g.get("class") == "alert"]
    assert len(rows) == 50
    more = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "more-alerts"]
    assert more == ["... and 10 more alerts (the table of events of the HTML chart lists them "
                    "all)"]
    # every label text starts inside the canvas
    assert all(float(t.get("x", "0")) >= 0 for t in root.iter(f"{SVG}text"))


def test_test_select_by_name_and_junit(tmp_path: Path, rules: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    two = TEST_OK + TEST_OK.split("\n", 2)[2].replace("fires after 2m", "other <&> one") \
        .replace('eval_time = "3m"', 'eval_time = "1m"')
    path = write(tmp_path / "t.toml", two)
    bad = write(tmp_path / "bad.toml", "tests = 5\n")
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    assert main(["test", str(path), "--run", "^fires", "--junit", str(junit)]) == 0
    assert "1 test, 1 passed" in capsys.readouterr().out
    assert main(["test", str(path), "--run", "nothing matches"]) == 0
    assert capsys.readouterr().out == "0 tests, 0 passed, 0 failed (1 file run)\n"
    assert main(["test", str(path), str(bad), "--junit", str(junit)]) == 2
    capsys.readouterr()
    root = ET.parse(junit).getroot()
    assert (root.tag, root.get("tests"), root.get("failures"), root.get("errors")) == \
        ("testsuites", "3", "1", "1")
    good, invalid = root.findall("testsuite")
    assert good.get("name") == str(path)
    cases = good.findall("testcase")
    assert [c.get("name") for c in cases] == ["fires after 2m", "other <&> one"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message") == "1 check failed"
    assert "- firing {host=\"a\"}" in (failure.text or "")
    error = invalid.find("testcase/error")
    assert error is not None and "tests: expected" in (error.text or "")
    assert main(["test", str(path), "--run", "("]) == 2
    assert "--run '(' is not a regular expression" in capsys.readouterr().err
    assert main(["test", str(path), "--junit", str(tmp_path / "no" / "j.xml")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_interrupt_and_closed_pipe(tmp_path: Path, rules: Path,
                                   capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import alertkit.cli.check as check_command

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(check_command, "run", interrupted)
    assert main(["check", str(rules)]) == 130
    assert capsys.readouterr().err == "interrupted\n"
    # A reader that goes away (`alertkit simulate ... | head`) ends the command quietly.
    # ~10,000 events, far more than a pipe buffer holds
    data = write(tmp_path / "d.csv", "time,up\n" + "".join(f"{i * 60},{i % 2}\n"
                                                           for i in range(10_000)))
    script = ("import sys; from alertkit.cli import main; "
              f"sys.exit(main(['simulate', {str(rules)!r}, '--series', {str(data)!r}]))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent / "src")}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 1, err
    assert "Traceback" not in err


def test_the_cli_needs_neither_hypothesis_nor_pytest(tmp_path: Path, rules: Path) -> None:
    test_file = write(tmp_path / "t.toml", TEST_OK)
    script = ("import sys; sys.modules['hypothesis'] = None; sys.modules['pytest'] = None; "
              "from alertkit.cli import main; "
              f"sys.exit(main(['test', '-q', {str(test_file)!r}]))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent / "src")}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


def test_chart_times_for_epoch_data() -> None:
    rules = rules_from_dict({"groups": [{"name": "g", "rules": [
        {"name": "Hot", "expr": "m > 5"}]}]})
    start = 1767225600  # 2026-01-01T00:00:00Z
    tl = replay(rules, {"m": [(start, 1), (start + 3 * 86400 + 30, 10)]}, ticks="1h")
    root = ET.fromstring(render_svg(tl, rules))
    assert root.find(f"{SVG}title").text == \
        "alertkit simulation: 2026-01-01 00:00Z .. 2026-01-04 00:00:30Z"  # type: ignore[union-attr]
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "xtick"]
    assert ticks[0] == "01-01 00:00" and "01-04 00:00" in ticks
    bar = next(r for r in root.iter(f"{SVG}rect") if r.get("class") == "firing-bar")
    assert bar.findtext(f"{SVG}title") == "firing 2026-01-04 00:00:30Z .. open"


def test_simulate_with_routes_prints_notifications(tmp_path: Path, rules: Path, data: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    routes = write(tmp_path / "routes.toml", """\
        receivers = ["ops", "pager"]
        [routes]
        receiver = "ops"
        group_wait = "30s"
        routes = [{ matchers = ['alertname="Down"'], receiver = "pager" }]
        """)
    assert main(["simulate", str(rules), "--series", str(data), "--mode", "tick",
                 "--routes", str(routes)]) == 0
    lines = capsys.readouterr().out.splitlines()
    notes = [line for line in lines if ": notify " in line]
    assert notes[0].startswith("t=210 (+3m30s): notify    ops [firing] 1 firing, 0 resolved")
    assert any(line.startswith("t=330 (+5m30s): notify    pager [firing]") for line in notes)
    assert "ops: 2 notifications" in lines and "pager: 1 notification" in lines
    chart = tmp_path / "c.svg"
    assert main(["simulate", str(rules), "--series", str(data), "--mode", "tick", "-q",
                 "--routes", str(routes), "--out", str(chart)]) == 0
    capsys.readouterr()
    panels = ET.parse(chart).getroot().findall(f"{SVG}g[@class='rule']")
    marks = {p.get("data-rule"): [m.findtext(f"{SVG}title") for m in
                                  p.findall(f"{SVG}path[@class='notification']")]
             for p in panels}
    assert marks == {
        "HighCPU": ["firing notification to ops at +3m30s: 1 firing, 0 resolved",
                    "resolved notification to ops at +8m30s: 0 firing, 1 resolved"],
        "Down": ["firing notification to pager at +5m30s: 1 firing, 0 resolved"]}
    bad = write(tmp_path / "bad_routes.toml", '[routes]\ngroup_wait = "soon"\n')
    assert main(["simulate", str(rules), "--series", str(data), "--routes", str(bad)]) == 2
    assert "bad_routes.toml:2: routes.group_wait:" in capsys.readouterr().err
