"""Matcher lists as the dispatcher's configuration accepts them.

Routes, inhibition rules and silences take their matchers in any of three
forms, all turned into the core's :class:`~alertkit.Matcher` (anchored regex,
missing label matches as ``""``) at the edge:

- ``Matcher`` objects;
- strings in Alertmanager's syntax: ``'team=~"db|web"'``, ``'severity!=info'``;
- a mapping ``{"team": "db"}``, meaning equality matchers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from alertkit._core.labels import Labels, Matcher
from alertkit._errors import AlertkitError, ConfigError

__all__ = ["MatchersLike", "format_matchers", "matches_all", "parse_matcher", "to_matchers"]

MatchersLike = Iterable[Matcher | str] | Mapping[str, str]

_MATCHER = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*\Z", re.DOTALL)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


def _unquote(text: str, field: str) -> str:
    if len(text) < 2 or not text.endswith('"'):
        raise ConfigError(f"{field}: unterminated quoted value {text!r}")
    out: list[str] = []
    body = text[1:-1]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _ESCAPES:
                raise ConfigError(f"{field}: bad escape in {text!r}")
            out.append(_ESCAPES[body[i + 1]])
            i += 2
            continue
        if ch == '"':
            raise ConfigError(f"{field}: unescaped quote inside {text!r}")
        out.append(ch)
        i += 1
    return "".join(out)


def parse_matcher(text: str, *, field: str = "matcher") -> Matcher:
    """One matcher from Alertmanager's syntax: ``name op value``, value quoted or bare.

    >>> str(parse_matcher('team=~"db|web"'))
    'team=~"db|web"'
    """
    m = _MATCHER.match(text)
    if m is None:
        raise ConfigError(
            f'{field}: {text!r} is not a matcher (expected name=value, name!="v", '
            f'name=~"regex" or name!~"regex")'
        )
    name, op, raw = m.groups()
    value = _unquote(raw, field) if raw.startswith('"') else raw
    return _make(name, op, value, field)


def _make(name: Any, op: Any, value: Any, field: str) -> Matcher:
    try:
        return Matcher(name, op, value)
    except AlertkitError as exc:  # RuleError / LabelError from the core, renamed for config
        raise ConfigError(f"{field}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{field}: {exc}") from None


def to_matchers(value: object, *, field: str = "matchers",
                error: type[AlertkitError] = ConfigError) -> tuple[Matcher, ...]:
    """Normalise any accepted form to a tuple of matchers; raise ``error`` naming ``field``."""
    try:
        if value is None:
            return ()
        if isinstance(value, Mapping):
            return tuple(
                _make(k, "=", v, f"{field}[{k!r}]") for k, v in sorted(value.items())
            )
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ConfigError(
                f"{field}: {value!r} is not a list of matchers (or a mapping of label values)"
            )
        out: list[Matcher] = []
        for i, item in enumerate(value):
            if isinstance(item, Matcher):
                out.append(item)
            elif isinstance(item, str):
                out.append(parse_matcher(item, field=f"{field}[{i}]"))
            else:
                raise ConfigError(f"{field}[{i}]: {item!r} is not a Matcher or a string")
        return tuple(out)
    except ConfigError as exc:
        if error is ConfigError:
            raise
        raise error(str(exc)) from None


def matches_all(matchers: tuple[Matcher, ...], labels: Labels | Mapping[str, str]) -> bool:
    """True if every matcher matches; a missing label is the empty string."""
    get = labels.get
    return all(m.matches(get(m.name, "")) for m in matchers)


def _sort_key(m: Matcher) -> tuple[str, str, int]:
    return (m.name, m.value, ("=", "!=", "=~", "!~").index(m.op))


def format_matchers(matchers: tuple[Matcher, ...], *, sort: bool = True) -> str:
    """``{a="1",b=~"x"}`` as Alertmanager prints a route's matchers (sorted, no spaces)."""
    ms = sorted(matchers, key=_sort_key) if sort else matchers
    return "{" + ",".join(str(m) for m in ms) + "}"
