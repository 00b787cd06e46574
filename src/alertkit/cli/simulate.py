"""``alertkit simulate RULES... --series data.csv|json``: replay data through rules.

Prints the timeline of alert events (and a per-rule summary; with ``--routes``, the
notifications each receiver would get), and with ``--out`` writes a
self-contained chart: ``.svg`` (the series, the thresholds, shaded pending and firing periods)
or ``.html`` (the same SVG inline, plus a table of the events). Progress goes to stderr when
stderr is a terminal, or always with ``--progress``. Exit code 0, or 2 on a bad rule or data
file.

Series files:

* CSV, long form: a header ``time,series,value`` then one sample per row;
* CSV, wide form: a header ``time,<series>,<series>...`` then one row per time;
* JSON: ``{"cpu{host=\\"a\\"}": [[t, v], ...]}`` or the same with a string in promtool's
  series notation (stepped by ``--interval`` from ``--start``), or a list of
  ``{"series": ..., "time": ..., "value": ...}`` objects.

Times are epoch seconds or ISO 8601 (``2026-01-01T00:00:00Z``); an empty value is no sample,
``stale`` a staleness marker, ``NaN`` and ``Inf`` are values.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from alertkit._core.rules import Rule
from alertkit._core.templates import format_value
from alertkit._core.timeutil import format_duration, parse_duration
from alertkit._errors import AlertkitError, InvalidSampleError, RuleFileError, RuleTestFileError
from alertkit.cli._chart import render_html, render_svg
from alertkit.cli._output import plural
from alertkit.config._rules import load_rules
from alertkit.testing.replay import Timeline, parse_series_name, replay
from alertkit.testing.series import STALE, SeriesValue, expand_series
from alertkit.testing.testfile import check_routing_file

__all__ = ["load_series_file", "register", "run"]

Points = dict[str, list[tuple[float, SeriesValue]]]


def register(subparsers: Any) -> None:
    """Add the ``simulate`` command to the CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate", help="replay a data file through rules; print the timeline, draw a chart",
        description="Replay series from a CSV or JSON file through rule files; print the alert "
                    "events and optionally write an SVG or HTML chart.")
    parser.add_argument("rules", nargs="+", metavar="RULES", help="rule files (TOML or YAML)")
    parser.add_argument("--series", required=True, metavar="FILE",
                        help="the data: a .csv or .json file")
    parser.add_argument("--interval", default="1m", metavar="DURATION",
                        help="evaluation interval, and the step of series notation "
                             "(default 1m)")
    parser.add_argument("--mode", choices=("sample", "tick"), default=None,
                        help="default evaluation mode of rules that do not set one "
                             "(default: sample)")
    parser.add_argument("--start", default=None, metavar="TIME",
                        help="first instant (epoch seconds or ISO 8601; default: first sample)")
    parser.add_argument("--end", default=None, metavar="TIME",
                        help="last instant, or a duration after the first one like 30m "
                             "(default: last sample)")
    parser.add_argument("--routes", default=None, metavar="FILE",
                        help="a routing file: also dispatch the alerts and print the "
                             "notifications each receiver would get")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="write a chart: FILE.svg or FILE.html")
    parser.add_argument("--title", default=None, help="the chart's title")
    parser.add_argument("--progress", action="store_true",
                        help="report progress on stderr even when it is not a terminal")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only the per-rule summary, not every event")
    parser.set_defaults(func=run)


# -- input ------------------------------------------------------------------------------------


def _time(text: object, where: str) -> float:
    if isinstance(text, bool):
        raise InvalidSampleError(f"{where}: {text!r} is not a time")
    if isinstance(text, int | float):
        value = float(text)
    elif isinstance(text, str):
        s = text.strip()
        try:
            value = float(s)
        except ValueError:
            try:
                dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidSampleError(f"{where}: {text!r} is not a time (epoch seconds or "
                                         f"ISO 8601)") from None
            value = (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    else:
        raise InvalidSampleError(f"{where}: {text!r} is not a time")
    if not math.isfinite(value):
        raise InvalidSampleError(f"{where}: {text!r} is not a finite time")
    return value


def _value(raw: object, where: str) -> SeriesValue:
    """A float, ``None`` (empty: no sample) or STALE."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise InvalidSampleError(f"{where}: {raw!r} is not a number")
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        s = raw.strip()
        if not s:
            return None
        if s == "stale":
            return STALE
        try:
            return float(s)
        except ValueError:
            pass
    raise InvalidSampleError(f"{where}: {raw!r} is not a number (or empty, or 'stale')")


def _check_name(name: object, where: str) -> str:
    if not isinstance(name, str):
        raise InvalidSampleError(f"{where}: series name {name!r} is not a string")
    try:
        parse_series_name(name)
    except AlertkitError as exc:
        raise InvalidSampleError(f"{where}: {exc}") from None
    return name


def _csv(text: str, source: str) -> Points:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise InvalidSampleError(f"{source}: empty; expected a header like time,series,value")
    header = [h.strip() for h in rows[0]]
    out: Points = {}
    if header == ["time", "series", "value"]:
        for n, row in enumerate(rows[1:], start=2):
            where = f"{source}:{n}"
            if not row:
                continue
            if len(row) != 3:
                raise InvalidSampleError(f"{where}: expected 3 columns (time,series,value), "
                                         f"got {len(row)}")
            name = _check_name(row[1].strip(), where)
            v = _value(row[2], where)
            if v is not None:
                out.setdefault(name, []).append((_time(row[0], where), v))
        return out
    if len(header) < 2 or header[0] != "time":
        raise InvalidSampleError(f"{source}:1: the header must be time,series,value or "
                                 f"time,<series>,<series>...; got {','.join(header)!r}")
    names = [_check_name(h, f"{source}:1") for h in header[1:]]
    for n, row in enumerate(rows[1:], start=2):
        where = f"{source}:{n}"
        if not row:
            continue
        if len(row) != len(header):
            raise InvalidSampleError(f"{where}: expected {len(header)} columns, got {len(row)}")
        t = _time(row[0], where)
        for name, raw in zip(names, row[1:], strict=True):
            v = _value(raw, f"{where} ({name})")
            if v is not None:
                out.setdefault(name, []).append((t, v))
    return out


def _json(text: str, source: str, start: float, interval: float) -> Points:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSampleError(f"{source}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    out: Points = {}
    if isinstance(data, dict):
        for name, points in data.items():
            where = f"{source}: {name}"
            _check_name(name, source)
            if isinstance(points, str):
                try:
                    pairs = expand_series(points, start, interval)
                except AlertkitError as exc:
                    raise InvalidSampleError(f"{where}: {exc}") from None
                out[name] = [(t, STALE if v is None else v) for t, v in pairs]
                continue
            if not isinstance(points, list):
                raise InvalidSampleError(f"{where}: expected a list of [time, value] pairs or "
                                         f"series notation, got {points!r}")
            dest = out.setdefault(name, [])
            for i, p in enumerate(points):
                if not isinstance(p, list) or len(p) != 2:
                    raise InvalidSampleError(f"{where}[{i}]: {p!r} is not a [time, value] pair")
                v = _value(p[1], f"{where}[{i}]")
                if v is not None:
                    dest.append((_time(p[0], f"{where}[{i}]"), v))
        return out
    if isinstance(data, list):
        for i, item in enumerate(data):
            where = f"{source}: [{i}]"
            if not isinstance(item, dict) or set(item) != {"series", "time", "value"}:
                raise InvalidSampleError(f"{where}: expected an object with exactly series, "
                                         f"time and value, got {item!r}")
            name = _check_name(item["series"], where)
            v = _value(item["value"], where)
            if v is not None:
                out.setdefault(name, []).append((_time(item["time"], where), v))
        return out
    raise InvalidSampleError(f"{source}: expected an object (series -> points) or a list of "
                             f"samples, got {type(data).__name__}")


def load_series_file(path: str | Path, *, start: float = 0.0,
                     interval: float = 60.0) -> Points:
    """Read a CSV or JSON series file into ``{series name: [(t, value), ...]}``.

    Raises :class:`~alertkit.InvalidSampleError` naming the file and line (CSV) or item.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidSampleError(f"{p}: cannot read: {exc}") from None
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return _csv(text, str(p))
    if suffix == ".json":
        return _json(text, str(p), start, interval)
    raise InvalidSampleError(f"{p}: unknown series file type {suffix!r} (use .csv or .json)")


def _end(text: str, start: float | None, data: Points) -> float:
    """``--end``: an instant, or a duration (``"30m"``) after the first instant."""
    try:
        return _time(text, "--end")
    except InvalidSampleError:
        try:
            offset = parse_duration(text, field="--end")
        except AlertkitError:
            raise InvalidSampleError(f"--end: {text!r} is not a time (epoch seconds or "
                                     f"ISO 8601) nor a duration like 30m") from None
    if start is None:
        start = min((t for pts in data.values() for t, _ in pts), default=0.0)
    return start + offset


# -- progress -------------------------------------------------------------------------------


def _progress(stream: TextIO, tty: bool) -> Callable[[float, float], None]:
    """A ``replay(progress=...)`` callback: a redrawn bar on a terminal, lines at each 10 %
    otherwise."""
    state = {"last": -1}

    def report(done: float, total: float) -> None:
        frac = 1.0 if total <= 0 else min(max(done / total, 0.0), 1.0)
        pct = int(frac * 100)
        if tty:
            if pct == state["last"]:
                return
            bar = "#" * (pct // 5) + "." * (20 - pct // 5)
            stream.write(f"\rsimulating [{bar}] {pct:3d}% of {format_duration(total)}")
            if pct == 100:
                stream.write("\n")
        else:
            step = pct // 10 * 10
            if step <= state["last"]:
                return
            pct = step
            stream.write(f"simulating: {pct}% of {format_duration(total)}\n")
        state["last"] = pct
        stream.flush()

    return report


# -- the command ------------------------------------------------------------------------------


def _at(tl: Timeline, t: float) -> str:
    offset = format_duration(t - tl.start)
    return f"t={format_value(t)} (+{offset})"


def _summary(tl: Timeline, rules: list[Rule]) -> list[str]:
    lines = []
    for rule in rules:
        periods = tl.periods(rule.name)
        if not periods:
            lines.append(f"{rule.name}: never fired")
            continue
        first = min(p.start for p in periods)
        total = sum((tl.end if p.end is None else p.end) - p.start for p in periods)
        alerts = len({p.labels for p in periods})
        lines.append(f"{rule.name}: fired {plural(len(periods), 'time')} "
                     f"({plural(alerts, 'label set')}), first at {_at(tl, first)}, "
                     f"firing {format_duration(total)} in total")
    return lines


def run(args: argparse.Namespace) -> int:
    """Replay the data through the rules; print, and write the chart; return the exit code."""
    out, err = sys.stdout, sys.stderr
    try:
        rules = load_rules(*args.rules)
        interval = parse_duration(args.interval, field="--interval", allow_zero=False)
        start = None if args.start is None else _time(args.start, "--start")
        data = load_series_file(args.series, start=start or 0.0, interval=interval)
        end = None if args.end is None else _end(args.end, start, data)
        out_path = None if args.out is None else Path(args.out)
        if out_path is not None and out_path.suffix.lower() not in (".svg", ".html", ".htm"):
            raise InvalidSampleError(f"--out {args.out}: use a .svg or .html file name")
        tty = bool(getattr(err, "isatty", None) and err.isatty())
        progress = _progress(err, tty) if (tty or args.progress) else None
        routes, receivers = (None, None) if args.routes is None else \
            check_routing_file(args.routes)
        tl = replay(rules, data, ticks=interval, start=start, end=end, mode=args.mode,
                    progress=progress, routes=routes,
                    receivers=None if receivers is None else list(receivers))
    except (RuleFileError, RuleTestFileError) as exc:
        print(str(exc).replace("\n", "\n  "), file=err)
        return 2
    except AlertkitError as exc:
        print(f"error: {exc}", file=err)
        return 2
    if not args.quiet:
        print(tl.format() or "no alert events", file=out)
        print(file=out)
    for line in _summary(tl, rules):
        print(line, file=out)
    for receiver in tl.receivers or ():
        sent = tl.notifications_to(receiver)
        print(f"{receiver}: {plural(len(sent), 'notification')}", file=out)
    if out_path is not None:
        if out_path.suffix.lower() == ".svg":
            doc = render_svg(tl, rules, title=args.title)
        else:
            doc = render_html(tl, rules, title=args.title)
        try:
            out_path.write_text(doc, encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {out_path}: {exc}", file=err)
            return 2
        print(f"chart written to {out_path}", file=out)
    return 0
