"""Load rules from dicts, TOML and YAML files.

One schema everywhere (see :func:`rule_file_schema`)::

    [[groups]]
    name = "hosts"
    labels = { team = "infra" }          # defaults for the group's rules
    stale_after = "5m"

    [[groups.rules]]
    name = "HighCPU"
    expr = "consecutive(cpu_usage_percent >= 85, 2, 2)"
    for = "1m"
    severity = "high"
    annotations = { summary = "CPU at {{ value }}% on {{ labels.host }}" }

Structure is checked by cattrs (unknown keys are errors), values by the same
validators as the Python API. Every problem is reported, each with the file,
the line and the field path; loading several files reports all of them.
"""

from __future__ import annotations

import tomllib
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, override

from alertkit._core.rules import Rule
from alertkit._errors import AlertkitError, RuleFileError

from ._locate import Locator, format_path, toml_locator, yaml_locator

__all__ = ["RuleFileIssue", "load_rules", "rule_file_schema", "rules_from_dict"]

PathT = tuple[str | int, ...]


def _doc(text: str) -> dict[str, str]:
    return {"description": text}


@attrs.frozen
class RuleSpec:
    name: str = attrs.field(metadata=_doc("the alert name (the alertname label)"))
    expr: str = attrs.field(metadata=_doc("the condition, in the expression language"))
    for_: Any = attrs.field(default=None, metadata=_doc(
        'how long the condition must hold before firing ("5m", seconds)'))
    keep_firing_for: Any = attrs.field(default=None, metadata=_doc(
        "how long a firing alert keeps firing after its condition stops holding"))
    recovery: str | None = attrs.field(default=None, metadata=_doc(
        "hysteresis: the condition a firing alert needs before it resolves"))
    severity: str | None = attrs.field(default=None, metadata=_doc(
        "critical, high, medium (default), low or info"))
    labels: dict[str, str] = attrs.field(factory=dict, metadata=_doc(
        "labels added to the alert (override series labels and the group's)"))
    annotations: dict[str, str] = attrs.field(factory=dict, metadata=_doc(
        "jinja2 templates: labels, value, rule, severity"))
    stale_after: Any = attrs.field(default=None, metadata=_doc(
        "how long a series' last sample still counts"))
    no_data: str | None = attrs.field(default=None, metadata=_doc("ok, keep or alert"))
    mode: str | None = attrs.field(default=None, metadata=_doc("sample or tick"))


@attrs.frozen
class GroupSpec:
    name: str = attrs.field(metadata=_doc("the group's name"))
    rules: list[RuleSpec] = attrs.field(factory=list)
    labels: dict[str, str] = attrs.field(factory=dict, metadata=_doc(
        "labels for every rule of the group"))
    annotations: dict[str, str] = attrs.field(factory=dict, metadata=_doc(
        "annotations for every rule of the group"))
    stale_after: Any = attrs.field(default=None, metadata=_doc("default stale_after"))
    severity: str | None = attrs.field(default=None, metadata=_doc("default severity"))
    no_data: str | None = attrs.field(default=None, metadata=_doc("default no-data policy"))
    mode: str | None = attrs.field(default=None, metadata=_doc("default evaluation mode"))


@attrs.frozen
class RuleFileSpec:
    groups: list[GroupSpec] = attrs.field(factory=list)


def _strict_str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _converter() -> cattrs.Converter:
    c = cattrs.Converter(forbid_extra_keys=True)
    c.register_structure_hook(str, _strict_str)
    c.register_structure_hook(RuleSpec, make_dict_structure_fn(
        RuleSpec, c, for_=override(rename="for"), _cattrs_forbid_extra_keys=True))
    return c


_CONVERTER = _converter()


@attrs.frozen
class RuleFileIssue:
    """One problem in a rule file."""

    source: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class _Collector:
    def __init__(self, source: str, locate: Locator | None) -> None:
        self.source = source
        self.locate = locate
        self.issues: list[RuleFileIssue] = []

    def add(self, path: PathT, message: str) -> None:
        line = self.locate(path) if self.locate is not None else None
        self.issues.append(RuleFileIssue(self.source, line, format_path(path), message))


def _structure_issues(exc: BaseException, path: PathT, out: _Collector) -> None:
    if isinstance(exc, ClassValidationError | IterableValidationError):
        with_notes, others = exc.group_exceptions()
        for sub, note in with_notes:
            key = note.name if hasattr(note, "name") else note.index
            if key == "for_":
                key = "for"
            _structure_issues(sub, (*path, key), out)
        for sub in others:
            _structure_issues(sub, path, out)
    elif isinstance(exc, ForbiddenExtraKeysError):
        for key in sorted(exc.extra_fields):
            out.add((*path, key), "unknown key")
    elif isinstance(exc, KeyError):
        out.add(path, "required key missing")
    else:
        out.add(path, str(exc) if isinstance(exc, TypeError) else f"invalid value: {exc}")


def _build(spec: RuleFileSpec, out: _Collector, names: dict[str, str]) -> list[Rule]:
    rules = []
    for gi, group in enumerate(spec.groups):
        for ri, rs in enumerate(group.rules):
            path: PathT = ("groups", gi, "rules", ri)
            rule = _build_rule(group, rs, path, out)
            if rule is None:
                continue
            where = f"{out.source}, {format_path(path)}"
            if rule.name in names:
                out.add((*path, "name"), f"rule {rule.name!r} is defined twice (first at "
                                         f"{names[rule.name]})")
                continue
            names[rule.name] = where
            rules.append(rule)
    return rules


def _build_rule(group: GroupSpec, rs: RuleSpec, path: PathT, out: _Collector) -> Rule | None:
    # Each field is checked on its own, so every bad field is reported, not only the first.
    from alertkit._core.expr import parse_condition

    ok = True
    fields: dict[str, Any] = {"name": rs.name}
    for key, text in (("condition", rs.expr), ("recovery", rs.recovery)):
        if text is None:
            continue
        try:
            fields[key] = parse_condition(text)
        except AlertkitError as exc:
            out.add((*path, "expr" if key == "condition" else key), str(exc))
            ok = False
    candidates: dict[str, tuple[str, Any]] = {
        "for_": ("for", rs.for_),
        "keep_firing_for": ("keep_firing_for", rs.keep_firing_for),
        "stale_after": ("stale_after", rs.stale_after if rs.stale_after is not None
                        else group.stale_after),
        "severity": ("severity", rs.severity or group.severity),
        "no_data": ("no_data", rs.no_data or group.no_data),
        "mode": ("mode", rs.mode or group.mode),
    }
    for attr, (key, value) in candidates.items():
        if value is None:
            continue
        try:  # validate alone, with the converter the Rule itself uses
            field = attrs.fields_dict(Rule)[attr]
            assert field.converter is not None
            field.converter(value)  # type: ignore[operator]
        except AlertkitError as exc:
            out.add((*path, key), _strip_field(str(exc)))
            ok = False
        else:
            fields[attr] = value
    fields["labels"] = {**group.labels, **rs.labels}
    fields["annotations"] = {**group.annotations, **rs.annotations}
    if not ok:
        return None
    try:
        return Rule(**fields)
    except AlertkitError as exc:
        out.add(path, str(exc))
        return None


def _strip_field(message: str) -> str:
    """Drop the ``field: `` prefix of a validator's message: the path says it already."""
    head, sep, rest = message.partition(": ")
    return rest if sep and " " not in head else message


def _load_one(data: object, source: str, locate: Locator | None,
              names: dict[str, str]) -> tuple[list[Rule], list[RuleFileIssue]]:
    out = _Collector(source, locate)
    if not isinstance(data, Mapping):
        out.add((), f"expected a table with a 'groups' list, got {type(data).__name__}")
        return [], out.issues
    try:
        spec = _CONVERTER.structure(data, RuleFileSpec)
    except Exception as exc:  # cattrs groups every structural problem
        _structure_issues(exc, (), out)
        out.issues.sort(key=lambda i: (i.line or 0, i.path))
        return [], out.issues
    rules = _build(spec, out, names)
    return rules, out.issues


def rules_from_dict(data: Mapping[str, Any], *, source: str = "<dict>") -> list[Rule]:
    """Rules from a dict in the rule-file schema; raises :class:`RuleFileError`."""
    rules, issues = _load_one(data, source, None, {})
    if issues:
        raise RuleFileError(issues)
    return rules


def load_rules(*paths: str | Path) -> list[Rule]:
    """Rules from TOML (``.toml``) and YAML (``.yaml``/``.yml``, needs the ``yaml`` extra)
    files. Every problem in every file is reported in one :class:`RuleFileError`."""
    all_rules: list[Rule] = []
    issues: list[RuleFileIssue] = []
    names: dict[str, str] = {}
    for p in _expand(paths):
        path = Path(p)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(RuleFileIssue(str(path), None, "", f"cannot read: {exc}"))
            continue
        data, locate, problem = _parse(path, text)
        if problem is not None:
            issues.append(problem)
            continue
        rules, found = _load_one(data, str(path), locate, names)
        all_rules.extend(rules)
        issues.extend(found)
    if issues:
        raise RuleFileError(issues)
    return all_rules


def _expand(paths: Iterable[str | Path]) -> list[str | Path]:
    return list(paths)


def _parse(path: Path, text: str) -> tuple[object, Locator | None, RuleFileIssue | None]:
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            return tomllib.loads(text), toml_locator(text), None
        except tomllib.TOMLDecodeError as exc:
            return None, None, RuleFileIssue(str(path), _toml_error_line(exc), "", str(exc))
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            return None, None, RuleFileIssue(str(path), None, "", "YAML rule files need the "
                                             "'yaml' extra: pip install 'alertkit[yaml]'")
        try:
            return yaml.safe_load(text), yaml_locator(text), None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            return None, None, RuleFileIssue(str(path), line, "", f"not valid YAML: {exc}")
    return None, None, RuleFileIssue(str(path), None, "", f"unknown rule file type {suffix!r} "
                                     f"(use .toml, .yaml or .yml)")


def _toml_error_line(exc: tomllib.TOMLDecodeError) -> int | None:
    # tomllib puts "(at line N, column M)" at the end of its message
    text = str(exc)
    marker = "(at line "
    if marker in text:
        try:
            return int(text.split(marker, 1)[1].split(",", 1)[0])
        except ValueError:
            return None
    return None


# -- JSON Schema --------------------------------------------------------------------------


def _schema_of(cls: type) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required = []
    for field in attrs.fields(attrs.resolve_types(cls)):
        name = "for" if field.name == "for_" else field.name
        properties[name] = {**_type_schema(field.type), **dict(field.metadata)}
        if field.default is attrs.NOTHING:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


_DURATION = {"oneOf": [{"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|y|w|d|h|m|s))+$|^\d+$"},
                       {"type": "number", "minimum": 0}]}


def _type_schema(tp: Any) -> dict[str, Any]:
    if tp is Any:  # durations: the loader validates them like the Python API does
        return dict(_DURATION)
    if tp is str or tp == (str | None):
        return {"type": "string"}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is dict and args == (str, str):
        return {"type": "object", "additionalProperties": {"type": "string"}}
    if origin is list and attrs.has(args[0]):
        return {"type": "array", "items": _schema_of(args[0])}
    raise AssertionError(f"no schema for {tp!r}")


def rule_file_schema() -> dict[str, Any]:
    """The rule-file schema as JSON Schema (draft 2020-12), for editors and CI checks."""
    schema = _schema_of(RuleFileSpec)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "alertkit rule file"
    schema["required"] = ["groups"]
    return schema
