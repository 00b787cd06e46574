"""The minimal notifier seam and the two built-ins that need no network.

The Engine hands each notifier the events of one evaluation step. Routing,
grouping and retries sit in front of this seam (a later layer); a notifier
here only delivers.
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import IO, Protocol, runtime_checkable

from alertkit._core.model import AlertEvent
from alertkit._core.templates import format_value

__all__ = ["CallbackNotifier", "ConsoleNotifier", "LogNotifier", "Notifier", "event_record"]


@runtime_checkable
class Notifier(Protocol):
    """Anything with ``async def notify(self, events)`` can receive alert events."""

    async def notify(self, events: Sequence[AlertEvent]) -> None: ...


def event_record(event: AlertEvent) -> dict[str, object]:
    """A JSON-friendly dict of an event (what the console and log notifiers emit)."""
    alert = event.alert
    record: dict[str, object] = {
        "event": event.kind.value,
        "at": event.at,
        "rule": alert.rule,
        "fingerprint": alert.fingerprint,
        "state": alert.state.value,
        "severity": str(alert.severity),
        "value": format_value(alert.value),
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "active_at": alert.active_at,
    }
    if alert.fired_at is not None:
        record["fired_at"] = alert.fired_at
    if alert.resolved_at is not None:
        record["resolved_at"] = alert.resolved_at
    if event.errors:
        record["errors"] = list(event.errors)
    return record


class ConsoleNotifier:
    """Writes one line per event to a stream (stdout by default).

    ``json=True`` writes one JSON object per line instead of text.
    """

    def __init__(self, stream: IO[str] | None = None, *, json: bool = False) -> None:
        self._stream = stream
        self._json = json

    async def notify(self, events: Sequence[AlertEvent]) -> None:
        stream = self._stream or sys.stdout
        for event in events:
            if self._json:
                stream.write(json.dumps(event_record(event), sort_keys=True) + "\n")
            else:
                summary = event.alert.annotations.get("summary", "")
                line = str(event) + (f"  {summary}" if summary else "")
                stream.write(line + "\n")
        stream.flush()

    def __repr__(self) -> str:
        return f"ConsoleNotifier(json={self._json})"


class LogNotifier:
    """Logs each event through :mod:`logging`, with the event as structured ``extra``.

    Firing events log at WARNING (ERROR for high and critical severity),
    the others at INFO. The record's ``alert`` attribute holds
    :func:`event_record`'s dict, for JSON log formatters.
    """

    def __init__(self, logger: logging.Logger | str = "alertkit.alerts") -> None:
        self._logger = logging.getLogger(logger) if isinstance(logger, str) else logger

    async def notify(self, events: Sequence[AlertEvent]) -> None:
        for event in events:
            level = logging.INFO
            if event.kind.value == "firing":
                level = logging.ERROR if event.alert.severity >= 40 else logging.WARNING
            self._logger.log(level, "%s", event, extra={"alert": event_record(event)})

    def __repr__(self) -> str:
        return f"LogNotifier({self._logger.name!r})"


Callback = Callable[[Sequence[AlertEvent]], Awaitable[None] | None]


class CallbackNotifier:
    """Calls a function (sync or async) with each batch of events."""

    def __init__(self, callback: Callback) -> None:
        if not callable(callback):
            raise TypeError(f"CallbackNotifier needs a callable, got {callback!r}")
        self._callback = callback

    async def notify(self, events: Sequence[AlertEvent]) -> None:
        result = self._callback(events)
        if inspect.isawaitable(result):
            await result

    def __repr__(self) -> str:
        name = getattr(self._callback, "__qualname__", type(self._callback).__name__)
        return f"CallbackNotifier({name})"
