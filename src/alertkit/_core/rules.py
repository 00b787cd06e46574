"""Alerting rules as frozen values."""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from alertkit._errors import RuleError

from .conditions import Condition
from .expr import parse_condition
from .labels import Labels
from .model import EvalMode, NoDataPolicy, Severity
from .templates import AnnotationTemplates
from .timeutil import DurationLike, parse_duration

__all__ = ["Rule"]

_RULE_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_:.\-]*\Z")


def _name(value: object) -> str:
    if not isinstance(value, str) or not _RULE_NAME.match(value):
        raise RuleError(
            f"rule name {value!r} is not valid (expected a letter or _, then "
            f"letters, digits, _ : . -)"
        )
    return value


def _condition(value: object) -> Condition:
    if isinstance(value, str):  # the expression language; raises ExpressionError
        return parse_condition(value)
    if not isinstance(value, Condition):
        raise RuleError(f"rule condition {value!r} is not a Condition (or an expression string)")
    return value


def _optional_condition(value: object) -> Condition | None:
    return None if value is None else _condition(value)


def _for(value: DurationLike) -> float:
    return parse_duration(value, field="for")


def _keep_firing_for(value: DurationLike) -> float:
    return parse_duration(value, field="keep_firing_for")


def _stale_after(value: DurationLike | None) -> float | None:
    return None if value is None else parse_duration(value, field="stale_after", allow_zero=False)


def _severity(value: Severity | str | int) -> Severity:
    if isinstance(value, Severity):
        return value
    if isinstance(value, str):
        try:
            return Severity[value.upper()]
        except KeyError:
            pass
    names = ", ".join(s.name.lower() for s in sorted(Severity, reverse=True))
    raise RuleError(f"severity {value!r} is not one of {names}")


def _labels(value: Mapping[str, str]) -> Labels:
    labels = value if isinstance(value, Labels) else Labels(value)
    if "alertname" in labels:
        raise RuleError("rule labels may not set 'alertname': it is the rule's name")
    return labels


def _no_data(value: NoDataPolicy | str) -> NoDataPolicy:
    try:
        return NoDataPolicy(value)
    except ValueError:
        raise RuleError(f"no_data {value!r} is not one of ok, keep, alert") from None


def _mode(value: EvalMode | str | None) -> EvalMode | None:
    if value is None:
        return None
    try:
        return EvalMode(value)
    except ValueError:
        raise RuleError(f"mode {value!r} is not one of sample, tick") from None



def _annotations(value: Mapping[str, str]) -> dict[str, str]:
    # A typed converter: with ``converter=dict`` type checkers reject a plain dict argument.
    return dict(value)

@attrs.frozen(kw_only=True)
class Rule:
    """An alerting rule: a condition, how long it must hold, and what to say.

    ``for_`` is Prometheus' ``for`` (the condition must hold that long,
    ``>=``, before the alert fires); ``keep_firing_for`` keeps a firing alert
    firing that long after the condition stops holding; ``recovery``, when
    given, is the condition a firing alert needs before it resolves
    (hysteresis: fire above 90, recover below 80). Both may be given as
    text in the expression language (``condition="avg_over_time(cpu[5m]) > 90"``),
    parsed by :func:`parse_condition`; bad text raises :class:`ExpressionError`.

    Alert labels are the series labels, overridden by ``labels``, plus
    ``alertname`` and ``severity`` (unless ``labels`` sets it).

    >>> Rule(name="HighCPU", condition=Threshold("cpu", ">", 90), for_="5m")  # doctest: +SKIP
    """

    name: str = attrs.field(converter=_name)
    condition: Condition = attrs.field(converter=_condition)
    for_: float = attrs.field(default=0.0, converter=_for)
    keep_firing_for: float = attrs.field(default=0.0, converter=_keep_firing_for)
    recovery: Condition | None = attrs.field(default=None, converter=_optional_condition)
    severity: Severity = attrs.field(default=Severity.MEDIUM, converter=_severity)
    labels: Labels = attrs.field(factory=Labels, converter=_labels)
    annotations: Mapping[str, str] = attrs.field(factory=dict, converter=_annotations)
    stale_after: float | None = attrs.field(default=None, converter=_stale_after)
    no_data: NoDataPolicy = attrs.field(default=NoDataPolicy.OK, converter=_no_data)
    mode: EvalMode | None = attrs.field(default=None, converter=_mode)
    templates: AnnotationTemplates = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "templates", AnnotationTemplates(self.annotations, rule=self.name))
