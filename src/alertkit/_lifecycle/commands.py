"""Lifecycle commands: small immutable values, validated when made.

Each names its ``actor`` (an :class:`Actor`, or a plain name) and the alert's
``fingerprint``. :meth:`~alertkit._lifecycle.lifecycle.Lifecycle.apply` checks
the command against the status machine and the authorization policy, and
returns the new record, the audit records and the notifications due.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import ClassVar, TypeAlias

import attrs

from alertkit._core.timeutil import TimeLike, to_timestamp
from alertkit._errors import AlertkitError, LifecycleError

__all__ = [
    "Acknowledge",
    "Actor",
    "Assign",
    "Command",
    "Comment",
    "EscalateNow",
    "Resolve",
    "SkipToLevel",
    "Snooze",
    "Unacknowledge",
    "to_actor",
]

_MAX_NAME = 200
_MAX_TEXT = 10_000


def _name(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_NAME:
        raise LifecycleError(f"{field}: {value!r} is not a name (1 to {_MAX_NAME} characters)")
    return value


def _actor_name(value: object) -> str:
    return _name(value, "actor")


def _opt_tenant(value: object) -> str | None:
    return None if value is None else _name(value, "tenant")


def _roles(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise LifecycleError(f"roles: {value!r} is not a collection of role names")
    return frozenset(_name(r, "roles") for r in value)


@attrs.frozen
class Actor:
    """Who issues a command. ``tenant`` scopes what the actor sees and may change (None: every
    tenant, e.g. an operator of the whole host); ``roles`` are free-form, for the
    authorization policy."""

    name: str = attrs.field(converter=_actor_name)
    tenant: str | None = attrs.field(default=None, kw_only=True, converter=_opt_tenant)
    roles: frozenset[str] = attrs.field(default=frozenset(), kw_only=True,
                                        converter=_roles)

    def __str__(self) -> str:
        return self.name


def to_actor(value: Actor | str) -> Actor:
    """An :class:`Actor` from an actor or a plain name."""
    if isinstance(value, Actor):
        return value
    if isinstance(value, str):
        return Actor(value)
    raise LifecycleError(f"actor: {value!r} is not an Actor or a name")


def _fp(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 512:
        raise LifecycleError(f"fingerprint: {value!r} is not an alert fingerprint")
    return value


def _check_text(value: object, field: str, required: bool) -> str:
    if not isinstance(value, str) or len(value) > _MAX_TEXT or (required and
                                                                 not value.strip()):
        need = "a non-empty text" if required else "a text"
        raise LifecycleError(f"{field}: {value!r:.80} is not {need} "
                             f"(at most {_MAX_TEXT} characters)")
    return value


def _note(value: object) -> str:
    return _check_text(value, "note", False)


def _reason(value: object) -> str:
    return _check_text(value, "reason", False)


def _comment(value: object) -> str:
    return _check_text(value, "text", True)


def _assignee(value: object) -> str:
    return _name(value, "assignee")


def _time(value: TimeLike) -> float:
    try:
        t = to_timestamp(value, field="until")
    except AlertkitError as exc:
        raise LifecycleError(str(exc)) from None
    if not math.isfinite(t):
        raise LifecycleError(f"until: {value!r} is not a finite time")
    return t


def _level(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LifecycleError(f"level: {value!r} is not a level number (1 is the first)")
    return value


@attrs.frozen
class _Command:
    action: ClassVar[str] = ""
    actor: Actor = attrs.field(converter=to_actor)
    fingerprint: str = attrs.field(converter=_fp)


@attrs.frozen
class Acknowledge(_Command):
    """Somebody is on it: stops escalation and (by default) repeat notifications."""

    action: ClassVar[str] = "acknowledge"
    note: str = attrs.field(default="", converter=_note)


@attrs.frozen
class Unacknowledge(_Command):
    """Give the alert back: it is open again and its escalation starts over."""

    action: ClassVar[str] = "unacknowledge"
    note: str = attrs.field(default="", converter=_note)


@attrs.frozen
class Assign(_Command):
    """Make ``assignee`` the owner (notified when the alert resolves)."""

    action: ClassVar[str] = "assign"
    assignee: str = attrs.field(default="", converter=_assignee)


@attrs.frozen
class Comment(_Command):
    """Leave a note on the alert (allowed in every status)."""

    action: ClassVar[str] = "comment"
    text: str = attrs.field(default="", converter=_comment)


@attrs.frozen
class Snooze(_Command):
    """Quiet the alert until ``until`` (after now): no escalation, no repeats; then open."""

    action: ClassVar[str] = "snooze"
    until: float = attrs.field(default=0.0, converter=_time)
    note: str = attrs.field(default="", converter=_note)


@attrs.frozen
class Resolve(_Command):
    """Close the alert by hand (the rule may fire it again later)."""

    action: ClassVar[str] = "resolve"
    reason: str = attrs.field(default="", converter=_reason)


@attrs.frozen
class EscalateNow(_Command):
    """Notify the next escalation level now instead of at its time."""

    action: ClassVar[str] = "escalate_now"


@attrs.frozen
class SkipToLevel(_Command):
    """Notify escalation level ``level`` (1 is the first) now; the policy goes on from it."""

    action: ClassVar[str] = "skip_to_level"
    level: int = attrs.field(default=1, converter=_level)


Command: TypeAlias = (Acknowledge | Unacknowledge | Assign | Comment | Snooze | Resolve
                      | EscalateNow | SkipToLevel)
