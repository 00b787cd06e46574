"""Rule test files: expected alerts at given times, in the spirit of ``promtool test rules``.

A test file (TOML or YAML, one schema) names the rules to test, describes input series in
promtool's notation (:mod:`alertkit.testing.series`) and lists the alerts expected at given
evaluation times; a test may also assert the notifications a routing tree sends::

    rule_files = ["rules.toml"]          # relative to this file; or inline [[groups]]
    evaluation_interval = "1m"

    [[tests]]
    name = "CPU above 90 for 2 minutes fires"
    interval = "1m"                      # sample spacing (default: evaluation_interval)

    [[tests.input_series]]
    series = 'cpu{host="a"}'
    values = "50 95x5"

    [[tests.alert_rule_test]]
    eval_time = "4m"
    alertname = "HighCPU"

    [[tests.alert_rule_test.exp_alerts]]
    exp_labels = { host = "a" }

Semantics follow promtool: rules (in tick mode unless they set a mode) are evaluated at ``0``,
``evaluation_interval``, ``2 * evaluation_interval``... up to the last time a test asks about;
an ``eval_time`` between two evaluations sees the earlier one; ``exp_alerts`` lists exactly
the *firing* alerts of ``alertname`` (labels without ``alertname``, annotations compared
whole, an omitted ``exp_annotations`` meaning none). Differences, all documented in
``docs/how-to/rule-test-files.md``: the ``severity`` label alertkit adds to every alert is
compared only if an expected alert of the check names it; naming ``state`` in an expected
alert makes the check compare pending alerts too; ``alertname`` must name a rule under test.
"""

from __future__ import annotations

import glob
import math
import os
import time
import tomllib
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.cols import list_structure_factory
from cattrs.gen import make_dict_structure_fn, make_mapping_structure_fn, override

from alertkit._core.evaluator import Evaluator
from alertkit._core.labels import Labels
from alertkit._core.model import Alert, EvalMode
from alertkit._core.rules import Rule
from alertkit._core.timeutil import format_duration, parse_duration
from alertkit._dispatch.dispatcher import Dispatcher
from alertkit._dispatch.notification import Notification
from alertkit._dispatch.routes import ReceiverConfig, Route
from alertkit._errors import AlertkitError, RuleFileError, RuleTestFileError
from alertkit.config._locate import Locator, format_path, toml_locator, yaml_locator
from alertkit.config._rules import (
    RuleFileIssue,
    _load_one,
    _strip_field,
    _structure_issues,
    load_rules,
)
from alertkit.testing.replay import _Run, parse_series_name
from alertkit.testing.series import SeriesValue, Stale, parse_series

__all__ = [
    "AlertCheck",
    "CaseResult",
    "CheckFailure",
    "ExpectedAlert",
    "ExpectedNotification",
    "FileResult",
    "RuleTestCase",
    "RuleTestFile",
    "check_routing_file",
    "load_test_file",
    "run_loaded",
    "run_test_file",
    "run_test_files",
]

PathT = tuple[str | int, ...]
#: The most evaluations one test may ask for (its last time / evaluation_interval).
MAX_EVALUATIONS = 1_000_000
_STATES = ("firing", "pending")


# -- the schema (structured by cattrs; unknown keys are errors) ------------------------------


@attrs.frozen
class _ExpAlertSpec:
    exp_labels: dict[str, str] = attrs.field(factory=dict)
    exp_annotations: dict[str, str] = attrs.field(factory=dict)
    state: str | None = None


@attrs.frozen
class _AlertTestSpec:
    eval_time: Any
    alertname: str
    exp_alerts: list[_ExpAlertSpec] = attrs.field(factory=list)


@attrs.frozen
class _SeriesSpec:
    series: str
    values: str


@attrs.frozen
class _NotificationSpec:
    receiver: str
    at: Any = None
    firing: list[dict[str, str]] = attrs.field(factory=list)
    resolved: list[dict[str, str]] = attrs.field(factory=list)


@attrs.frozen
class _CaseSpec:
    name: str | None = None
    interval: Any = None
    input_series: list[_SeriesSpec] = attrs.field(factory=list)
    alert_rule_test: list[_AlertTestSpec] = attrs.field(factory=list)
    notifications: list[_NotificationSpec] | None = None
    end: Any = None


@attrs.frozen
class _FileSpec:
    tests: list[_CaseSpec]
    rule_files: list[str] = attrs.field(factory=list)
    groups: list[Any] | None = None
    evaluation_interval: Any = "1m"
    routes: dict[str, Any] | None = None
    receivers: list[str] | None = None


def _strict_str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _converter() -> cattrs.Converter:
    c = cattrs.Converter(forbid_extra_keys=True)
    c.register_structure_hook(str, _strict_str)

    c.register_structure_hook_factory(_is_list, _strict_list)
    c.register_structure_hook_factory(_is_dict, _strict_dict)
    overrides: dict[type, dict[str, Any]] = {
        _FileSpec: {"groups": override(struct_hook=lambda v, _: v),
                    "routes": override(struct_hook=_mapping)},
    }
    for cls in (_ExpAlertSpec, _AlertTestSpec, _SeriesSpec, _NotificationSpec, _CaseSpec,
                _FileSpec):
        c.register_structure_hook(cls, _table(make_dict_structure_fn(
            cls, c, **overrides.get(cls, {}), _cattrs_forbid_extra_keys=True)))
    return c


def _is_list(tp: Any) -> bool:
    return typing.get_origin(tp) is list


def _is_dict(tp: Any) -> bool:
    return typing.get_origin(tp) is dict


def _strict_list(tp: Any, conv: cattrs.BaseConverter) -> Callable[[Any, Any], Any]:
    base = list_structure_factory(tp, conv)

    def structure(value: object, t: Any) -> Any:
        if not isinstance(value, list):  # a string is not a list of its characters
            raise TypeError(f"expected a list, got {value!r}")
        return base(value, t)

    return structure


def _strict_dict(tp: Any, conv: cattrs.BaseConverter) -> Callable[[Any, Any], Any]:
    return _table(make_mapping_structure_fn(tp, conv))


def _table(base: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A class is structured from a table only: say so, rather than fail on ``.keys()``."""

    def structure(value: object, tp: Any) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a table, got {value!r}")
        return base(value, tp)

    return structure


def _mapping(value: object, _: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a table, got {value!r}")
    return dict(value)


_CONVERTER = _converter()


# -- the loaded, validated test file -----------------------------------------------------------


@attrs.frozen
class ExpectedAlert:
    """One alert a check expects: labels (without ``alertname``), annotations and state."""

    labels: Labels
    annotations: Mapping[str, str]
    state: str = "firing"

    def __str__(self) -> str:
        return _show_alert(self.state, self.labels, self.annotations)


@attrs.frozen
class AlertCheck:
    """The alerts of one rule expected right after the evaluation at ``eval_time``."""

    eval_time: float
    alertname: str
    expected: tuple[ExpectedAlert, ...]
    with_pending: bool
    compare_severity: bool
    where: str


@attrs.frozen
class ExpectedNotification:
    """One notification a test expects: receiver, send time (if given) and alert label subsets."""

    receiver: str
    at: float | None
    firing: tuple[Mapping[str, str], ...]
    resolved: tuple[Mapping[str, str], ...]

    def __str__(self) -> str:
        at = "" if self.at is None else f"at {format_duration(self.at)} "
        return (f"{at}to {self.receiver}: firing [{', '.join(map(_show, self.firing))}] "
                f"resolved [{', '.join(map(_show, self.resolved))}]")


@attrs.frozen
class RuleTestCase:
    """One entry of ``tests``: input series and what must happen."""

    name: str
    index: int
    interval: float
    series: Mapping[tuple[str, Labels], tuple[SeriesValue, ...]]
    checks: tuple[AlertCheck, ...]
    notifications: tuple[ExpectedNotification, ...] | None
    end: float | None = None


@attrs.frozen
class RuleTestFile:
    """A loaded and validated rule test file."""

    path: str
    rules: tuple[Rule, ...]
    evaluation_interval: float
    cases: tuple[RuleTestCase, ...]
    routes: Route | None
    receivers: tuple[str, ...] | None


# -- results --------------------------------------------------------------------------------


@attrs.frozen
class CheckFailure:
    """A check whose expectation and outcome differ; ``str()`` is the readable diff."""

    what: str
    expected: tuple[str, ...]
    got: tuple[str, ...]
    #: what was expected and did not happen (``-`` lines), and what happened unexpectedly (``+``)
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [f"{self.what}:"]
        lines.append(f"  expected ({len(self.expected)}):")
        lines += [f"    {e}" for e in self.expected] or ["    (nothing)"]
        lines.append(f"  got ({len(self.got)}):")
        lines += [f"    {g}" for g in self.got] or ["    (nothing)"]
        lines += [f"  - {m}" for m in self.missing]
        lines += [f"  + {u}" for u in self.unexpected]
        return "\n".join(lines)


def _minus(a: Sequence[str], b: Sequence[str]) -> list[str]:
    rest = list(b)
    out = []
    for x in a:
        if x in rest:
            rest.remove(x)
        else:
            out.append(x)
    return out


@attrs.frozen
class CaseResult:
    """The outcome of one test of a file; ``error`` is set if it could not run."""

    name: str
    failures: tuple[CheckFailure, ...] = ()
    error: str | None = None
    #: wall-clock seconds the test took (for reports such as JUnit XML)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and self.error is None


@attrs.frozen
class FileResult:
    """The outcome of every test of one file."""

    path: str
    cases: tuple[CaseResult, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.cases)


# -- loading ----------------------------------------------------------------------------------


class _Issues:
    def __init__(self, source: str, locate: Locator | None) -> None:
        self.source = source
        self.locate = locate
        self.list: list[RuleFileIssue] = []

    def add(self, path: PathT, message: str) -> None:
        # (*path, 0): a list's problem is shown at its first element ([[tests.notifications]]
        # has no line of its own); for anything else the locator falls back to the path itself.
        line = self.locate((*path, 0)) if self.locate is not None else None
        self.list.append(RuleFileIssue(self.source, line, format_path(path), message))


def _read(path: Path) -> tuple[object, Locator | None, RuleFileIssue | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, None, RuleFileIssue(str(path), None, "", f"cannot read: {exc}")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            return tomllib.loads(text), toml_locator(text), None
        except tomllib.TOMLDecodeError as exc:
            return None, None, RuleFileIssue(str(path), _toml_line(exc), "",
                                             f"not valid TOML: {exc}")
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:  # pragma: no cover - the yaml extra is installed in CI
            return None, None, RuleFileIssue(str(path), None, "", "YAML test files need the "
                                             "'yaml' extra: pip install 'alertkit[yaml]'")
        try:
            return yaml.safe_load(text), yaml_locator(text), None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            return None, None, RuleFileIssue(str(path), None if mark is None else mark.line + 1,
                                             "", f"not valid YAML: {exc}")
    return None, None, RuleFileIssue(str(path), None, "", f"unknown test file type {suffix!r} "
                                     "(use .toml, .yaml or .yml)")


def _toml_line(exc: tomllib.TOMLDecodeError) -> int | None:
    text = str(exc)
    if "(at line " in text:
        try:
            return int(text.split("(at line ", 1)[1].split(",", 1)[0])
        except ValueError:
            return None
    return None


def load_test_file(path: str | os.PathLike[str]) -> RuleTestFile:
    """Read and validate a rule test file and the rule files it names.

    Every problem is reported in one :class:`~alertkit.RuleTestFileError`, each with the file,
    the line and the field path (``tests[0].input_series[1].values``).
    """
    p = Path(path)
    data, locate, problem = _read(p)
    if problem is not None:
        raise RuleTestFileError([problem])
    issues = _Issues(str(p), locate)
    if not isinstance(data, Mapping):
        issues.add((), f"expected a table with a 'tests' list, got {type(data).__name__}")
        raise RuleTestFileError(issues.list)
    try:
        spec = _CONVERTER.structure(data, _FileSpec)
    except Exception as exc:  # cattrs groups every structural problem
        collector = _Collector(issues)
        _structure_issues(exc, (), collector)  # type: ignore[arg-type]
        issues.list.sort(key=lambda i: (i.line or 0, i.path))
        raise RuleTestFileError(issues.list) from None
    result = _validate(p, spec, issues)
    if issues.list or result is None:
        raise RuleTestFileError(issues.list)
    return result


class _Collector:
    """Adapts :class:`_Issues` to what ``_structure_issues`` of the rule loader calls."""

    def __init__(self, issues: _Issues) -> None:
        self.issues = issues

    def add(self, path: PathT, message: str) -> None:
        self.issues.add(path, message)


def _duration(value: object, path: PathT, issues: _Issues, *, allow_zero: bool) -> float | None:
    try:
        return parse_duration(value, field=format_path(path), allow_zero=allow_zero)  # type: ignore[arg-type]
    except AlertkitError as exc:
        message = str(exc)
        head = format_path(path) + ": "
        issues.add(path, message[len(head):] if message.startswith(head) else message)
        return None


def _rule_paths(base: Path, names: Sequence[str], issues: _Issues) -> list[Path]:
    out: list[Path] = []
    for i, name in enumerate(names):
        full = name if os.path.isabs(name) else str(base / name)
        if glob.has_magic(name):
            found = sorted(glob.glob(full))
            if not found:
                issues.add(("rule_files", i), f"{name!r} matches no file")
            out.extend(Path(f) for f in found)
        else:
            out.append(Path(full))
    return out


def _validate(p: Path, spec: _FileSpec, issues: _Issues) -> RuleTestFile | None:
    rules: list[Rule] = []
    if spec.rule_files:
        paths = _rule_paths(p.parent, spec.rule_files, issues)
        try:
            rules.extend(load_rules(*paths))
        except RuleFileError as exc:
            issues.list.extend(i for i in exc.issues if isinstance(i, RuleFileIssue))
    if spec.groups is not None:
        names = {r.name: "rule_files" for r in rules}
        inline, found = _load_one({"groups": spec.groups}, str(p), issues.locate, names)
        rules.extend(inline)
        issues.list.extend(found)
    if not spec.rule_files and spec.groups is None:
        issues.add((), "no rules to test: give rule_files or inline [[groups]]")
    ei = _duration(spec.evaluation_interval, ("evaluation_interval",), issues, allow_zero=False)
    routes, receivers = _routing(spec, issues)
    rule_names = {r.name for r in rules}
    cases = []
    for ci, case in enumerate(spec.tests):
        built = _case(ci, case, ei, rule_names, receivers, issues)
        if built is not None:
            cases.append(built)
    if not spec.tests:
        issues.add(("tests",), "no tests: add at least one [[tests]] entry")
    if issues.list or ei is None:
        return None
    return RuleTestFile(str(p), tuple(rules), ei, tuple(cases), routes,
                        None if receivers is None else tuple(receivers))


def _routing(spec: _FileSpec, issues: _Issues) -> tuple[Route | None, list[str] | None]:
    receivers = spec.receivers
    routes: Route | None = None
    if spec.routes is not None:
        routes = _route(spec.routes, ("routes",), issues)
        if receivers is None and routes is not None:
            receivers = []
            _receivers_of(routes, receivers)
    elif receivers is not None:
        if not receivers:
            issues.add(("receivers",), "empty; name at least one receiver")
        else:
            routes = Route(receiver=receivers[0]) if _receiver_ok(receivers, issues) else None
    if routes is not None and routes.receiver is None:
        issues.add(("routes", "receiver"), "the root route needs a receiver")
        routes = None
    if routes is not None and receivers:
        try:
            Dispatcher(routes, [ReceiverConfig(name=n) for n in receivers])
        except AlertkitError as exc:
            issues.add(("routes",), str(exc))
            routes = None
    return routes, receivers


def _receiver_ok(receivers: list[str], issues: _Issues) -> bool:
    ok = True
    for i, name in enumerate(receivers):
        try:
            ReceiverConfig(name=name)
        except AlertkitError as exc:
            issues.add(("receivers", i), str(exc))
            ok = False
    return ok


_ROUTE_KEYS = {
    "receiver": "receiver", "matchers": "matchers", "group_by": "group_by",
    "group_wait": "group_wait", "group_interval": "group_interval",
    "repeat_interval": "repeat_interval", "continue": "continue_", "routes": "routes",
    "mute_time_intervals": "mute_time_intervals",
    "active_time_intervals": "active_time_intervals",
}


def _route(data: Mapping[str, Any], path: PathT, issues: _Issues) -> Route | None:
    """A :class:`~alertkit.Route` from a table with Alertmanager's keys (``continue``...)."""
    kwargs: dict[str, Any] = {}
    ok = True
    for key, value in data.items():
        attr = _ROUTE_KEYS.get(key)
        if attr is None:
            issues.add((*path, key), "unknown key")
            ok = False
            continue
        if key == "routes":
            if not isinstance(value, list):
                issues.add((*path, key), f"expected a list of routes, got {value!r}")
                ok = False
                continue
            children = []
            for i, child in enumerate(value):
                if not isinstance(child, Mapping):
                    issues.add((*path, key, i), f"expected a table, got {child!r}")
                    ok = False
                    continue
                built = _route(child, (*path, key, i), issues)
                ok = ok and built is not None
                if built is not None:
                    children.append(built)
            value = children
        try:
            Route(**{attr: value}) if key not in ("routes", "receiver") else None
        except AlertkitError as exc:
            issues.add((*path, key), _strip_field(str(exc)))
            ok = False
            continue
        kwargs[attr] = value
    if not ok:
        return None
    try:
        return Route(**kwargs)
    except AlertkitError as exc:
        issues.add(path, str(exc))
        return None


def _receivers_of(route: Route, out: list[str]) -> None:
    if route.receiver is not None and route.receiver not in out:
        out.append(route.receiver)
    for child in route.routes:
        _receivers_of(child, out)


def _labels(value: Mapping[str, str], path: PathT, issues: _Issues) -> Labels | None:
    try:
        return Labels(value)
    except AlertkitError as exc:
        issues.add(path, str(exc))
        return None


def _case(ci: int, case: _CaseSpec, ei: float | None, rule_names: set[str],
          receivers: list[str] | None, issues: _Issues) -> RuleTestCase | None:
    base: PathT = ("tests", ci)
    n_before = len(issues.list)
    interval = ei if case.interval is None else _duration(
        case.interval, (*base, "interval"), issues, allow_zero=False)
    series: dict[tuple[str, Labels], tuple[SeriesValue, ...]] = {}
    for si, s in enumerate(case.input_series):
        spath = (*base, "input_series", si)
        key: tuple[str, Labels] | None = None
        values: tuple[SeriesValue, ...] | None = None
        try:
            key = parse_series_name(s.series)
        except AlertkitError as exc:
            issues.add((*spath, "series"), str(exc))
        try:
            values = tuple(parse_series(s.values))
        except AlertkitError as exc:
            issues.add((*spath, "values"), str(exc))
        if key is None or values is None:
            continue
        if key in series:
            issues.add((*spath, "series"), f"series {s.series!r} is given twice")
            continue
        series[key] = values
    checks = []
    for ai, at in enumerate(case.alert_rule_test):
        apath = (*base, "alert_rule_test", ai)
        t = _duration(at.eval_time, (*apath, "eval_time"), issues, allow_zero=True)
        if t is not None:
            _check_span(t, ei, (*apath, "eval_time"), issues)
        if rule_names and at.alertname not in rule_names:
            issues.add((*apath, "alertname"), f"no rule named {at.alertname!r} in the rules "
                       f"under test ({', '.join(sorted(rule_names))})")
        expected = []
        for ei_, ea in enumerate(at.exp_alerts):
            epath = (*apath, "exp_alerts", ei_)
            labels = _labels(ea.exp_labels, (*epath, "exp_labels"), issues)
            if "alertname" in ea.exp_labels:
                issues.add((*epath, "exp_labels", "alertname"),
                           "leave alertname out: the check's alertname is implied")
            if ea.state is not None and ea.state not in _STATES:
                issues.add((*epath, "state"), f"{ea.state!r} is not one of firing, pending")
            if labels is not None:
                expected.append(ExpectedAlert(labels, dict(ea.exp_annotations),
                                              ea.state or "firing"))
        if t is not None:
            checks.append(AlertCheck(
                eval_time=t, alertname=at.alertname, expected=tuple(expected),
                with_pending=any(ea.state is not None for ea in at.exp_alerts),
                compare_severity=any("severity" in ea.exp_labels for ea in at.exp_alerts),
                where=format_path(apath)))
    notifications = None
    if case.notifications is not None:
        if receivers is None:
            issues.add((*base, "notifications"), "asserting notifications needs a routing "
                       "tree: add a top-level [routes] table (or a receivers list)")
        notifications = []
        for ni, n in enumerate(case.notifications):
            npath = (*base, "notifications", ni)
            if receivers is not None and n.receiver not in receivers:
                issues.add((*npath, "receiver"), f"no receiver named {n.receiver!r} "
                           f"(receivers: {', '.join(receivers)})")
            at_t = None if n.at is None else _duration(n.at, (*npath, "at"), issues,
                                                       allow_zero=True)
            if at_t is not None:
                _check_span(at_t, ei, (*npath, "at"), issues)
            for kind in ("firing", "resolved"):
                for li, subset in enumerate(getattr(n, kind)):
                    _labels(subset, (*npath, kind, li), issues)
            notifications.append(ExpectedNotification(
                n.receiver, at_t, tuple(n.firing), tuple(n.resolved)))
    end = None if case.end is None else _duration(case.end, (*base, "end"), issues,
                                                  allow_zero=True)
    if end is not None:
        _check_span(end, ei, (*base, "end"), issues)
    if len(issues.list) > n_before or interval is None:
        return None
    return RuleTestCase(
        name=case.name or f"tests[{ci}]", index=ci, interval=interval, series=series,
        checks=tuple(checks), notifications=None if notifications is None else
        tuple(notifications), end=end)


def _check_span(t: float, ei: float | None, path: PathT, issues: _Issues) -> None:
    """A typo like ``evaluation_interval = "1ms"`` must not start billions of evaluations."""
    if ei is not None and t / ei > MAX_EVALUATIONS:
        issues.add(path, f"{format_duration(t)} is more than {MAX_EVALUATIONS} evaluations "
                   f"of {format_duration(ei)}")


def check_routing_file(path: str | os.PathLike[str]) -> tuple[Route, tuple[str, ...]]:
    """Read and validate a routing file: a ``routes`` table (Alertmanager's route keys,
    ``continue`` included) and an optional ``receivers`` list of names (default: every receiver
    the routes name). Raises :class:`~alertkit.RuleTestFileError` listing every problem."""
    p = Path(path)
    data, locate, problem = _read(p)
    if problem is not None:
        raise RuleTestFileError([problem])
    issues = _Issues(str(p), locate)
    if not isinstance(data, Mapping):
        issues.add((), f"expected a table with a 'routes' table, got {type(data).__name__}")
        raise RuleTestFileError(issues.list)
    for key in sorted(set(data) - {"routes", "receivers"}):
        issues.add((key,), "unknown key")
    routes_data, receivers = data.get("routes"), data.get("receivers")
    if not isinstance(routes_data, Mapping):
        issues.add(("routes",), "required: a table with at least a receiver")
    if receivers is not None and (not isinstance(receivers, list)
                                  or not all(isinstance(r, str) for r in receivers)):
        issues.add(("receivers",), f"expected a list of receiver names, got {receivers!r}")
        receivers = None
    if issues.list:
        raise RuleTestFileError(issues.list)
    spec = _FileSpec(tests=[], routes=dict(routes_data), receivers=receivers)  # type: ignore[arg-type]
    routes, names = _routing(spec, issues)
    if issues.list or routes is None:
        raise RuleTestFileError(issues.list)
    return routes, tuple(names or ())


# -- running -------------------------------------------------------------------------------


def run_test_file(path: str | os.PathLike[str]) -> FileResult:
    """Load and run every test of a rule test file; raises :class:`~alertkit.RuleTestFileError`
    if the file (or a rule file it names) is invalid."""
    return run_loaded(load_test_file(path))


def run_loaded(loaded: RuleTestFile, *, select: Callable[[str], bool] | None = None
               ) -> FileResult:
    """Run the tests of a file :func:`load_test_file` returned (those whose name ``select``
    accepts, if given)."""
    results = []
    for case in loaded.cases:
        if select is not None and not select(case.name):
            continue
        began = time.perf_counter()
        result = _run_case(loaded, case)
        results.append(attrs.evolve(result, seconds=time.perf_counter() - began))
    return FileResult(loaded.path, tuple(results))


def run_test_files(paths: Iterable[str | os.PathLike[str]]) -> list[FileResult]:
    """Run several files; every invalid file is reported in one
    :class:`~alertkit.RuleTestFileError` before anything runs."""
    loaded = []
    issues: list[object] = []
    for path in paths:
        try:
            loaded.append(load_test_file(path))
        except RuleTestFileError as exc:
            issues.extend(exc.issues)
    if issues:
        raise RuleTestFileError(issues)
    return [run_loaded(f) for f in loaded]


def _run_case(f: RuleTestFile, case: RuleTestCase) -> CaseResult:
    ei = f.evaluation_interval
    times = [c.eval_time for c in case.checks]
    times += [n.at for n in case.notifications or () if n.at is not None]
    end = max(times, default=0.0)
    if case.end is not None:
        end = max(end, case.end)
    elif case.notifications is not None and not any(n.at is not None
                                                    for n in case.notifications):
        # Without send times, notifications are asserted over the whole input.
        end = max(end, max((len(v) - 1) * case.interval for v in case.series.values())
                  if case.series else 0.0)
    n_ticks = math.floor(end / ei + 1e-9) + 1
    ticks = [i * ei for i in range(n_ticks)]
    points: list[tuple[float, tuple[str, Labels], float | None]] = []
    for key, values in case.series.items():
        for i, v in enumerate(values):
            t = i * case.interval
            if v is None or t > ticks[-1]:
                continue
            points.append((t, key, None if isinstance(v, Stale) else v))
    points.sort(key=lambda p: p[0])
    try:
        ev = Evaluator(f.rules, mode=EvalMode.TICK)
        disp = None
        if f.routes is not None and f.receivers:
            disp = Dispatcher(f.routes, [ReceiverConfig(name=n) for n in f.receivers])
        # replay()'s loop, driven one evaluation at a time: a check needs the alerts as they
        # are right after its evaluation, with annotations rendered from the value then (a
        # Timeline only keeps events, whose annotations are those of the state change).
        run = _Run(ev, disp, 0.0, ticks[-1], None)
        wanted = {_tick_of(t, ei) for t in times}
        snapshots: dict[float, list[Alert]] = {}
        i = 0
        for t in ticks:
            j = i
            while j < len(points) and points[j][0] <= t:
                j += 1
            run.end = t  # dispatch nothing beyond this tick yet
            run.go(points[i:j], iter([t]))
            i = j
            if t in wanted:
                snapshots[t] = ev.alerts(run.state)
        if end > ticks[-1]:  # notifications due after the last evaluation
            run.end = end
            run.go([], iter(()))
    except AlertkitError as exc:
        return CaseResult(case.name, error=f"the replay failed: {exc}")
    failures = [fail for check in case.checks
                if (fail := _check_alerts(check, snapshots[_tick_of(check.eval_time, ei)]))]
    if case.notifications is not None:
        fail = _check_notifications(case.notifications, run.notifications)
        if fail is not None:
            failures.append(fail)
    return CaseResult(case.name, tuple(failures))


def _tick_of(t: float, ei: float) -> float:
    """The evaluation an ``eval_time`` sees: the last one at or before it (promtool)."""
    return math.floor(t / ei + 1e-9) * ei


def _check_alerts(check: AlertCheck, alerts: list[Alert]) -> CheckFailure | None:
    states = _STATES if check.with_pending else ("firing",)
    got = []
    for a in alerts:
        if a.rule != check.alertname or a.state.value not in states:
            continue
        drop = ("alertname",) if check.compare_severity else ("alertname", "severity")
        got.append(_show_alert(a.state.value, a.labels.without(*drop), a.annotations))
    expected = [str(e) for e in check.expected]
    if sorted(got) == sorted(expected):
        return None
    shown = "firing and pending" if check.with_pending else "firing"
    return CheckFailure(
        what=f"{check.where}: {shown} alerts of {check.alertname} at eval_time "
             f"{format_duration(check.eval_time)}",
        expected=tuple(sorted(expected)), got=tuple(sorted(got)),
        missing=tuple(_minus(sorted(expected), got)),
        unexpected=tuple(_minus(sorted(got), expected)))


def _check_notifications(expected: Sequence[ExpectedNotification],
                         got: Sequence[Notification]) -> CheckFailure | None:
    # In order: the i-th expected notification describes the i-th one sent.
    missing = [str(e) for i, e in enumerate(expected)
               if i >= len(got) or not _notification_matches(e, got[i])]
    unexpected = [_show_notification(n) for i, n in enumerate(got)
                  if i >= len(expected) or not _notification_matches(expected[i], n)]
    if not missing and not unexpected:
        return None
    return CheckFailure(what="notifications, in the order they were sent",
                        expected=tuple(str(e) for e in expected),
                        got=tuple(_show_notification(n) for n in got),
                        missing=tuple(missing), unexpected=tuple(unexpected))


def _notification_matches(e: ExpectedNotification, n: Notification) -> bool:
    if e.receiver != n.receiver or (e.at is not None and e.at != n.created_at):
        return False
    return _subsets_match(e.firing, n.firing) and _subsets_match(e.resolved, n.resolved)


def _subsets_match(want: Sequence[Mapping[str, str]], alerts: Sequence[Alert]) -> bool:
    if len(want) != len(alerts):
        return False
    free = list(alerts)
    for subset in want:
        for a in free:
            if all(a.labels.get(k, "") == v for k, v in subset.items()):
                free.remove(a)
                break
        else:
            return False
    return True


def _show(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if v) + "}"


def _show_alert(state: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    text = f"{state} {_show(labels)}"
    if annotations:
        text += " annotations " + "{" + ", ".join(
            f"{k}={v!r}" for k, v in sorted(annotations.items())) + "}"
    return text


def _show_notification(n: Notification) -> str:
    firing = ", ".join(_show(a.labels.without("severity")) for a in n.firing)
    resolved = ", ".join(_show(a.labels.without("severity")) for a in n.resolved)
    return (f"at {format_duration(n.created_at)} to {n.receiver}: firing [{firing}] "
            f"resolved [{resolved}]")

