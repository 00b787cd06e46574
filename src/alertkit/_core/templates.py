"""Annotation templates: jinja2, sandboxed, rendered from labels and value.

Rendering is pure (labels, value -> text). A template that fails while
rendering never loses the alert: the annotation falls back to the template's
source text and the error is reported with the event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from alertkit._errors import TemplateError

__all__ = ["AnnotationTemplates", "format_value", "humanize", "humanize_duration"]


def format_value(v: float) -> str:
    """Format a float as Go's ``%v`` does, as Prometheus prints ``$value``.

    Shortest round-tripping digits; exponent form below 1e-4 and from 1e6 up.

    >>> format_value(91.0), format_value(2.5e6), format_value(1e-5)
    ('91', '2.5e+06', '1e-05')
    """
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0"
    sign, digit_tuple, exponent = Decimal(repr(v)).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    exp10 = len(digits) + exponent - 1
    minus = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if exponent >= 0:
        return minus + digits + "0" * exponent
    point = len(digits) + exponent
    if point > 0:
        return f"{minus}{digits[:point]}.{digits[point:]}"
    return f"{minus}0.{'0' * -point}{digits}"


_SI = [
    (1e24, "Y"),
    (1e21, "Z"),
    (1e18, "E"),
    (1e15, "P"),
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
]
_SI_SMALL = [
    (1e-3, "m"),
    (1e-6, "u"),
    (1e-9, "n"),
    (1e-12, "p"),
    (1e-15, "f"),
    (1e-18, "a"),
    (1e-21, "z"),
    (1e-24, "y"),
]


def _g4(v: float) -> str:
    text = f"{v:.4g}"
    if "e" in text:
        mantissa, _, e = text.partition("e")
        return f"{mantissa}e{e[0]}{abs(int(e)):02d}"
    return text


def humanize(v: float) -> str:
    """SI prefixes with 4 significant digits, as Prometheus' ``humanize``: ``2.5M``, ``300m``."""
    if v == 0 or v != v or math.isinf(v):
        return format_value(v)
    a = abs(v)
    if a >= 1:
        for size, prefix in _SI:
            if a >= size:
                return f"{_g4(v / size)}{prefix}"
        return _g4(v)
    for size, prefix in _SI_SMALL:
        if a >= size:
            return f"{_g4(v / size)}{prefix}"
    return _g4(v)


def humanize_duration(seconds: float) -> str:
    """``5400`` -> ``1h 30m 0s``, as Prometheus' ``humanizeDuration``."""
    if seconds != seconds or math.isinf(seconds):
        return format_value(seconds)
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 1:
        return f"{sign}{_g4(s * 1000)}ms" if s else "0s"
    days, rem = divmod(int(s), 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{sign}{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{sign}{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{sign}{minutes}m {secs}s"
    return f"{sign}{_g4(s)}s"


def humanize_percentage(v: float) -> str:
    """``0.123`` -> ``12.3%``."""
    return f"{_g4(v * 100)}%"


class GoFloat(float):
    """A float that prints like Prometheus' ``$value`` inside templates."""

    __slots__ = ()

    def __str__(self) -> str:
        return format_value(float(self))


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=False, undefined=jinja2.Undefined)
    env.filters["humanize"] = humanize
    env.filters["humanize_duration"] = humanize_duration
    env.filters["humanize_percentage"] = humanize_percentage
    env.filters["format_value"] = format_value
    return env


_ENV = _environment()


class AnnotationTemplates:
    """Compiled annotation templates of one rule.

    Templates see ``labels`` (a dict; a missing label renders empty, as in
    Prometheus), ``value`` (prints like ``$value``), ``rule`` and
    ``severity``, and the filters ``humanize``, ``humanize_duration``,
    ``humanize_percentage`` and ``format_value``.
    """

    __slots__ = ("_compiled", "_sources")

    def __init__(self, sources: Mapping[str, str], *, rule: str) -> None:
        self._sources = dict(sources)
        self._compiled: dict[str, jinja2.Template | None] = {}
        for name, source in self._sources.items():
            if not isinstance(source, str):
                raise TemplateError(f"rule {rule}: annotation {name!r} is not a string")
            if "{" not in source:
                self._compiled[name] = None  # plain text: nothing to render
                continue
            try:
                self._compiled[name] = _ENV.from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(
                    f"rule {rule}: annotation {name!r}, line {exc.lineno}: {exc.message}"
                ) from None

    def render(
        self, labels: Mapping[str, str], value: float, *, rule: str, severity: str
    ) -> tuple[dict[str, str], tuple[str, ...]]:
        """Return (annotations, errors); a failing template yields its source text."""
        out: dict[str, str] = {}
        errors: list[str] = []
        context = None
        for name, template in self._compiled.items():
            if template is None:
                out[name] = self._sources[name]
                continue
            if context is None:
                context = {
                    "labels": dict(labels),
                    "value": GoFloat(value),
                    "rule": rule,
                    "severity": severity,
                }
            try:
                out[name] = template.render(context)
            except Exception as exc:  # any error in user code must not lose the alert
                out[name] = self._sources[name]
                errors.append(f"annotation {name!r}: {type(exc).__name__}: {exc}")
        return out, tuple(errors)
