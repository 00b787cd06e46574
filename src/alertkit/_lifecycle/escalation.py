"""Escalation policies: who to notify, when, until somebody acknowledges.

A policy is a list of :class:`EscalationLevel` (chat first, then the pager, then
the phone), each with a delay and the receivers to notify, and a ``repeat``
count for the whole list. Delays count from the start of the pass through the
policy (``after="fired"``: the alert's firing time on the first pass) or from
the previous level (``after="previous"``). The decisions are pure:
:func:`start`, :func:`advance` and :func:`skip_to` take ``now`` and return the
new :class:`~alertkit._lifecycle.model.EscalationProgress`.

Selection (:func:`select_policy`): the first policy, in the order given, whose
``severities`` include the alert's, whose ``matchers`` (as a route's) all match
its labels, whose ``route_receivers`` (if any) include a receiver the routing
tree sends it to, and whose ``tenant`` (if set) is the alert's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import attrs

from alertkit._core.labels import Matcher
from alertkit._core.model import Severity
from alertkit._core.timeutil import DurationLike, parse_duration
from alertkit._dispatch.matchers import matches_all, to_matchers
from alertkit._errors import ConfigError, DurationError, LifecycleError

from .model import EscalationProgress

__all__ = ["EscalationLevel", "EscalationPolicy", "advance", "due_at", "select_policy",
           "skip_to", "start"]


def _delay(value: DurationLike) -> float:
    try:
        return parse_duration(value, field="delay", allow_zero=True)
    except DurationError as exc:
        raise ConfigError(str(exc)) from None


def _receivers(value: str | Iterable[str]) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    if not items:
        raise ConfigError("an escalation level needs at least one receiver")
    for r in items:
        if not isinstance(r, str) or not r:
            raise ConfigError(f"escalation level receivers: {r!r} is not a receiver name")
    return items


def _after(value: str) -> Literal["fired", "previous"]:
    if value == "fired":
        return "fired"
    if value == "previous":
        return "previous"
    raise ConfigError(f"escalation level after: {value!r} is not 'fired' or 'previous'")


@attrs.frozen
class EscalationLevel:
    """Notify ``receivers`` (names of the Engine's receivers) ``delay`` after the pass
    through the policy started (``after="fired"``) or after the previous level
    (``after="previous"``)."""

    receivers: tuple[str, ...] = attrs.field(converter=_receivers)
    delay: float = attrs.field(default=0.0, converter=_delay)
    after: Literal["fired", "previous"] = attrs.field(default="fired", converter=_after)


def _levels(value: Iterable[EscalationLevel]) -> tuple[EscalationLevel, ...]:
    if isinstance(value, str | bytes | Mapping):
        raise ConfigError(f"escalation policy levels: {value!r} is not a list of levels")
    levels = tuple(value)
    if not levels:
        raise ConfigError("an escalation policy needs at least one level")
    for i, lv in enumerate(levels):
        if not isinstance(lv, EscalationLevel):
            raise ConfigError(f"escalation policy levels[{i}]: {lv!r} is not an "
                              f"EscalationLevel")
    return levels


def _matchers(value: object) -> tuple[Matcher, ...]:
    return to_matchers(value, field="escalation policy matchers")


def _severities(value: Iterable[Severity | str] | None) -> frozenset[Severity] | None:
    if value is None:
        return None
    out = set()
    for s in (value,) if isinstance(value, str | Severity) else value:
        if isinstance(s, Severity):
            out.add(s)
        elif isinstance(s, str) and s.upper() in Severity.__members__:
            out.add(Severity[s.upper()])
        else:
            raise ConfigError(f"escalation policy severities: {s!r} is not a severity "
                              f"({', '.join(str(x) for x in Severity)})")
    return frozenset(out)


def _repeat(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"escalation policy repeat: {value!r} is not an integer >= 0")
    return value


def _name(value: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ConfigError(f"escalation policy name: {value!r} is not a non-empty name")
    return value


def _route_receivers(value: str | Iterable[str]) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    for r in items:
        if not isinstance(r, str) or not r:
            raise ConfigError(f"escalation policy route_receivers: {r!r} is not a receiver "
                              f"name")
    return items


def _tenant(value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"escalation policy tenant: {value!r} is not a tenant name")
    return value


@attrs.frozen(kw_only=True)
class EscalationPolicy:
    """Levels to go through while an alert stays open (not acknowledged, snoozed or resolved).

    ``repeat`` passes follow the first one (0: go through the levels once); each repeat
    starts ``repeat_after`` after the last level went out. ``severities`` (None: any),
    ``matchers`` (a route's matchers), ``route_receivers`` (the policy applies to alerts
    the dispatcher's routing tree sends to one of these receivers; empty: any) and
    ``tenant`` (None: any) select the alerts the policy applies to.

    >>> EscalationPolicy(name="db", levels=[EscalationLevel("chat"),
    ...                                     EscalationLevel("pager", delay="5m")]).levels[1].delay
    300.0
    """

    name: str = attrs.field(converter=_name)
    levels: tuple[EscalationLevel, ...] = attrs.field(converter=_levels)
    repeat: int = attrs.field(default=0, converter=_repeat)
    repeat_after: float = attrs.field(default=0.0, converter=_delay)
    matchers: tuple[Matcher, ...] = attrs.field(default=(), converter=_matchers)
    severities: frozenset[Severity] | None = attrs.field(default=None, converter=_severities)
    route_receivers: tuple[str, ...] = attrs.field(default=(), converter=_route_receivers)
    tenant: str | None = attrs.field(default=None, converter=_tenant)

    def __attrs_post_init__(self) -> None:
        if self.repeat and self.repeat_after == 0 and self.levels[0].delay == 0 and \
                all(lv.delay == 0 for lv in self.levels):
            raise ConfigError(f"escalation policy {self.name!r}: repeating a policy whose "
                              f"levels have no delays would notify every level at once; give "
                              f"repeat_after or delays")

    def applies_to(self, labels: Mapping[str, str], severity: Severity,
                   tenant: str | None, routed_to: Iterable[str] = ()) -> bool:
        """Whether the policy covers this alert; ``routed_to`` lists the receivers the
        routing tree sends it to (needed only for ``route_receivers``)."""
        if self.severities is not None and severity not in self.severities:
            return False
        if self.tenant is not None and self.tenant != tenant:
            return False
        if self.route_receivers and not set(self.route_receivers).intersection(routed_to):
            return False
        return matches_all(self.matchers, labels)

    @property
    def receivers(self) -> frozenset[str]:
        """Every receiver the policy may notify."""
        return frozenset(r for lv in self.levels for r in lv.receivers)


def select_policy(policies: Iterable[EscalationPolicy], labels: Mapping[str, str],
                  severity: Severity, tenant: str | None = None,
                  routed_to: Iterable[str] = ()) -> EscalationPolicy | None:
    """The first policy that applies to the alert, or None."""
    routed = tuple(routed_to)
    for p in policies:
        if p.applies_to(labels, severity, tenant, routed):
            return p
    return None


def _due(policy: EscalationPolicy, level: int, cycle_start: float,
         last_at: float | None) -> float:
    lv = policy.levels[level]
    prev = cycle_start if last_at is None or last_at < cycle_start else last_at
    base = prev if lv.after == "previous" else cycle_start
    return max(base + lv.delay, prev)  # never before the previous level


def start(policy: EscalationPolicy, now: float) -> EscalationProgress:
    """A fresh pass through ``policy`` starting at ``now`` (the alert fired, or re-opened)."""
    return EscalationProgress(policy=policy.name, cycle_start=now,
                              due_at=_due(policy, 0, now, None))


def due_at(progress: EscalationProgress | None) -> float | None:
    """When the next level is due (None: nothing is scheduled)."""
    return None if progress is None else progress.due_at


def advance(policy: EscalationPolicy, progress: EscalationProgress, now: float
            ) -> tuple[EscalationProgress, int, int]:
    """Notify the next level at ``now``: the new progress, and the (level, cycle) notified.

    The caller checks that a level is due; this never looks at ``due_at`` itself, so
    an actor's "escalate now" uses it as well.
    """
    if progress.level >= len(policy.levels):
        raise LifecycleError(f"escalation policy {policy.name!r} has no level "
                            f"{progress.level + 1}")
    level, cycle = progress.level, progress.cycle
    nxt = level + 1
    if nxt < len(policy.levels):
        new = attrs.evolve(progress, level=nxt, last_at=now,
                           due_at=_due(policy, nxt, progress.cycle_start, now))
    elif cycle < policy.repeat:
        begin = now + policy.repeat_after
        new = EscalationProgress(policy=policy.name, level=0, cycle=cycle + 1,
                                 cycle_start=begin, last_at=now,
                                 due_at=_due(policy, 0, begin, None))
    else:  # exhausted: the last level stays the last one notified
        new = attrs.evolve(progress, level=nxt, last_at=now, due_at=None)
    return new, level, cycle


def skip_to(policy: EscalationPolicy, progress: EscalationProgress, level: int,
            now: float) -> EscalationProgress:
    """Make ``level`` (0-based) the next one, due at ``now``."""
    if not 0 <= level < len(policy.levels):
        raise LifecycleError(f"escalation policy {policy.name!r} has levels 1 to "
                            f"{len(policy.levels)}, not {level + 1}")
    return attrs.evolve(progress, level=level, due_at=now)
