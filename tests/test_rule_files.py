"""Rule files: one schema for dicts, TOML and YAML; every error with file, line and path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import alertkit as ak
from helpers import replay, series, ticks

GOOD_TOML = """\
[[groups]]
name = "hosts"
labels = { team = "infra" }
stale_after = "2m"

[[groups.rules]]
name = "HighCPU"
expr = "cpu > 90"
for = "1m"
severity = "high"
labels = { team = "db" }
annotations = { summary = "cpu {{ value }} on {{ labels.host }}" }

[[groups.rules]]
name = "Down"
expr = 'absent(up{job="api"})'
"""

GOOD_YAML = """\
groups:
  - name: hosts
    labels: {team: infra}
    stale_after: 2m
    rules:
      - name: HighCPU
        expr: cpu > 90
        for: 1m
        severity: high
        labels: {team: db}
        annotations:
          summary: "cpu {{ value }} on {{ labels.host }}"
      - name: Down
        expr: absent(up{job="api"})
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_toml_yaml_and_dict_give_the_same_rules(tmp_path: Path) -> None:
    from_toml = ak.load_rules(write(tmp_path, "r.toml", GOOD_TOML))
    from_yaml = ak.load_rules(write(tmp_path, "r.yaml", GOOD_YAML))
    import yaml

    from_dict = ak.rules_from_dict(yaml.safe_load(GOOD_YAML))
    assert from_toml == from_yaml == from_dict
    high, down = from_toml
    assert high == ak.Rule(name="HighCPU", condition=ak.Threshold("cpu", ">", 90), for_=60,
                           severity="high", labels={"team": "db"}, stale_after=120,
                           annotations={"summary": "cpu {{ value }} on {{ labels.host }}"})
    assert down.labels == {"team": "infra"} and down.stale_after == 120
    assert down.condition == ak.Absent(ak.Selector("up", {"job": "api"}))


def test_loaded_rules_evaluate(tmp_path: Path) -> None:
    rules = ak.load_rules(write(tmp_path, "r.toml", GOOD_TOML))
    ev = ak.Evaluator(rules, mode="tick")
    events = replay(ev, series("cpu", [95, 95, 95], host="a") + series("up", [1], job="api"),
                    ticks(120))
    assert [(e.at, e.alert.rule, e.kind.value) for e in events] == [
        (0, "HighCPU", "pending"), (60, "HighCPU", "firing")]


def test_errors_name_file_line_and_path(tmp_path: Path) -> None:
    text = GOOD_TOML.replace('for = "1m"', 'for = "5x"').replace(
        'severity = "high"', 'severity = "urgent"\ncolour = "red"')
    path = write(tmp_path, "rules.toml", text)
    with pytest.raises(ak.RuleFileError) as info:
        ak.load_rules(path)
    messages = [str(i) for i in info.value.issues]
    assert messages == [f"{path}:11: groups[0].rules[0].colour: unknown key"]
    # structure first; once the structure is right, every value problem is reported
    path.write_text(text.replace('colour = "red"\n', ""))
    with pytest.raises(ak.RuleFileError) as info:
        ak.load_rules(path)
    assert [str(i) for i in info.value.issues] == [
        f"{path}:9: groups[0].rules[0].for: '5x' is not a duration (expected e.g. \"90s\", "
        f"\"5m\", \"1h30m\")",
        f"{path}:10: groups[0].rules[0].severity: severity 'urgent' is not one of critical, "
        f"high, medium, low, info",
    ]


def test_yaml_errors_have_lines(tmp_path: Path) -> None:
    text = GOOD_YAML.replace("for: 1m", "for: 1 minute").replace("expr: absent", "exp: absent")
    path = write(tmp_path, "rules.yml", text)
    with pytest.raises(ak.RuleFileError) as info:
        ak.load_rules(path)
    issues = info.value.issues
    assert [(i.line, i.path) for i in issues] == [(13, "groups[0].rules[1].expr"),
                                                  (14, "groups[0].rules[1].exp")]
    assert [i.message for i in issues] == ["required key missing", "unknown key"]


def test_expression_errors_point_into_the_expression(tmp_path: Path) -> None:
    path = write(tmp_path, "r.toml", GOOD_TOML.replace('"cpu > 90"', '"cpu >> 90"'))
    with pytest.raises(ak.RuleFileError) as info:
        ak.load_rules(path)
    (issue,) = info.value.issues
    assert issue.line == 8 and issue.path == "groups[0].rules[0].expr"
    assert "column" in issue.message


def test_many_files_report_all_errors_and_duplicates(tmp_path: Path) -> None:
    a = write(tmp_path, "a.toml", GOOD_TOML)
    b = write(tmp_path, "b.toml", GOOD_TOML.replace('name = "Down"', 'name = "Down2"'))
    c = write(tmp_path, "c.toml", "groups = [ oops")
    d = write(tmp_path, "d.json", "{}")
    with pytest.raises(ak.RuleFileError) as info:
        ak.load_rules(a, b, c, d, tmp_path / "missing.toml")
    text = str(info.value)
    assert text.startswith("4 problems in rule files:")
    assert f"{b}:7: groups[0].rules[0].name: rule 'HighCPU' is defined twice (first at {a}, " \
        "groups[0].rules[0])" in text
    assert f"{c}:1: " in text and "unknown rule file type '.json'" in text
    assert "missing.toml: cannot read" in text


@pytest.mark.parametrize(("data", "message"), [
    ([], "expected a table with a 'groups' list, got list"),
    ({"groups": [{"rules": []}]}, "groups[0].name: required key missing"),
    ({"groups": [{"name": 5, "rules": []}]}, "groups[0].name: expected a string, got 5"),
    ({"groups": [{"name": "g", "rules": [{"name": "A", "expr": "x > 1",
                                          "labels": {"a": 1}}]}]},
     "groups[0].rules[0].labels.a: expected a string, got 1"),
    ({"groups": [{"name": "g", "rules": [{"name": "A", "expr": "x > 1",
                                          "annotations": {"s": "{{ oops"}}]}]},
     "groups[0].rules[0]: rule A: annotation 's', line 1"),
    ({"groups": [{"name": "g", "stale_after": "0s", "rules": [{"name": "A", "expr": "x > 1"}]}]},
     "groups[0].rules[0].stale_after: '0s' must be greater than zero"),
    ({"groups": [{"name": "g", "rules": [{"name": "bad name", "expr": "x > 1"}]}]},
     "rule name 'bad name' is not valid"),
])
def test_dict_errors(data: object, message: str) -> None:
    with pytest.raises(ak.RuleFileError) as info:
        ak.rules_from_dict(data)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert str(info.value.issues[0]).startswith("<dict>: ")


def test_json_schema_matches_the_loader() -> None:
    schema = ak.rule_file_schema()
    rule = schema["properties"]["groups"]["items"]["properties"]["rules"]["items"]
    assert rule["required"] == ["name", "expr"]
    assert rule["additionalProperties"] is False
    assert set(rule["properties"]) == {"name", "expr", "for", "keep_firing_for", "recovery",
                                       "severity", "labels", "annotations", "stale_after",
                                       "no_data", "mode"}
    json.dumps(schema)
    jsonschema = pytest.importorskip("jsonschema")
    import tomllib

    jsonschema.validate(tomllib.loads(GOOD_TOML), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"groups": [{"name": "g", "rules": [{"name": "A"}]}]}, schema)


def test_default_rule_pack() -> None:
    rules = ak.default_rules()
    assert [r.name for r in rules] == ["HighCPU", "HighMemory", "LowCacheHitRate",
                                       "HighErrorRate", "HeartbeatMissing"]
    ev = ak.Evaluator(rules, mode="tick")
    samples = (series("cpu_usage_percent", [90, 90, 90], host="a")
               + series("heartbeat", [1], instance="x"))
    events = replay(ev, samples, ticks(180))
    assert [(e.at, e.alert.rule, e.kind.value) for e in events] == [
        (60, "HighCPU", "firing"), (180, "HeartbeatMissing", "firing")]
    assert ak.default_rules_path().name == "default.toml"
