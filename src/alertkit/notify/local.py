"""Senders that stay in the process: the console, :mod:`logging`, a user function.

They implement the notification protocol (:class:`~alertkit.NotificationSender`:
one notification in, one delivery result out), so they sit behind routing,
grouping, silences and retries like any channel: handy in development, in
tests, and to hand notifications to code of your own. (The event-level
:class:`~alertkit.ConsoleNotifier`, :class:`~alertkit.LogNotifier` and
:class:`~alertkit.CallbackNotifier` receive raw alert events instead.)

URL forms, through :func:`~alertkit.notifier_from_url`:

- ``console://`` or ``console://stdout``, ``console://stderr``; ``?format=json``
  for one JSON object per line;
- ``log://`` (logger ``alertkit.notifications``) or ``log://my.logger``;
  ``?level=info`` for the level of firing notifications (resolved ones log
  at INFO).
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import IO, Any, ClassVar, TypeAlias
from urllib.parse import parse_qsl

import anyio

from alertkit._core.model import Alert, Severity
from alertkit._core.templates import format_value
from alertkit._dispatch.notification import (
    Delivered,
    DeliveryResult,
    Failed,
    Notification,
    Retry,
)
from alertkit._errors import NotifierConfigError
from alertkit.notify.registry import default_registry
from alertkit.notify.schema import notification_to_dict
from alertkit.notify.sender import DeliveryContext, result_from_exception

__all__ = ["CallbackSender", "ConsoleSender", "LogSender", "notification_record"]


def _title(n: Notification) -> str:
    title = n.texts.get("title")
    if title:
        return title
    names = ", ".join(sorted({a.rule for a in n.alerts})) or "no alerts"
    count = len(n.firing) if n.firing else len(n.resolved)
    return f"[{n.status.upper()}:{count}] {names}"


def _alert_line(a: Alert, status: str) -> str:
    summary = a.annotations.get("summary", "")
    line = f"  {status:8} {a.rule}{a.labels} {a.severity} value={format_value(a.value)}"
    return line + (f"  {summary}" if summary else "")


def notification_record(n: Notification) -> dict[str, Any]:
    """A flat, JSON-friendly summary of ``n`` (the ``extra`` of :class:`LogSender`'s records).

    Keys: ``receiver``, ``status``, ``title``, ``group_key``, ``group_labels``,
    ``idempotency_key``, ``firing`` and ``resolved`` (counts), ``truncated``,
    ``severity`` (the highest), ``alerts`` (per alert: status, rule, labels,
    annotations, severity, value as text, fingerprint).
    """
    alerts = [(a, "firing") for a in n.firing] + [(a, "resolved") for a in n.resolved]
    top = max((a.severity for a in (n.firing or n.resolved)), default=None)
    return {
        "receiver": n.receiver,
        "status": n.status,
        "title": _title(n),
        "group_key": n.group_key,
        "group_labels": dict(n.group_labels),
        "idempotency_key": n.idempotency_key,
        "firing": len(n.firing),
        "resolved": len(n.resolved),
        "truncated": n.truncated,
        "severity": str(top) if top is not None else None,
        "alerts": [{"status": s, "rule": a.rule, "labels": dict(a.labels),
                    "annotations": dict(a.annotations), "severity": str(a.severity),
                    "value": format_value(a.value), "fingerprint": a.fingerprint}
                   for a, s in alerts],
    }


class ConsoleSender:
    """Writes each notification to a stream (stdout by default).

    Text (default): the title (the rendered ``title`` text, or
    ``[FIRING:2] Rule``), then one line per alert; ``json=True``: the
    notification as one line of alertkit's JSON schema
    (:func:`~alertkit.notification_to_dict`). A write error (closed stream,
    full disk) is a :class:`~alertkit.Retry`.

    >>> import io
    >>> ConsoleSender(io.StringIO(), json=True)
    ConsoleSender(json=True)
    """

    kind: ClassVar[str] = "console"
    formats: tuple[str, ...] = ("plain",)

    def __init__(self, stream: IO[str] | None = None, *, json: bool = False) -> None:
        if not isinstance(json, bool):
            raise NotifierConfigError(f"ConsoleSender: json must be True or False, got {json!r}")
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise NotifierConfigError("ConsoleSender: stream must have a write() method")
        self._stream = stream
        self._json = json

    def text(self, n: Notification) -> str:
        """What is written for ``n`` (ends with a newline)."""
        if self._json:
            return json.dumps(notification_to_dict(n), ensure_ascii=False, sort_keys=True,
                              allow_nan=False) + "\n"
        lines = [_title(n)]
        lines += [_alert_line(a, "firing") for a in n.firing]
        lines += [_alert_line(a, "resolved") for a in n.resolved]
        if n.truncated:
            lines.append(f"  … and {n.truncated} more alert(s) not shown")
        return "\n".join(lines) + "\n"

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        stream = self._stream or sys.stdout
        try:
            stream.write(self.text(notification))
            stream.flush()
        except (OSError, ValueError) as exc:  # ValueError: I/O on a closed file
            return Retry(f"console write failed: {type(exc).__name__}")
        return Delivered()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ConsoleSender:
        """``console://``, ``console://stdout`` or ``console://stderr``, ``?format=json``."""
        target, query = _split(url, "console")
        streams = {"": None, "stdout": None, "stderr": sys.stderr}
        if target not in streams:
            raise NotifierConfigError(
                f"console URL: the target must be stdout or stderr, not {target!r}")
        kwargs: dict[str, Any] = {}
        for key, value in query:
            if key != "format" or value not in ("text", "json"):
                raise NotifierConfigError(
                    f"console URL: unknown option {key}={value!r} (known: format=text|json)")
            kwargs["json"] = value == "json"
        kwargs.update(options)
        stream = kwargs.pop("stream", streams[target])
        return cls(stream, **kwargs)

    def __repr__(self) -> str:
        return f"ConsoleSender(json={self._json})"


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}


def _level(value: object, field: str) -> int:
    if isinstance(value, str) and value.lower() in _LEVELS:
        return _LEVELS[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool) and value in _LEVELS.values():
        return value
    raise NotifierConfigError(
        f"LogSender: {field} must be one of {', '.join(_LEVELS)} (or its logging number), "
        f"got {value!r}")


class LogSender:
    """Logs one record per notification through :mod:`logging`.

    The message is the title; the record carries the notification as
    structured ``extra`` fields for JSON log formatters: ``notification``
    (:func:`notification_record`'s dict) and the flat ``alertkit_receiver``,
    ``alertkit_status``, ``alertkit_group_key``, ``alertkit_idempotency_key``,
    ``alertkit_severity``. A firing notification logs at ``level`` (default
    WARNING, ERROR if ``escalate`` and its highest severity is high or
    critical); a resolved one at ``resolved_level`` (default INFO).
    """

    kind: ClassVar[str] = "log"
    formats: tuple[str, ...] = ("plain",)

    def __init__(
        self,
        logger: logging.Logger | str = "alertkit.notifications",
        *,
        level: int | str = logging.WARNING,
        resolved_level: int | str = logging.INFO,
        escalate: bool = True,
    ) -> None:
        if isinstance(logger, str):
            if not logger or any(c.isspace() for c in logger):
                raise NotifierConfigError(f"LogSender: logger name {logger!r} is not valid")
            logger = logging.getLogger(logger)
        if not isinstance(logger, logging.Logger):
            raise NotifierConfigError("LogSender: logger must be a logging.Logger or a name")
        self._logger = logger
        self.level = _level(level, "level")
        self.resolved_level = _level(resolved_level, "resolved_level")
        self.escalate = bool(escalate)

    def level_for(self, n: Notification) -> int:
        """The logging level of ``n``'s record."""
        if not n.firing:
            return self.resolved_level
        top = max(a.severity for a in n.firing)
        if self.escalate and top >= Severity.HIGH:
            return max(self.level, logging.ERROR)
        return self.level

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        record = notification_record(notification)
        extra = {
            "notification": record,
            "alertkit_receiver": notification.receiver,
            "alertkit_status": notification.status,
            "alertkit_group_key": notification.group_key,
            "alertkit_idempotency_key": notification.idempotency_key,
            "alertkit_severity": record["severity"],
        }
        self._logger.log(self.level_for(notification), "%s", record["title"], extra=extra)
        return Delivered()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> LogSender:
        """``log://`` or ``log://logger.name``, ``?level=info&resolved_level=debug``."""
        target, query = _split(url, "log")
        kwargs: dict[str, Any] = {}
        for key, value in query:
            if key not in ("level", "resolved_level"):
                raise NotifierConfigError(
                    f"log URL: unknown option {key!r} (known: level, resolved_level)")
            kwargs[key] = value
        kwargs.update(options)
        return cls(target or "alertkit.notifications", **kwargs)

    def __repr__(self) -> str:
        return (f"LogSender({self._logger.name!r}, level={logging.getLevelName(self.level)}, "
                f"resolved_level={logging.getLevelName(self.resolved_level)})")


def _split(url: str, scheme: str) -> tuple[str, list[tuple[str, str]]]:
    if not isinstance(url, str):
        raise NotifierConfigError(f"{scheme} URL must be a string, got {type(url).__name__}")
    head, sep, rest = url.partition("://")
    if not sep or head.lower() != scheme:
        raise NotifierConfigError(f"{scheme} URL {url!r} must start with {scheme}://")
    target, _, query = rest.partition("?")
    return target.strip("/"), parse_qsl(query, keep_blank_values=True)


SenderFunction: TypeAlias = Callable[..., "Awaitable[object] | object"]


class CallbackSender:
    """Calls your function with each notification: ``fn(notification)`` or
    ``fn(notification, context)`` (if it takes two parameters), sync or ``async``.

    What it returns decides the result: ``None`` or ``True`` →
    :class:`~alertkit.Delivered`; ``False`` → :class:`~alertkit.Failed`; a
    :class:`~alertkit.DeliveryResult` is used as it is. What it raises is
    mapped like any sender's exception:
    :class:`~alertkit.RetryableDeliveryError` and
    :class:`~alertkit.PermanentDeliveryError` keep their reason, anything
    else is a :class:`~alertkit.Retry` reported by the exception's type only
    (its message might hold a secret). ``thread=True`` runs a sync function in
    a worker thread (for blocking code), so it does not stall the event loop.

    >>> CallbackSender(print)
    CallbackSender(print)
    """

    kind: ClassVar[str] = "callback"

    def __init__(self, fn: SenderFunction, *, thread: bool = False,
                 formats: tuple[str, ...] = ("plain",)) -> None:
        if not callable(fn):
            raise NotifierConfigError(f"CallbackSender needs a callable, got "
                                      f"{type(fn).__name__}")
        self._fn = fn
        self._thread = bool(thread)
        self._is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None))  # noqa: B004 - async __call__ objects too
        if self._thread and self._is_async:
            raise NotifierConfigError("CallbackSender: thread=True is for sync functions")
        self._with_context = _takes_two(fn)
        self.formats = tuple(formats)

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        args: tuple[Any, ...] = ((notification, context) if self._with_context
                                 else (notification,))
        try:
            if self._thread:
                outcome = await anyio.to_thread.run_sync(lambda: self._fn(*args))
            else:
                outcome = self._fn(*args)
                if inspect.isawaitable(outcome):
                    outcome = await outcome
        except Exception as exc:
            return result_from_exception(exc)
        if outcome is None or outcome is True:
            return Delivered()
        if outcome is False:
            return Failed("the callback returned False")
        if isinstance(outcome, Delivered | Retry | Failed):
            return outcome
        return Failed(f"the callback returned {type(outcome).__name__}, not a delivery result")

    def __repr__(self) -> str:
        name = getattr(self._fn, "__qualname__", type(self._fn).__name__)
        return f"CallbackSender({name})"


def _takes_two(fn: Callable[..., Any]) -> bool:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have none
        return False
    positional = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values()):
        return False
    return len(positional) >= 2


default_registry.register("console", ConsoleSender.from_url, schemes=["console"])
default_registry.register("log", LogSender.from_url, schemes=["log"])
