"""Compiled conditions: the runtime nodes the evaluator calls.

A rule's condition compiles once into a tree of nodes. Nodes are stateless
and shared; the streaming state of one label set (window buffers, histories)
lives in its :class:`Track`, in ``track.aux[slot]``, so it is part of the
caller's state and snapshots with it.

A condition node returns, for one track at time ``now``:

- a float: the condition holds, with that value;
- ``NO_MATCH``: the condition does not hold;
- ``None``: no output (no sample in reach, too few samples for a rate, a
  detector still warming up). At the top this means "does not hold"; whether
  the label set has *no data* at all is decided separately, from the freshness
  of its input series (see ``CompileContext.feed``'s ``reach``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from .labels import Labels, Selector
from .windows import WindowBuf, WindowOps

if TYPE_CHECKING:
    from .conditions import Window
    from .model import EvalMode
    from .state import AlertRec, SeriesData

__all__ = ["NO_MATCH", "CompileContext", "CondNode", "Result", "Track", "ValueNode"]


class _NoMatch:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_MATCH"


NO_MATCH: Final = _NoMatch()
NAN: Final = float("nan")
Result = float | _NoMatch | None

COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class Track:
    """Everything one rule keeps about one label set."""

    __slots__ = ("alert", "aux", "identity", "inputs", "labels")

    def __init__(self, labels: Labels, n_inputs: int, aux: list[Any]) -> None:
        self.labels = labels
        self.inputs: list[SeriesData | None] = [None] * n_inputs
        self.aux = aux
        self.alert: AlertRec | None = None
        self.identity: tuple[Labels, str] | None = None  # (alert labels, fingerprint), lazily


class CompileContext:
    """Collects a rule's inputs and state slots while its condition compiles."""

    def __init__(self, *, stale_after: float, mode: EvalMode) -> None:
        self.stale_after = stale_after
        self.mode = mode
        self.inputs: list[Selector] = []
        self.absents: list[Selector] = []
        self.absent_windows: list[float] = []  # the longest window per absent input
        self.slot_nodes: list[Any] = []  # nodes with per-track state, by slot
        self.feeds_by_input: dict[int, list[Any]] = {}  # nodes that see every sample
        self.input_reach: list[float] = []  # how long a sample of each input matters

    def track_input(self, selector: Selector) -> int:
        """Index of ``selector`` in ``track.inputs`` (series whose labels make tracks)."""
        if selector in self.inputs:
            return self.inputs.index(selector)
        self.inputs.append(selector)
        self.input_reach.append(self.stale_after)
        return len(self.inputs) - 1

    def feed(self, index: int, node: Any, *, reach: float) -> int:
        """Subscribe ``node`` to every sample of input ``index``; return its state slot.

        The node must have ``feed(aux, t, v)``, ``new_aux()``, ``dump_aux(aux)`` and
        ``load_aux(data)``. ``reach`` is how long after its last sample a series still
        gives this node output (a window's range): the series is kept that long, and a
        label set counts as having data while any input is within its reach.
        """
        self.feeds_by_input.setdefault(index, []).append(node)
        self.input_reach[index] = max(self.input_reach[index], reach)
        return self.slot(node)

    def absent_input(self, selector: Selector, window: float) -> int:
        if selector in self.absents:
            index = self.absents.index(selector)
            self.absent_windows[index] = max(self.absent_windows[index], window)
            return index
        self.absents.append(selector)
        self.absent_windows.append(window)
        return len(self.absents) - 1

    def slot(self, node: Any) -> int:
        self.slot_nodes.append(node)
        return len(self.slot_nodes) - 1


class ValueNode:
    __slots__ = ()
    inputs: frozenset[int] = frozenset()

    def value(self, track: Track, now: float) -> float | None:
        raise NotImplementedError


class CondNode:
    __slots__ = ()
    inputs: frozenset[int] = frozenset()

    def eval(self, track: Track, now: float, trigger: int, ctx: EvalContext) -> Result:
        """Evaluate for one track; ``trigger``: input index of the sample, -1 for a tick."""
        raise NotImplementedError


class EvalContext:
    """What a node may need beyond its track: per-rule shared state (absent series)."""

    __slots__ = ("absent_series",)

    def __init__(self, absent_series: list[list[SeriesData]]) -> None:
        self.absent_series = absent_series


class InstantNode(ValueNode):
    __slots__ = ("index", "inputs", "stale_after")

    def __init__(self, index: int, stale_after: float) -> None:
        self.index = index
        self.stale_after = stale_after
        self.inputs = frozenset({index})

    def value(self, track: Track, now: float) -> float | None:
        series = track.inputs[self.index]
        # The lookback bound is inclusive: a sample exactly stale_after old still counts.
        if series is None or series.last_t < now - self.stale_after or \
                series.stale_t > series.last_t:
            return None
        return series.last_v


class WindowNode(ValueNode):
    __slots__ = ("feed", "index", "inputs", "ops", "slot")

    def __init__(self, window: Window, ctx: CompileContext) -> None:
        self.index = ctx.track_input(window.selector)
        self.inputs = frozenset({self.index})
        self.ops = WindowOps(window.agg, window.range, window.q)
        self.feed = self.ops.add
        self.slot = ctx.feed(self.index, self, reach=window.range)

    def new_aux(self) -> WindowBuf:
        return self.ops.new()

    def dump_aux(self, aux: WindowBuf) -> Any:
        return aux.dump()

    def load_aux(self, data: Any) -> WindowBuf:
        return WindowBuf.load(data)

    def value(self, track: Track, now: float) -> float | None:
        return self.ops.value(track.aux[self.slot], now)


class ThresholdNode(CondNode):
    __slots__ = ("cmp", "inputs", "op", "source", "threshold")

    def __init__(self, source: ValueNode, op: str, threshold: float) -> None:
        self.source = source
        self.op = op
        self.cmp = COMPARE[op]
        self.threshold = threshold
        self.inputs = source.inputs

    def eval(self, track: Track, now: float, trigger: int, ctx: EvalContext) -> Result:
        v = self.source.value(track, now)
        if v is None:
            return None
        return v if self.cmp(v, self.threshold) else NO_MATCH


class AbsentNode(CondNode):
    __slots__ = ("index", "instant", "window")

    def __init__(self, index: int, window: float, *, instant: bool = False) -> None:
        self.index = index
        self.window = window
        # absent(x) looks up x like an instant selector: a staleness marker ends x at
        # once; absent_over_time(x[w]) asks whether any sample lies in the window.
        self.instant = instant

    def eval(self, track: Track, now: float, trigger: int, ctx: EvalContext) -> Result:
        lo = now - self.window
        for series in ctx.absent_series[self.index]:
            if series.last_t >= lo and not (self.instant and series.stale_t > series.last_t):
                return NO_MATCH
        return 1.0


class AllNode(CondNode):
    __slots__ = ("inputs", "parts")

    def __init__(self, parts: list[CondNode]) -> None:
        self.parts = parts
        self.inputs = frozenset().union(*(p.inputs for p in parts))

    def eval(self, track: Track, now: float, trigger: int, ctx: EvalContext) -> Result:
        value: Result = None
        no_data = failed = False
        for i, part in enumerate(self.parts):
            r = part.eval(track, now, trigger, ctx)  # every part runs: histories advance
            if r is None:
                no_data = True
            elif r is NO_MATCH:
                failed = True
            elif i == 0:
                value = r
        if failed:
            return NO_MATCH
        return None if no_data else value


class AnyNode(CondNode):
    __slots__ = ("inputs", "parts")

    def __init__(self, parts: list[CondNode]) -> None:
        self.parts = parts
        self.inputs = frozenset().union(*(p.inputs for p in parts))

    def eval(self, track: Track, now: float, trigger: int, ctx: EvalContext) -> Result:
        found: Result = None
        no_data = False
        for part in self.parts:
            r = part.eval(track, now, trigger, ctx)
            if r is None:
                no_data = True
            elif r is not NO_MATCH and found is None:
                found = r
        if found is not None:
            return found
        return None if no_data else NO_MATCH


class NotNode(CondNode):
    __slots__ = ("inputs", "part")

    def __init__(self, part: CondNode) -> None:
        self.part = part
        self.inputs = part.inputs

    def eval(self, track: Track, now: float, trigger: int, ctx: EvalContext) -> Result:
        # Like PromQL's `unless`: a part with no output does not suppress.
        r = self.part.eval(track, now, trigger, ctx)
        return NAN if r is None or r is NO_MATCH else NO_MATCH


class ConsecutiveNode(CondNode):
    """History of the part's outcomes as a bit mask in ``aux[slot] = [bits, last value]``."""

    __slots__ = ("inputs", "k", "mask", "part", "slot", "tick_mode")

    def __init__(self, part: CondNode, k: int, n: int, ctx: CompileContext) -> None:
        from .model import EvalMode

        self.part = part
        self.k = k
        self.mask = (1 << n) - 1
        self.inputs = part.inputs
        self.tick_mode = ctx.mode is EvalMode.TICK
        self.slot = ctx.slot(self)

    def new_aux(self) -> list[Any]:
        return [0, float("nan")]

    def dump_aux(self, aux: list[Any]) -> Any:
        from .windows import _enc

        return [aux[0], _enc(aux[1])]

    def load_aux(self, data: Any) -> list[Any]:
        from .windows import _dec

        return [int(data[0]), _dec(data[1])]

    def eval(self, track: Track, now: float, trigger: int, ctx: EvalContext) -> Result:
        r = self.part.eval(track, now, trigger, ctx)
        aux = track.aux[self.slot]
        advance = trigger < 0 if self.tick_mode else trigger in self.inputs
        if advance:
            hit = r is not NO_MATCH and r is not None
            aux[0] = ((aux[0] << 1) | hit) & self.mask
            if hit:
                aux[1] = r
        if aux[0].bit_count() >= self.k:
            return aux[1] if r is NO_MATCH or r is None else r
        return NO_MATCH
