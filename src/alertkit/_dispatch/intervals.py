"""Named time intervals for mute and active windows (Alertmanager's ``time_intervals``).

A :class:`TimeInterval` holds up to five conditions, each a list of ranges; an
instant is inside the interval when every condition that is set holds, read
on the wall clock of the interval's ``location`` (an IANA zone, UTC by default).
Several ``TimeInterval`` values with the same name form one named interval
that contains an instant when any of them does, as a list under one name in
Alertmanager.

Everything is evaluated on local wall-clock time through :mod:`zoneinfo`, so
"01:00-03:00 Europe/Berlin" stays 01:00-03:00 on the local clock across DST
changes (the skipped hour never occurs, the repeated hour occurs twice).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from alertkit._errors import ConfigError

__all__ = ["TimeInterval"]

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})\Z")

Range = tuple[int, int]


def _minutes(text: object, field: str) -> int:
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    elif isinstance(text, str) and (m := _CLOCK.match(text.strip())):
        hours, minutes = int(m.group(1)), int(m.group(2))
        if minutes >= 60:
            raise ConfigError(f"{field}: {text!r} is not a time of day (HH:MM)")
        value = hours * 60 + minutes
    else:
        raise ConfigError(f"{field}: {text!r} is not a time of day (HH:MM or minutes)")
    if not 0 <= value <= 1440:
        raise ConfigError(f"{field}: {text!r} is outside 00:00..24:00")
    return value


def _times(value: object) -> tuple[Range, ...]:
    out = []
    for i, item in enumerate(_items(value, "times")):
        field = f"times[{i}]"
        if isinstance(item, str):
            parts = item.split("-")
            if len(parts) != 2:
                raise ConfigError(f"{field}: {item!r} is not a range like '09:00-17:00'")
            start, end = _minutes(parts[0], field), _minutes(parts[1], field)
        elif isinstance(item, Sequence) and len(item) == 2:
            start, end = _minutes(item[0], field), _minutes(item[1], field)
        else:
            raise ConfigError(f"{field}: {item!r} is not a (start, end) pair")
        if start >= end:
            raise ConfigError(f"{field}: start {start} min must be before end {end} min")
        out.append((start, end))
    return tuple(out)


def _items(value: object, field: str) -> list[object]:
    if isinstance(value, str | int):
        return [value]
    if not isinstance(value, Iterable):
        raise ConfigError(f"{field}: {value!r} is not a list")
    return list(value)


def _one(item: object, field: str, names: Sequence[str] | None, lo: int, hi: int,
         *, negative: bool = False) -> int:
    if isinstance(item, str) and names is not None:
        key = item.strip().lower()
        if key in names:
            return names.index(key) + lo
    if isinstance(item, str):
        try:
            item = int(item.strip())
        except ValueError:
            raise ConfigError(f"{field}: {item!r} is not a valid value") from None
    if not isinstance(item, int) or isinstance(item, bool):
        raise ConfigError(f"{field}: {item!r} is not a valid value")
    if negative and -hi <= item <= -1:
        return item
    if not lo <= item <= hi:
        raise ConfigError(f"{field}: {item} is outside {lo}..{hi}")
    return item


def _ranges(value: object, field: str, names: Sequence[str] | None, lo: int, hi: int,
            *, negative: bool = False) -> tuple[Range, ...]:
    out = []
    for i, item in enumerate(_items(value, field)):
        where = f"{field}[{i}]"
        if isinstance(item, str) and ":" in item:
            a, b = item.split(":", 1)
            begin = _one(a, where, names, lo, hi, negative=negative)
            end = _one(b, where, names, lo, hi, negative=negative)
        elif isinstance(item, Sequence) and not isinstance(item, str):
            if len(item) != 2:
                raise ConfigError(f"{where}: {item!r} is not a (begin, end) pair")
            begin = _one(item[0], where, names, lo, hi, negative=negative)
            end = _one(item[1], where, names, lo, hi, negative=negative)
        else:
            begin = end = _one(item, where, names, lo, hi, negative=negative)
        if negative and begin < 0 < end:
            raise ConfigError(f"{where}: a negative start day needs a negative end day")
        if (begin < 0) == (end < 0) and begin > end:
            raise ConfigError(f"{where}: start {begin} is after end {end}")
        out.append((begin, end))
    return tuple(out)


def _weekdays(value: object) -> tuple[Range, ...]:
    return _ranges(value, "weekdays", WEEKDAYS, 0, 6)


def _days(value: object) -> tuple[Range, ...]:
    return _ranges(value, "days_of_month", None, 1, 31, negative=True)


def _months(value: object) -> tuple[Range, ...]:
    return _ranges(value, "months", MONTHS, 1, 12)


def _years(value: object) -> tuple[Range, ...]:
    return _ranges(value, "years", None, 1, 9999)


def _location(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"location: {value!r} is not an IANA time zone name")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"location: {value!r} is not a known IANA time zone") from None
    return value


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"time interval name {value!r} must be a non-empty string")
    return value


@attrs.frozen(kw_only=True)
class TimeInterval:
    """A named recurring window of time, in Alertmanager's terms.

    :param name: what routes refer to in ``mute_time_intervals`` / ``active_time_intervals``.
    :param times: times of day as ``[start, end)`` minute ranges, or strings ``"09:00-17:00"``
        (end may be ``24:00``).
    :param weekdays: inclusive ranges, Sunday = 0, or names: ``"monday:friday"``, ``"sunday"``.
    :param days_of_month: inclusive ranges of 1..31; negative days count from the end
        (``-1`` is the last day): ``"1:5"``, ``"-3:-1"``.
    :param months: inclusive ranges of 1..12 or names: ``"january:march"``.
    :param years: inclusive ranges: ``"2024:2026"``.
    :param location: IANA zone the conditions are read in (``"Europe/Berlin"``), default UTC.

    An unset (empty) condition always holds, so ``TimeInterval(name="always")``
    contains every instant.

    >>> nights = TimeInterval(name="nights", times=["00:00-06:00"], location="Europe/Paris")
    >>> nights.contains(1_704_070_800.0)  # 2024-01-01 02:00 in Paris
    True
    """

    name: str = attrs.field(converter=_name)
    times: tuple[Range, ...] = attrs.field(default=(), converter=_times)
    weekdays: tuple[Range, ...] = attrs.field(default=(), converter=_weekdays)
    days_of_month: tuple[Range, ...] = attrs.field(default=(), converter=_days)
    months: tuple[Range, ...] = attrs.field(default=(), converter=_months)
    years: tuple[Range, ...] = attrs.field(default=(), converter=_years)
    location: str = attrs.field(default="UTC", converter=_location)
    _zone: ZoneInfo = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_zone", ZoneInfo(self.location))

    def contains(self, t: float) -> bool:
        """Whether the instant ``t`` (epoch seconds) lies in this interval."""
        local = datetime.fromtimestamp(t, self._zone)
        if self.times:
            minute = local.hour * 60 + local.minute
            if not any(start <= minute < end for start, end in self.times):
                return False
        if self.weekdays:
            wd = local.isoweekday() % 7  # Sunday = 0, as Go's time.Weekday
            if not any(b <= wd <= e for b, e in self.weekdays):
                return False
        if self.days_of_month and not _day_in(local, self.days_of_month):
            return False
        if self.months and not any(b <= local.month <= e for b, e in self.months):
            return False
        return not self.years or any(b <= local.year <= e for b, e in self.years)

    def to_dict(self) -> dict[str, Any]:
        """A plain description (for docs and debugging)."""
        return {"name": self.name, "times": self.times, "weekdays": self.weekdays,
                "days_of_month": self.days_of_month, "months": self.months,
                "years": self.years, "location": self.location}


def _day_in(local: datetime, ranges: tuple[Range, ...]) -> bool:
    days = calendar.monthrange(local.year, local.month)[1]
    for b, e in ranges:
        # Alertmanager's arithmetic: -1 is the last day; a start past the month's end
        # skips the range, an end past it is clamped (so "1:31" covers a short month).
        begin = days + b + 1 if b < 0 else b
        end = days + e + 1 if e < 0 else e
        if begin > days:
            continue
        end = min(end, days)
        if begin <= local.day <= end:
            return True
    return False

