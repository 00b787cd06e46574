"""The routing tree and receivers, as frozen values, and their compiled form.

A :class:`Route` is configuration: every setting left ``None`` is inherited
from the parent route, as in Alertmanager (``receiver``, ``group_by``,
``group_wait``, ``group_interval``, ``repeat_interval``). The root's defaults
are Alertmanager's: group_wait 30s, group_interval 5m, repeat_interval 4h,
no grouping labels. ``mute_time_intervals`` and ``active_time_intervals`` are
*not* inherited (Alertmanager reads them from each route alone).

Matching is depth-first: children are tried in order, the first matching
child wins and its later siblings are skipped unless it has ``continue_``;
a node none of whose children matches is itself the match.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs

from alertkit._core.labels import Labels, Matcher
from alertkit._core.timeutil import DurationLike, parse_duration
from alertkit._errors import ConfigError

from .intervals import TimeInterval
from .matchers import format_matchers, to_matchers
from .ratelimit import RateLimit

__all__ = ["GROUP_BY_ALL", "CompiledRoute", "ReceiverConfig", "Route", "compile_routes",
           "format_labels"]

GROUP_BY_ALL: Literal["..."] = "..."
DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_RECEIVER_NAME = re.compile(r"\S.*\Z", re.DOTALL)
_NEEDS_QUOTING = re.compile(r'["\\\x00-\x1f\x7f]')  # else the value goes in as it is


def _duration(value: DurationLike | None, field: str, allow_zero: bool) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value, field=f"Route.{field}", allow_zero=allow_zero)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _group_wait(value: DurationLike | None) -> float | None:
    return _duration(value, "group_wait", True)


def _group_interval(value: DurationLike | None) -> float | None:
    return _duration(value, "group_interval", False)


def _repeat_interval(value: DurationLike | None) -> float | None:
    return _duration(value, "repeat_interval", False)


def _group_by(value: object) -> tuple[str, ...] | Literal["..."] | None:
    if value is None:
        return None
    if value == GROUP_BY_ALL:
        return GROUP_BY_ALL
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f'Route.group_by: {value!r} is not a list of label names or "..."')
    names = list(value)
    if GROUP_BY_ALL in names:
        if len(names) != 1:
            raise ConfigError('Route.group_by: "..." (all labels) cannot be mixed with names')
        return GROUP_BY_ALL
    for name in names:
        if not isinstance(name, str) or not _LABEL_NAME.match(name):
            raise ConfigError(f"Route.group_by: {name!r} is not a valid label name")
    if len(set(names)) != len(names):
        raise ConfigError(f"Route.group_by: {names!r} names a label twice")
    return tuple(names)


def _receiver(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _RECEIVER_NAME.match(value):
        raise ConfigError(f"Route.receiver: {value!r} is not a receiver name")
    return value


def _route_matchers(value: object) -> tuple[Matcher, ...]:
    return to_matchers(value, field="Route.matchers")


def _names(value: object, field: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"Route.{field}: {value!r} is not a list of time interval names")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"Route.{field}: {name!r} is not a time interval name")
    return names


def _mute_names(value: object) -> tuple[str, ...]:
    return _names(value, "mute_time_intervals")


def _active_names(value: object) -> tuple[str, ...]:
    return _names(value, "active_time_intervals")


def _routes(value: object) -> tuple[Route, ...]:
    if isinstance(value, Route) or not isinstance(value, Iterable):
        raise ConfigError(f"Route.routes: {value!r} is not a list of Route")
    routes = tuple(value)
    for i, r in enumerate(routes):
        if not isinstance(r, Route):
            raise ConfigError(f"Route.routes[{i}]: {r!r} is not a Route")
    return routes


def _bool(field: str) -> Any:
    def check(instance: object, attribute: object, value: object) -> None:
        if not isinstance(value, bool):
            raise ConfigError(f"{field}: {value!r} is not a bool")

    return check


@attrs.frozen(kw_only=True)
class Route:
    """One node of the routing tree (Alertmanager's ``route``).

    :param receiver: receiver name; ``None`` inherits the parent's (the root must set it).
    :param matchers: all must match (``= != =~ !~``, regexes anchored, a missing label is
        ``""``): ``Matcher`` values, strings like ``'team=~"db|web"'``, or ``{"team": "db"}``.
    :param group_by: label names to group by, ``"..."`` for all labels (every alert in its own
        group), ``()`` for one group per route; ``None`` inherits.
    :param group_wait: wait before the first notification of a new group (inherited if None).
    :param group_interval: time between later flushes of a group, > 0 (inherited if None).
    :param repeat_interval: re-send unchanged content after this long, > 0 (inherited if None);
        effectively rounded up to a whole number of group intervals.
    :param continue_: after this route matches, keep trying its later siblings.
    :param routes: child routes, tried in order.
    :param mute_time_intervals: names of :class:`TimeInterval` during which this route sends
        nothing (not inherited).
    :param active_time_intervals: if set, the route sends only inside one of these (not
        inherited).

    >>> Route(receiver="ops", group_by=["alertname"], routes=[
    ...     Route(matchers=['team="db"'], receiver="db", continue_=True)]).routes[0].receiver
    'db'
    """

    receiver: str | None = attrs.field(default=None, converter=_receiver)
    matchers: tuple[Matcher, ...] = attrs.field(default=(), converter=_route_matchers)
    group_by: tuple[str, ...] | Literal["..."] | None = attrs.field(
        default=None, converter=_group_by)
    group_wait: float | None = attrs.field(
        default=None, converter=_group_wait)
    group_interval: float | None = attrs.field(
        default=None, converter=_group_interval)
    repeat_interval: float | None = attrs.field(
        default=None, converter=_repeat_interval)
    continue_: bool = attrs.field(default=False, validator=_bool("Route.continue_"))
    routes: tuple[Route, ...] = attrs.field(default=(), converter=_routes)
    mute_time_intervals: tuple[str, ...] = attrs.field(
        default=(), converter=_mute_names)
    active_time_intervals: tuple[str, ...] = attrs.field(
        default=(), converter=_active_names)


def _receiver_name(value: object) -> str:
    if not isinstance(value, str) or not _RECEIVER_NAME.match(value):
        raise ConfigError(f"ReceiverConfig.name: {value!r} is not a receiver name")
    return value


def _max_alerts(instance: object, attribute: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"ReceiverConfig.max_alerts: {value!r} must be an int >= 0 "
                          f"(0 = no cap)")


def _limit(field: str) -> Any:
    def check(instance: object, attribute: object, value: object) -> None:
        if value is not None and not isinstance(value, RateLimit):
            raise ConfigError(f"ReceiverConfig.{field}: {value!r} is not a RateLimit")

    return check


def _recipient_by(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Iterable):
        raise ConfigError(f"ReceiverConfig.recipient_by: {value!r} is not a list of label names")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not _LABEL_NAME.match(name):
            raise ConfigError(f"ReceiverConfig.recipient_by: {name!r} is not a label name")
    return names


@attrs.frozen(kw_only=True)
class ReceiverConfig:
    """What the dispatcher needs to know about a receiver (the notifier itself is the runtime's).

    :param name: what routes name in ``receiver``.
    :param send_resolved: include resolved alerts in notifications (Alertmanager's flag).
    :param max_alerts: at most this many alerts per notification; the rest are counted in
        ``Notification.truncated`` (0 = no cap).
    :param rate_limit: a :class:`RateLimit` on all notifications to this receiver.
    :param recipient_by: label names whose values (among a notification's common labels) name
        the recipient, e.g. ``("team",)``; each recipient gets its own ``recipient_rate_limit``.
    :param recipient_rate_limit: the per-recipient :class:`RateLimit`.

    Over a limit, notifications are held and merged into one summary notification sent as
    soon as the limit allows (see :class:`Dispatcher`).
    """

    name: str = attrs.field(converter=_receiver_name)
    send_resolved: bool = attrs.field(default=True, validator=_bool("ReceiverConfig.send_resolved"))
    max_alerts: int = attrs.field(default=0, validator=_max_alerts)
    rate_limit: RateLimit | None = attrs.field(default=None, validator=_limit("rate_limit"))
    recipient_by: tuple[str, ...] = attrs.field(default=(), converter=_recipient_by)
    recipient_rate_limit: RateLimit | None = attrs.field(
        default=None, validator=_limit("recipient_rate_limit"))

    def __attrs_post_init__(self) -> None:
        if self.recipient_rate_limit is not None and not self.recipient_by:
            raise ConfigError(f"receiver {self.name!r}: recipient_rate_limit needs recipient_by")


def format_labels(labels: Labels) -> str:
    """A label set as Alertmanager prints it in group keys: ``{a="1", b="2"}``.

    Alertmanager sorts the ``name="value"`` strings themselves, which differs from sorting
    by name when one name is a prefix of another followed by a digit; we do the same.
    """
    parts = sorted(f'{k}="{v}"' if not _NEEDS_QUOTING.search(v) else
                   f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in labels.items_tuple())
    return "{" + ", ".join(parts) + "}"


class CompiledRoute:
    """A route with every setting resolved (inherited values filled in); slotted, read-only.

    ``id`` is Alertmanager's route key (the matchers of the path from the root), made
    unique with ``#n`` only when two routes to the same receiver would share it.
    """

    __slots__ = ("_glcache", "_group_names", "active", "children", "continue_", "group_all",
                 "group_by", "group_interval", "group_wait", "id", "index", "matchers", "mute",
                 "path", "receiver", "repeat_interval")

    def __init__(self, **kw: Any) -> None:
        for name in self.__slots__:
            if not name.startswith("_"):
                setattr(self, name, kw[name])
        self._group_names = tuple(sorted(self.group_by))
        # Memo: values of the group_by labels -> one shared Labels (cleared when large).
        self._glcache: dict[tuple[str | None, ...], Labels] = {}

    index: int
    id: str
    path: str
    receiver: str
    matchers: tuple[Matcher, ...]
    group_by: frozenset[str]
    group_all: bool
    group_wait: float
    group_interval: float
    repeat_interval: float
    continue_: bool
    children: tuple[CompiledRoute, ...]
    mute: tuple[TimeInterval, ...]
    active: tuple[TimeInterval, ...]

    def match(self, labels: Mapping[str, str], out: list[CompiledRoute]) -> bool:
        """Append the matching routes of this subtree to ``out``; False if this node fails."""
        for m in self.matchers:
            if not m.matches(labels.get(m.name, "")):
                return False
        before = len(out)
        for child in self.children:
            if child.match(labels, out) and not child.continue_:
                break
        if len(out) == before:
            out.append(self)
        return True

    def group_labels(self, labels: Labels, ldict: Mapping[str, str]) -> Labels:
        """The alert's labels this route groups by (missing ones are simply left out)."""
        if self.group_all:
            return labels
        names = self._group_names
        values = tuple(map(ldict.get, names))  # None for a missing label
        found = self._glcache.get(values)
        if found is None:
            if len(self._glcache) >= 4096:
                self._glcache.clear()
            found = self._glcache[values] = Labels._trusted(
                tuple([(n, v) for n, v in zip(names, values, strict=True) if v]))
        return found

    def __repr__(self) -> str:
        return f"<route {self.path} receiver={self.receiver!r}>"


def compile_routes(root: Route, receivers: Mapping[str, ReceiverConfig],
                   intervals: Mapping[str, Sequence[TimeInterval]]) -> list[CompiledRoute]:
    """Resolve inheritance and names; return every node in depth-first order (root first).

    Raises :class:`ConfigError` naming the path (``route.routes[1].receiver``) for unknown
    receivers or time intervals and for settings the root may not have.
    """
    if not isinstance(root, Route):
        raise ConfigError(f"route: {root!r} is not a Route")
    if root.receiver is None:
        raise ConfigError("route.receiver: the root route must name a receiver")
    if root.matchers:
        raise ConfigError("route.matchers: the root route must not have matchers")
    if root.continue_:
        raise ConfigError("route.continue_: the root route cannot continue")
    if root.mute_time_intervals or root.active_time_intervals:
        raise ConfigError("route: the root route cannot have mute or active time intervals")
    nodes: list[CompiledRoute] = []
    seen: dict[tuple[str, str], int] = {}

    def build(r: Route, parent: CompiledRoute | None, where: str) -> CompiledRoute:
        receiver = r.receiver if r.receiver is not None else parent.receiver  # type: ignore[union-attr]
        if receiver not in receivers:
            known = ", ".join(sorted(receivers)) or "none"
            raise ConfigError(f"{where}.receiver: {receiver!r} is not a receiver (known: {known})")
        if r.group_by is None:
            group_all = parent.group_all if parent else False
            group_by = parent.group_by if parent else frozenset()
        elif r.group_by == GROUP_BY_ALL:
            group_all, group_by = True, frozenset()
        else:
            group_all, group_by = False, frozenset(r.group_by)

        def pick(value: float | None, inherited: float | None, default: float) -> float:
            if value is not None:
                return value
            return inherited if inherited is not None else default

        mute: list[TimeInterval] = []
        active: list[TimeInterval] = []
        for field, names, into in (("mute_time_intervals", r.mute_time_intervals, mute),
                                   ("active_time_intervals", r.active_time_intervals, active)):
            for i, name in enumerate(names):
                if name not in intervals:
                    known = ", ".join(sorted(intervals)) or "none"
                    raise ConfigError(f"{where}.{field}[{i}]: no time interval named {name!r} "
                                      f"(known: {known})")
                into.extend(intervals[name])
        path = format_matchers(r.matchers)
        if parent is not None:
            path = f"{parent.path}/{path}"
        ident = path
        n = seen.get((receiver, path), 0)
        seen[(receiver, path)] = n + 1
        if n:
            ident = f"{path}#{n}"
        node = CompiledRoute(
            index=len(nodes), id=ident, path=path, receiver=receiver, matchers=r.matchers,
            group_by=group_by, group_all=group_all,
            group_wait=pick(r.group_wait, parent.group_wait if parent else None,
                            DEFAULT_GROUP_WAIT),
            group_interval=pick(r.group_interval, parent.group_interval if parent else None,
                                DEFAULT_GROUP_INTERVAL),
            repeat_interval=pick(r.repeat_interval, parent.repeat_interval if parent else None,
                                 DEFAULT_REPEAT_INTERVAL),
            continue_=r.continue_, children=(), mute=tuple(mute), active=tuple(active),
        )
        nodes.append(node)
        node.children = tuple(build(c, node, f"{where}.routes[{i}]")
                              for i, c in enumerate(r.routes))
        return node

    build(root, None, "route")
    return nodes
