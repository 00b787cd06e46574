"""Self-contained SVG and HTML charts of a :class:`~alertkit.testing.Timeline`.

Hand-written SVG, no plotting dependency: one panel per rule, with the series the rule reads
(a polyline each, broken at NaN and staleness markers), a dashed line per threshold of its
condition, the pending (amber) and firing (red) periods shaded over the plot, a triangle on its
top edge for each notification about the rule (when the replay had routes), and one row per
alert below it.
The HTML page is the same SVG inline plus a table of the events.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import attrs

from alertkit._core.conditions import Threshold
from alertkit._core.labels import Labels, Selector
from alertkit._core.model import AlertState
from alertkit._core.rules import Rule
from alertkit._core.templates import format_value
from alertkit._core.timeutil import format_duration
from alertkit.testing.replay import Timeline

__all__ = ["render_html", "render_svg"]

WIDTH = 960
PLOT_LEFT = 70
PLOT_RIGHT = 20
PLOT_HEIGHT = 180
ROW_HEIGHT = 28
MAX_ROWS = 50
PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
           "#bcbd22")
PENDING_FILL = "#f5a623"
FIRING_FILL = "#d0021b"
RESOLVED_FILL = "#417505"
MAX_LEGEND = 24
MAX_POINTS = 4000  # per series drawn: longer series are thinned (min and max kept per bucket)


def _walk(node: object) -> Iterator[object]:
    """Every attrs value inside a condition (selectors, thresholds, nested conditions)."""
    yield node
    if attrs.has(type(node)):
        for field in attrs.fields(type(node)):  # type: ignore[arg-type]
            yield from _walk(getattr(node, field.name))
    elif isinstance(node, tuple | list):
        for item in node:
            yield from _walk(item)


def selectors_of(rule: Rule) -> list[Selector]:
    """The series selectors a rule's condition (and recovery) read, in order, without repeats."""
    out: list[Selector] = []
    for root in (rule.condition, rule.recovery):
        for node in _walk(root):
            if isinstance(node, Selector) and node not in out:
                out.append(node)
    return out


def thresholds_of(rule: Rule) -> list[Threshold]:
    """The threshold comparisons in a rule's condition and recovery."""
    out: list[Threshold] = []
    for root in (rule.condition, rule.recovery):
        for node in _walk(root):
            if isinstance(node, Threshold) and node not in out:
                out.append(node)
    return out


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _fmt_time(t: float, start: float, *, full: bool = False, span: float = 0.0) -> str:
    """Epoch times as UTC clock times (with the date when ``full`` or over a day's ``span``),
    other times as offsets from ``start`` (``+5m``)."""
    if start >= 1e9:  # epoch seconds: real dates
        seconds = ":%S" if t % 60 else ""
        if full:
            return datetime.fromtimestamp(t, tz=UTC).strftime(f"%Y-%m-%d %H:%M{seconds}Z")
        day = "%m-%d " if span > 86400 else ""
        return datetime.fromtimestamp(t, tz=UTC).strftime(f"{day}%H:%M{seconds}")
    return "+" + format_duration(t - start) if t > start else "0"


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out = []
    v = first
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def _time_ticks(lo: float, hi: float) -> list[float]:
    if hi <= lo:
        return [lo]
    span = hi - lo
    steps = (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
             86400, 172800, 604800)
    step = next((s for s in steps if span / s <= 8), span / 8)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) // step) + 1)]


def _thin(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """At most about MAX_POINTS points, keeping each bucket's min and max (spikes stay)."""
    if len(points) <= MAX_POINTS:
        return list(points)
    size = math.ceil(len(points) / (MAX_POINTS // 2))
    out: list[tuple[float, float]] = []
    for i in range(0, len(points), size):
        bucket = points[i:i + size]
        lo = min(bucket, key=lambda p: p[1])
        hi = max(bucket, key=lambda p: p[1])
        out.extend(sorted({lo, hi}))
    return out


class _Panel:
    """The layout and drawing of one rule's panel."""

    def __init__(self, tl: Timeline, rule: Rule, top: float) -> None:
        self.tl, self.rule, self.top = tl, rule, top
        sels = selectors_of(rule)
        self.series = [
            (metric, labels, pts) for (metric, labels), pts in tl.series.items()
            if any(s.metric == metric and s.matches(labels) for s in sels)
        ]
        self.thresholds = thresholds_of(rule)
        self.alerts = tl.label_sets(rule.name)
        self.plot_top = top + 28
        # The legend sits under the time axis, four entries a line, at most MAX_LEGEND.
        shown = min(len(self.series), MAX_LEGEND) + (len(self.series) > MAX_LEGEND)
        self.legend_top = self.plot_top + PLOT_HEIGHT + 34
        self.rows_top = self.legend_top + 14 * math.ceil(shown / 4) + 10
        rows = min(len(self.alerts), MAX_ROWS) + (len(self.alerts) > MAX_ROWS)
        self.height = (self.rows_top - top) + ROW_HEIGHT * max(1, rows) + 20
        values = [v for *_, pts in self.series for _, v in pts
                  if v is not None and math.isfinite(v)]
        values += [th.threshold for th in self.thresholds if math.isfinite(th.threshold)]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if hi == lo:
            lo, hi = lo - 1, hi + 1
        pad = (hi - lo) * 0.08
        self.lo, self.hi = lo - pad, hi + pad
        self.t0, self.t1 = tl.start, tl.end if tl.end > tl.start else tl.start + 1

    def x(self, t: float) -> float:
        return PLOT_LEFT + (t - self.t0) / (self.t1 - self.t0) * (WIDTH - PLOT_LEFT - PLOT_RIGHT)

    def y(self, v: float) -> float:
        return self.plot_top + (self.hi - v) / (self.hi - self.lo) * PLOT_HEIGHT

    def draw(self) -> list[str]:
        rule = self.rule
        right = WIDTH - PLOT_RIGHT
        out = [f'<g class="rule" data-rule="{_esc(rule.name)}">']
        title = f"{rule.name}: {rule.condition}"
        if rule.for_:
            title += f" for {format_duration(rule.for_)}"
        out.append(f'<text class="title" x="{PLOT_LEFT}" y="{self.top + 16:.1f}">'
                   f"{_esc(title)}</text>")
        out.append(f'<rect class="plot" x="{PLOT_LEFT}" y="{self.plot_top:.1f}" '
                   f'width="{right - PLOT_LEFT}" height="{PLOT_HEIGHT}" fill="#fafafa" '
                   f'stroke="#ccc"/>')
        # Shaded periods first, so the lines stay on top.
        for state, fill, opacity in ((AlertState.PENDING, PENDING_FILL, 0.18),
                                     (AlertState.FIRING, FIRING_FILL, 0.15)):
            for p in self.tl.periods(rule.name, state=state):
                x0, x1 = self.x(p.start), self.x(self.tl.end if p.end is None else p.end)
                out.append(
                    f'<rect class="{state.value}" x="{x0:.1f}" y="{self.plot_top:.1f}" '
                    f'width="{max(x1 - x0, 1.0):.1f}" height="{PLOT_HEIGHT}" fill="{fill}" '
                    f'fill-opacity="{opacity}"><title>{_esc(state.value)} '
                    f"{_esc(str(p.labels))}</title></rect>")
        for v in _nice_ticks(self.lo, self.hi):
            yy = self.y(v)
            out.append(f'<line class="grid" x1="{PLOT_LEFT}" x2="{right}" y1="{yy:.1f}" '
                       f'y2="{yy:.1f}" stroke="#eee"/>')
            out.append(f'<text class="ytick" x="{PLOT_LEFT - 6}" y="{yy + 4:.1f}" '
                       f'text-anchor="end">{_esc(format_value(v))}</text>')
        for t in _time_ticks(self.t0, self.t1):
            xx = self.x(t)
            ty = self.plot_top + PLOT_HEIGHT + 16
            out.append(f'<text class="xtick" x="{xx:.1f}" y="{ty:.1f}" text-anchor="middle">'
                       f"{_esc(_fmt_time(t, self.t0, span=self.t1 - self.t0))}</text>")
        for th in self.thresholds:
            if not math.isfinite(th.threshold):
                continue
            yy = self.y(th.threshold)
            out.append(f'<line class="threshold" x1="{PLOT_LEFT}" x2="{right}" y1="{yy:.1f}" '
                       f'y2="{yy:.1f}" stroke="{FIRING_FILL}" stroke-dasharray="6 4"/>')
            out.append(f'<text class="threshold-label" x="{right - 4}" y="{yy - 4:.1f}" '
                       f'text-anchor="end" fill="{FIRING_FILL}">{_esc(str(th))}</text>')
        for i, (metric, labels, pts) in enumerate(self.series):
            colour = PALETTE[i % len(PALETTE)]
            name = f"{metric}{labels}"
            for run in _runs(pts):
                coords = " ".join(f"{self.x(t):.1f},{self.y(v):.1f}" for t, v in _thin(run))
                if len(run) == 1:
                    t, v = run[0]
                    out.append(f'<circle class="point" cx="{self.x(t):.1f}" '
                               f'cy="{self.y(v):.1f}" r="2" fill="{colour}"/>')
                else:
                    out.append(f'<polyline class="series" data-series="{_esc(name)}" '
                               f'points="{coords}" fill="none" stroke="{colour}" '
                               f'stroke-width="1.5"/>')
            if i < MAX_LEGEND:
                self._legend(out, i, f"\u25a0 {_short(name, 34)}", colour)
        if len(self.series) > MAX_LEGEND:
            self._legend(out, MAX_LEGEND, f"... and {len(self.series) - MAX_LEGEND} more series",
                         "#555")
        self._notifications(out)
        for i, labels in enumerate(self.alerts[:MAX_ROWS]):
            self._alert_row(out, i, labels)
        if len(self.alerts) > MAX_ROWS:
            yy = self.rows_top + MAX_ROWS * ROW_HEIGHT + 11
            out.append(f'<text class="more-alerts" x="{PLOT_LEFT}" y="{yy:.1f}">... and '
                       f"{len(self.alerts) - MAX_ROWS} more alerts (the table of events of the "
                       "HTML chart lists them all)</text>")
        if not self.alerts:
            out.append(f'<text class="no-alerts" x="{PLOT_LEFT}" y="{self.rows_top + 12:.1f}">'
                       "no alerts</text>")
        out.append("</g>")
        return out

    def _notifications(self, out: list[str]) -> None:
        """A small triangle on the plot's top edge for each notification about this rule."""
        y0 = self.plot_top
        for n in self.tl.notifications:
            if not any(a.rule == self.rule.name for a in n.alerts):
                continue
            xx = self.x(n.created_at)
            fill = FIRING_FILL if n.firing else RESOLVED_FILL
            out.append(f'<path class="notification" d="M{xx - 4:.1f},{y0 - 7:.1f} '
                       f'L{xx + 4:.1f},{y0 - 7:.1f} L{xx:.1f},{y0:.1f} Z" fill="{fill}">'
                       f"<title>{_esc(n.status)} notification to {_esc(n.receiver)} at "
                       f"{_esc(_fmt_time(n.created_at, self.t0, full=True))}: "
                       f"{len(n.firing)} firing, {len(n.resolved)} resolved</title></path>")

    def _legend(self, out: list[str], i: int, text: str, colour: str) -> None:
        lx = PLOT_LEFT + (i % 4) * 218
        ly = self.legend_top + (i // 4) * 14
        out.append(f'<text class="legend" x="{lx}" y="{ly:.1f}" fill="{colour}">'
                   f"{_esc(text)}</text>")

    def _alert_row(self, out: list[str], i: int, labels: Labels) -> None:
        yy = self.rows_top + i * ROW_HEIGHT
        shown = labels.without("alertname")
        out.append(f'<g class="alert" data-labels="{_esc(str(shown))}">')
        # The label set on a line of its own, then a track with the pending and firing bars.
        out.append(f'<text class="alert-labels" x="{PLOT_LEFT}" y="{yy + 10:.1f}">'
                   f"{_esc(_short(str(shown), 140))}</text>")
        out.append(f'<rect class="track" x="{PLOT_LEFT}" y="{yy + 14:.1f}" '
                   f'width="{WIDTH - PLOT_LEFT - PLOT_RIGHT}" height="10" fill="#f0f0f0"/>')
        for state, fill in ((AlertState.PENDING, PENDING_FILL), (AlertState.FIRING, FIRING_FILL)):
            for p in self.tl.periods(self.rule.name, dict(labels), state=state):
                if p.labels != labels:
                    continue
                x0, x1 = self.x(p.start), self.x(self.tl.end if p.end is None else p.end)
                begin = _fmt_time(p.start, self.t0, full=True)
                end = "open" if p.end is None else _fmt_time(p.end, self.t0, full=True)
                out.append(f'<rect class="{state.value}-bar" x="{x0:.1f}" y="{yy + 14:.1f}" '
                           f'width="{max(x1 - x0, 1.0):.1f}" height="10" '
                           f'fill="{fill}"><title>{state.value} '
                           f"{_esc(begin)} .. {_esc(end)}</title></rect>")
        out.append("</g>")


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _runs(pts: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Split a series into drawable runs: a staleness marker or a NaN/inf breaks the line."""
    runs: list[list[tuple[float, float]]] = []
    cur: list[tuple[float, float]] = []
    for t, v in pts:
        if v is None or not math.isfinite(v):
            if cur:
                runs.append(cur)
            cur = []
            continue
        cur.append((t, v))
    if cur:
        runs.append(cur)
    return runs


def render_svg(tl: Timeline, rules: Sequence[Rule], *, title: str | None = None) -> str:
    """A standalone SVG document (UTF-8 text) charting ``tl`` for ``rules``."""
    panels: list[_Panel] = []
    top = 40.0
    for rule in rules:
        panel = _Panel(tl, rule, top)
        panels.append(panel)
        top += panel.height
    height = int(top + 10)
    head = title or (f"alertkit simulation: {_fmt_time(tl.start, tl.start, full=True)} .. "
                     f"{_fmt_time(tl.end, tl.start, full=True)}")
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" version="1.1" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        'font-family="sans-serif" font-size="11">',
        f"<title>{_esc(head)}</title>",
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text class="heading" x="{PLOT_LEFT}" y="24" font-size="14" font-weight="bold">'
        f"{_esc(head)}</text>",
        f'<text class="key" x="{WIDTH - PLOT_RIGHT}" y="24" text-anchor="end">'
        f'<tspan fill="{PENDING_FILL}">\u25a0 pending</tspan> '
        f'<tspan fill="{FIRING_FILL}">\u25a0 firing</tspan></text>',
    ]
    for panel in panels:
        out.extend(panel.draw())
    out.append("</svg>")
    return "\n".join(out) + "\n"


def render_html(tl: Timeline, rules: Sequence[Rule], *, title: str | None = None) -> str:
    """A self-contained HTML page: the SVG chart inline and a table of the events."""
    head = title or "alertkit simulation"
    rows = []
    for e in tl.events:
        at = _fmt_time(e.at, tl.start, full=True)
        rows.append(
            f"<tr class=\"{_esc(e.kind.value)}\"><td>{_esc(at)}</td>"
            f"<td>{_esc(e.kind.value)}</td><td>{_esc(e.alert.rule)}</td>"
            f"<td>{_esc(str(e.alert.labels.without('alertname')))}</td>"
            f"<td>{_esc(format_value(e.alert.value))}</td></tr>")
    table = ("<table>\n<thead><tr><th>time</th><th>event</th><th>rule</th><th>labels</th>"
             "<th>value</th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
             if rows else "<p>No alert events.</p>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
             f"tr.firing td{{color:{FIRING_FILL}}}tr.pending td{{color:#a66d00}}")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
        f"<title>{_esc(head)}</title>\n<style>{style}</style>\n</head>\n<body>\n"
        f"<h1>{_esc(head)}</h1>\n"
        + render_svg(tl, rules, title=title)
        + f"<h2>Events</h2>\n{table}\n</body>\n</html>\n"
    )
