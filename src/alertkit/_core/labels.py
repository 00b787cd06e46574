"""Label sets, label matchers and series selectors."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import attrs

from alertkit._errors import LabelError, RuleError

__all__ = ["MAX_LABELS", "MAX_VALUE_LENGTH", "Labels", "Matcher", "Selector", "check_metric_name"]

#: Limits that keep one bad caller from blowing up memory; generous for real use.
MAX_LABELS = 64
MAX_VALUE_LENGTH = 4096

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")


def check_metric_name(name: object) -> str:
    """Validate a metric name (Prometheus syntax) and return it."""
    if not isinstance(name, str) or not _METRIC_NAME.match(name):
        raise LabelError(f"metric name {name!r} is not valid (expected [a-zA-Z_:][a-zA-Z0-9_:]*)")
    return name


class Labels(Mapping[str, str]):
    """An immutable, hashable label set with a stable fingerprint.

    Items are kept sorted by name, so equal label sets compare, hash and
    fingerprint the same whatever order they were given in. As in Prometheus,
    a label with an empty value is the same as no label and is dropped.

    >>> Labels({"b": "2", "a": "1"}) == Labels(a="1", b="2")
    True
    """

    __slots__ = ("_fp", "_hash", "_items")

    _items: tuple[tuple[str, str], ...]
    _hash: int
    _fp: str | None

    def __init__(self, labels: Mapping[str, str] | None = None, /, **kwargs: str) -> None:
        merged: dict[str, str] = dict(labels) if labels else {}
        if kwargs:
            merged.update(kwargs)
        if len(merged) > MAX_LABELS:
            raise LabelError(f"label set has {len(merged)} labels, more than {MAX_LABELS}")
        for name, value in merged.items():
            if not isinstance(name, str) or not _LABEL_NAME.match(name):
                raise LabelError(
                    f"label name {name!r} is not valid (expected [a-zA-Z_][a-zA-Z0-9_]*)"
                )
            if not isinstance(value, str):
                raise LabelError(f"label {name}: value {value!r} is not a string")
            if len(value) > MAX_VALUE_LENGTH:
                raise LabelError(
                    f"label {name}: value is {len(value)} characters long, more "
                    f"than {MAX_VALUE_LENGTH}"
                )
        items = tuple(sorted((k, v) for k, v in merged.items() if v))
        object.__setattr__(self, "_items", items)
        object.__setattr__(self, "_hash", hash(items))
        object.__setattr__(self, "_fp", None)

    @classmethod
    def _trusted(cls, items: tuple[tuple[str, str], ...]) -> Labels:
        """Build from already-validated, sorted, non-empty items (no checks)."""
        self = object.__new__(cls)
        object.__setattr__(self, "_items", items)
        object.__setattr__(self, "_hash", hash(items))
        object.__setattr__(self, "_fp", None)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Labels is immutable")

    def __getitem__(self, key: str) -> str:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Labels):
            return self._hash == other._hash and self._items == other._items
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        inner = ", ".join(f'{k}="{v}"' for k, v in self._items)
        return f"Labels({{{inner}}})"

    def __str__(self) -> str:
        return "{" + ", ".join(f'{k}="{v}"' for k, v in self._items) + "}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Labels, (dict(self._items),))

    @property
    def fingerprint(self) -> str:
        """16 hex digits, stable across processes and versions (BLAKE2b of the items)."""
        fp = self._fp
        if fp is None:
            h = hashlib.blake2b(digest_size=8)
            for k, v in self._items:
                h.update(k.encode())
                h.update(b"\xff")
                h.update(v.encode())
                h.update(b"\xfe")
            fp = h.hexdigest()
            object.__setattr__(self, "_fp", fp)
        return fp

    def merge(self, other: Mapping[str, str]) -> Labels:
        """A new label set: these labels, overridden by ``other``'s."""
        if not other:
            return self
        merged = dict(self._items)
        merged.update(other)
        return Labels(merged)

    def without(self, *names: str) -> Labels:
        return Labels._trusted(tuple(kv for kv in self._items if kv[0] not in names))

    def items_tuple(self) -> tuple[tuple[str, str], ...]:
        return self._items


MatchOp = Literal["=", "!=", "=~", "!~"]
_MATCH_OPS = ("=", "!=", "=~", "!~")


def _check_op(instance: Matcher, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in _MATCH_OPS:
        raise RuleError(
            f"matcher {instance.name}: operator {value!r} is not one of {', '.join(_MATCH_OPS)}"
        )


def _check_label_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _LABEL_NAME.match(value):
        raise LabelError(f"matcher label name {value!r} is not valid")


@attrs.frozen
class Matcher:
    """A label matcher: ``name op value`` with op one of ``= != =~ !~``.

    Regexes are fully anchored and a missing label matches as the empty
    string, as in Prometheus and Alertmanager.
    """

    name: str = attrs.field(validator=_check_label_name)
    op: MatchOp = attrs.field(validator=_check_op)
    value: str = attrs.field(validator=attrs.validators.instance_of(str))
    _regex: re.Pattern[str] | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        regex = None
        if self.op in ("=~", "!~"):
            try:
                regex = re.compile(f"(?:{self.value})\\Z", re.DOTALL)
            except re.error as exc:
                raise RuleError(
                    f"matcher {self.name}{self.op}{self.value!r}: bad regex: {exc}"
                ) from None
        object.__setattr__(self, "_regex", regex)

    def matches(self, value: str) -> bool:
        op = self.op
        if op == "=":
            return value == self.value
        if op == "!=":
            return value != self.value
        assert self._regex is not None
        found = self._regex.match(value) is not None
        return found if op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def _to_matchers(value: Any) -> tuple[Matcher, ...]:
    if isinstance(value, Mapping):
        return tuple(Matcher(k, "=", v) for k, v in sorted(value.items()))
    return tuple(value)


@attrs.frozen
class Selector:
    """Selects series: a metric name plus label matchers.

    >>> Selector("cpu", {"host": "web1"})
    Selector(metric='cpu', matchers=(Matcher(name='host', op='=', value='web1'),))
    """

    metric: str = attrs.field(converter=check_metric_name)
    matchers: tuple[Matcher, ...] = attrs.field(default=(), converter=_to_matchers)

    def matches(self, labels: Labels) -> bool:
        return all(m.matches(labels.get(m.name, "")) for m in self.matchers)

    def equality_labels(self) -> Labels:
        """Labels fixed by equality matchers (what ``absent()`` outputs)."""
        return Labels({m.name: m.value for m in self.matchers if m.op == "="})

    def __str__(self) -> str:
        if not self.matchers:
            return self.metric
        return f"{self.metric}{{{', '.join(str(m) for m in self.matchers)}}}"
