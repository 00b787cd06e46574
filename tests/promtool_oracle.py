"""Use the real ``promtool test rules`` (Prometheus 2.42) as an oracle for alerting-rule semantics.

alertkit's rule evaluator claims to behave like Prometheus 2.42. Rather than trusting hand-written
expectations, differential tests hand the same series and rule to ``promtool`` and let it decide.
``check`` asks promtool to confirm a complete expected alert timeline; ``observe`` asks promtool
what it computed, so a failing differential test can print a readable diff.

How the assertions are built (each point checked against promtool 2.42 by experiment):

* ``alert_rule_test`` sees only *firing* alerts, so the complete state at an eval time T is
  asserted with ``promql_expr_test`` instant queries at T on ``ALERTS{alertname=...}`` (one
  sample per pending or firing alert, value 1, label ``alertstate``) and
  ``ALERTS_FOR_STATE{alertname=...}`` (value = ActiveAt in unix seconds). ``alert_rule_test``
  is added as well, as a cross-check that uses promtool's own notion of "firing".
* ``ALERTS_FOR_STATE`` is written for ``for: 0`` rules too (promtool marks rules as restored).
* The instant query's 5m lookback does not leak old ``ALERTS`` samples: the rule group writes a
  staleness marker at the first eval where a series is no longer produced (pending -> firing,
  resolution), so a query at T sees exactly the alerts of the eval at T.
* An empty ``exp_samples: []`` asserts "no result" and fails if promtool got any sample; an empty
  ``exp_alerts: []`` likewise fails if anything is firing.
* promtool's test file parser is strict (unknown fields are errors). YAML is a superset of JSON,
  so both files are written as JSON and no YAML library is needed.
* A rule evaluation error (e.g. two output elements with the same alert identity) aborts the test
  group with ``rule: NAME, time: T, err: ...`` and no other report.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "OracleAlert",
    "OracleResult",
    "OracleRule",
    "OracleSeries",
    "check",
    "observe",
    "promtool_path",
    "render_values",
]

_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_STATES = ("pending", "firing")

# A sample that promtool can never return for an ALERTS query: expecting it makes every query in
# ``observe`` fail, and a failing query is the only way promtool prints what it got.
_SENTINEL_SAMPLE = {"labels": '{__name__="promtool_oracle_sentinel"}', "value": 0}

# One failing promql_expr_test as printed by promtool 2.42 (stderr). Expr and label values are Go
# %q-quoted, so neither can contain a raw newline and the three lines are unambiguous.
_REPORT_RE = re.compile(
    r'^    expr: "(?:[^"\\]|\\.)*", time: (?P<time>\S+),\n'
    r"        exp: .*\n"
    r"        got: (?P<got>.*)$",
    re.MULTILINE,
)
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_LABEL_PAIR = rf"[a-zA-Z_][a-zA-Z0-9_]*={_QUOTED}"
# ``{name="value", ...} 1E+00`` followed by ", " or the end; Go's 'E' float format has no commas.
_SAMPLE_RE = re.compile(
    rf"\{{(?P<labels>(?:{_LABEL_PAIR}(?:, {_LABEL_PAIR})*)?)\}} (?P<value>[^,\s]+)(?:, |\Z)"
)
_LABEL_RE = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)=({_QUOTED})")
_GO_ESCAPE_RE = re.compile(r'\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[abfnrtv\\"])')
_GO_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}
_GO_DURATION_RE = re.compile(r"(?:\d+(?:ms|[ywdhms]))+\Z")
_GO_DURATION_PART_RE = re.compile(r"(\d+)(ms|[ywdhms])")
_GO_DURATION_UNIT_MS = {
    "y": 365 * 86_400_000,
    "w": 7 * 86_400_000,
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1000,
    "ms": 1,
}


@dataclass(frozen=True)
class OracleSeries:
    """One input series; ``values[i]`` is the sample at ``i * interval_s`` (None = no sample)."""

    metric: str
    labels: dict[str, str]
    values: Sequence[float | None]


@dataclass(frozen=True)
class OracleRule:
    """One alerting rule, evaluated alone in its own rule group."""

    name: str
    expr: str
    for_s: int = 0
    keep_firing_for_s: int = 0
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OracleAlert:
    """An alert as promtool sees it at one eval time.

    ``labels`` are the full alert labels, including ``alertname`` and the rule's labels.
    ``active_at`` is the eval time (unix seconds) at which the alert became pending.
    """

    labels: dict[str, str]
    state: str
    active_at: float


@dataclass(frozen=True)
class OracleResult:
    """Outcome of one promtool run, with both input files so a failure can be reproduced."""

    ok: bool
    output: str
    test_file: str
    rule_file: str


def promtool_path() -> str | None:
    """Locate promtool, so tests can skip (locally) when the Debian package is not installed."""
    return shutil.which("promtool")


def render_values(values: Iterable[float | None]) -> str:
    """Render samples in promtool's series notation.

    ``repr`` gives the shortest string that round-trips, and Go's ``ParseFloat`` rounds correctly,
    so promtool reads back exactly the same binary value (checked for 0.30000000000000004, 5e-324,
    1.7976931348623157e+308, -0.0). Gaps become ``_``; NaN and infinities use Go's spelling.
    """
    tokens: list[str] = []
    for value in values:
        if value is None:
            tokens.append("_")
        elif math.isnan(value):
            tokens.append("NaN")
        elif math.isinf(value):
            tokens.append("Inf" if value > 0 else "-Inf")
        else:
            tokens.append(repr(float(value)))
    return " ".join(tokens)


def check(
    series: Sequence[OracleSeries],
    rule: OracleRule,
    interval_s: int,
    eval_times: Sequence[int],
    expected: Mapping[int, Sequence[OracleAlert]],
    *,
    timeout: float = 60,
) -> OracleResult:
    """Ask promtool whether ``expected`` is exactly the alert state at every time in ``eval_times``.

    Rules are evaluated every ``interval_s`` seconds from t=0, and input samples are
    ``interval_s`` apart. At each eval time the complete set of alerts is asserted: states, labels
    and ActiveAt. An eval time missing from ``expected`` asserts that there are no alerts then; a
    key of ``expected`` that is not an eval time is rejected, since it would silently go unchecked.
    """
    times = _validate(series, rule, interval_s, eval_times)
    unchecked = set(expected) - set(times)
    if unchecked:
        raise ValueError(f"expected has times not in eval_times: {sorted(unchecked)}")
    alert_tests: list[dict[str, Any]] = []
    expr_tests: list[dict[str, Any]] = []
    for t in times:
        alerts = sorted(expected.get(t, ()), key=_sort_key)
        _validate_alerts(t, alerts)
        alert_tests.append(
            {
                "eval_time": _duration(t),
                "alertname": rule.name,
                "exp_alerts": [{"exp_labels": a.labels} for a in alerts if a.state == "firing"],
            }
        )
        expr_tests.append(
            {
                "expr": _alerts_query("ALERTS", rule.name),
                "eval_time": _duration(t),
                "exp_samples": [
                    _sample({**a.labels, "__name__": "ALERTS", "alertstate": a.state}, 1)
                    for a in alerts
                ],
            }
        )
        expr_tests.append(
            {
                "expr": _alerts_query("ALERTS_FOR_STATE", rule.name),
                "eval_time": _duration(t),
                "exp_samples": [
                    _sample({**a.labels, "__name__": "ALERTS_FOR_STATE"}, a.active_at)
                    for a in alerts
                ],
            }
        )
    return _run(series, rule, interval_s, alert_tests, expr_tests, timeout)


def observe(
    series: Sequence[OracleSeries],
    rule: OracleRule,
    interval_s: int,
    eval_times: Sequence[int],
    *,
    timeout: float = 60,
) -> dict[int, list[OracleAlert]]:
    """Return the alerts promtool computed at each eval time (sorted by labels).

    promtool only prints results of failing queries, so every query expects an impossible sample
    and the ``got:`` lines of the failure report are parsed. Raises RuntimeError if promtool does
    not report every query as expected (e.g. on a rule evaluation error).
    """
    times = _validate(series, rule, interval_s, eval_times)
    if not times:
        return {}
    queries = [(metric, t) for t in times for metric in ("ALERTS", "ALERTS_FOR_STATE")]
    expr_tests: list[dict[str, Any]] = [
        {
            "expr": _alerts_query(metric, rule.name),
            "eval_time": _duration(t),
            "exp_samples": [_SENTINEL_SAMPLE],
        }
        for metric, t in queries
    ]
    result = _run(series, rule, interval_s, [], expr_tests, timeout)
    reports = [(m["time"], m["got"]) for m in _REPORT_RE.finditer(result.output)]
    if len(reports) != len(queries) or any(
        _parse_go_duration(time) != t for (time, _), (_, t) in zip(reports, queries, strict=True)
    ):
        raise RuntimeError(f"promtool did not report every query:\n{result.output}")
    got = iter(_parse_samples(text) for _, text in reports)
    observed: dict[int, list[OracleAlert]] = {}
    for t in times:
        alerts_samples, for_state_samples = next(got), next(got)
        states = {
            _key(labels, "__name__", "alertstate"): labels["alertstate"]
            for labels, _ in alerts_samples
        }
        active_at = {_key(labels, "__name__"): value for labels, value in for_state_samples}
        if states.keys() != active_at.keys():
            raise RuntimeError(f"ALERTS and ALERTS_FOR_STATE disagree at t={t}:\n{result.output}")
        observed[t] = [
            OracleAlert(labels=dict(key), state=states[key], active_at=active_at[key])
            for key in sorted(states)
        ]
    return observed


def _validate(
    series: Sequence[OracleSeries], rule: OracleRule, interval_s: int, eval_times: Sequence[int]
) -> list[int]:
    """Reject inputs promtool would misread silently; return the sorted distinct eval times.

    An eval time between two evals is checked by promtool against the earlier eval, which would
    hide mistakes, so every eval time must be a multiple of the interval.
    """
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    if rule.for_s < 0 or rule.keep_firing_for_s < 0:
        raise ValueError("for_s and keep_firing_for_s must not be negative")
    for name in rule.labels:
        _validate_label_name(name)
    for s in series:
        if not _METRIC_NAME_RE.match(s.metric):
            raise ValueError(f"invalid metric name {s.metric!r}")
        for name in s.labels:
            _validate_label_name(name)
            if name == "__name__":
                raise ValueError("set the metric name through OracleSeries.metric")
    for t in eval_times:
        if t < 0 or t % interval_s:
            raise ValueError(f"eval time {t} is not a non-negative multiple of {interval_s}")
    return sorted(set(eval_times))


def _validate_label_name(name: str) -> None:
    """Label names are spliced into PromQL selectors, so they must be plain identifiers."""
    if not _LABEL_NAME_RE.match(name):
        raise ValueError(f"invalid label name {name!r}")


def _validate_alerts(t: int, alerts: Sequence[OracleAlert]) -> None:
    """Catch expectations that promtool could never satisfy for reasons unrelated to semantics."""
    for alert in alerts:
        if alert.state not in _STATES:
            raise ValueError(f"t={t}: state must be one of {_STATES}, got {alert.state!r}")
        for name in alert.labels:
            _validate_label_name(name)
    keys = [_key(a.labels) for a in alerts]
    if len(set(keys)) != len(keys):
        raise ValueError(f"t={t}: two expected alerts have the same labels")


def _run(
    series: Sequence[OracleSeries],
    rule: OracleRule,
    interval_s: int,
    alert_tests: list[dict[str, Any]],
    expr_tests: list[dict[str, Any]],
    timeout: float,
) -> OracleResult:
    """Write the rule file and test file into a temp dir and run ``promtool test rules``."""
    promtool = promtool_path()
    if promtool is None:
        raise RuntimeError("promtool not found on PATH (apt-get install prometheus)")
    rule_doc = {
        "groups": [
            {
                "name": "promtool_oracle",
                "interval": _duration(interval_s),
                "rules": [
                    {
                        "alert": rule.name,
                        "expr": rule.expr,
                        "for": _duration(rule.for_s),
                        "keep_firing_for": _duration(rule.keep_firing_for_s),
                        "labels": rule.labels,
                    }
                ],
            }
        ]
    }
    test_doc = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": _duration(interval_s),
        "tests": [
            {
                "interval": _duration(interval_s),
                "input_series": [
                    {"series": _selector(s.metric, s.labels), "values": render_values(s.values)}
                    for s in series
                ],
                "alert_rule_test": alert_tests,
                "promql_expr_test": expr_tests,
            }
        ],
    }
    rule_file = _dump(rule_doc)
    test_file = _dump(test_doc)
    with tempfile.TemporaryDirectory(prefix="promtool_oracle_") as tmp:
        Path(tmp, "rules.yml").write_text(rule_file, encoding="utf-8")
        Path(tmp, "test.yml").write_text(test_file, encoding="utf-8")
        proc = subprocess.run(
            [promtool, "test", "rules", "test.yml"],
            cwd=tmp,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            check=False,
        )
    return OracleResult(
        ok=proc.returncode == 0,
        output=proc.stdout + proc.stderr,
        test_file=test_file,
        rule_file=rule_file,
    )


def _dump(doc: Mapping[str, Any]) -> str:
    """JSON is valid YAML; NaN is not valid JSON, so refuse it rather than write a bad file."""
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _duration(seconds: int) -> str:
    """Prometheus duration string; "0s" is accepted for zero."""
    return f"{seconds}s"


def _quote(value: str) -> str:
    """Quote a PromQL string: JSON escapes (\\", \\\\, \\n, \\uXXXX) are all valid Go escapes."""
    return json.dumps(value, ensure_ascii=False)


def _selector(metric: str, labels: Mapping[str, str]) -> str:
    """``metric{a="x", ...}`` with labels sorted, so generated files are deterministic."""
    pairs = ", ".join(f"{name}={_quote(labels[name])}" for name in sorted(labels))
    return f"{metric}{{{pairs}}}"


def _alerts_query(metric: str, alertname: str) -> str:
    """Instant query for the rule's own ALERTS / ALERTS_FOR_STATE series."""
    return _selector(metric, {"alertname": alertname})


def _sample(labels: Mapping[str, str], value: float) -> dict[str, Any]:
    """An ``exp_samples`` entry; promtool parses ``labels`` as a PromQL series selector."""
    return {"labels": _selector("", labels), "value": value}


def _key(labels: Mapping[str, str], *drop: str) -> tuple[tuple[str, str], ...]:
    """Hashable, sorted identity of a label set, without the named labels."""
    return tuple(sorted((k, v) for k, v in labels.items() if k not in drop))


def _sort_key(alert: OracleAlert) -> tuple[tuple[str, str], ...]:
    """Order alerts by labels so generated test files are deterministic."""
    return _key(alert.labels)


def _parse_samples(text: str) -> list[tuple[dict[str, str], float]]:
    """Parse promtool's ``got:`` text: ``nil`` or ``{a="x", b="y"} 1E+00, {...} 6E+01``."""
    if text == "nil":
        return []
    samples: list[tuple[dict[str, str], float]] = []
    pos = 0
    while pos < len(text):
        match = _SAMPLE_RE.match(text, pos)
        if match is None:
            raise RuntimeError(f"cannot parse promtool sample list at {pos}: {text!r}")
        labels = {
            name: _go_unquote(quoted[1:-1]) for name, quoted in _LABEL_RE.findall(match["labels"])
        }
        samples.append((labels, float(match["value"])))
        pos = match.end()
    return samples


def _go_unquote(body: str) -> str:
    """Undo Go's strconv.Quote (used for label values in promtool output).

    For valid UTF-8 input, Go emits ``\\xHH`` only for ASCII control characters, so each escape
    maps to exactly one code point.
    """

    def replace(match: re.Match[str]) -> str:
        escape = match[1]
        if escape[0] in "xuU":
            return chr(int(escape[1:], 16))
        return _GO_SIMPLE_ESCAPES[escape]

    return _GO_ESCAPE_RE.sub(replace, body)


def _parse_go_duration(text: str) -> float | None:
    """Seconds of a Prometheus model.Duration string such as ``1h1m`` or ``0s``; None if invalid."""
    if not _GO_DURATION_RE.match(text):
        return None
    millis = sum(
        int(n) * _GO_DURATION_UNIT_MS[unit] for n, unit in _GO_DURATION_PART_RE.findall(text)
    )
    return millis / 1000
