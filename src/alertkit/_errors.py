"""The one error hierarchy of alertkit.

Every public entry point validates at the edge and raises one of these. They
subclass ``ValueError`` / ``TypeError`` where that is what the caller did
wrong, so code that already catches those keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AlertNotFoundError",
    "AlertkitError",
    "AlertmanagerPayloadError",
    "ConfigError",
    "DeliveryError",
    "DurationError",
    "ExpressionError",
    "InvalidSampleError",
    "InvalidTransitionError",
    "LabelError",
    "LifecycleError",
    "NotifierConfigError",
    "OutOfOrderSampleError",
    "OutboxError",
    "PermanentDeliveryError",
    "PermissionDenied",
    "RetryableDeliveryError",
    "RuleError",
    "RuleFileError",
    "RuleTestFileError",
    "SeriesNotationError",
    "SilenceError",
    "SnapshotError",
    "StoreConflictError",
    "StoreError",
    "TemplateError",
    "TimeWentBackwardsError",
    "WebhookSignatureError",
]


class AlertkitError(Exception):
    """Base class of every error alertkit raises on purpose."""


class DurationError(AlertkitError, ValueError):
    """A duration could not be understood (``"5x"``, a negative number, ``None``...)."""


class LabelError(AlertkitError, ValueError):
    """A metric name, label name or label value is not acceptable."""


class InvalidSampleError(AlertkitError, ValueError):
    """A sample's value or timestamp is not a real number (NaN and ±inf *are* valid values)."""


class OutOfOrderSampleError(InvalidSampleError):
    """A sample is not newer than the last sample of its series (duplicate or out of order)."""


class TimeWentBackwardsError(AlertkitError, ValueError):
    """An evaluation tick is older than data the evaluator has already seen."""


class RuleError(AlertkitError, ValueError):
    """A rule or condition is malformed (bad operator, duplicate name, bad window...)."""


class ExpressionError(AlertkitError, ValueError):
    """An expression (``"avg_over_time(cpu[5m]) > 80"``) does not parse.

    ``line`` and ``column`` (1-based, in characters) locate the offending
    token in ``text``; ``expected`` names what would have been valid there
    (``"a duration like 5m"``) and ``message`` explains in one line. ``str()``
    shows the line with a caret under the token::

        line 1, column 19: expected a duration like 5m, got "5x"
          avg_over_time(cpu[5x]) > 80
                            ^
    """

    def __init__(self, message: str, text: str, line: int, column: int, expected: str) -> None:
        # Positional, and all in args, so that the error pickles (BaseException.__reduce__).
        super().__init__(message, text, line, column, expected)
        self.message = message
        self.text = text
        self.line = line
        self.column = column
        self.expected = expected

    def __str__(self) -> str:
        head = f"line {self.line}, column {self.column}: {self.message}"
        lines = self.text.split("\n")
        if not 1 <= self.line <= len(lines):
            return head
        source = lines[self.line - 1]
        col = self.column - 1
        # A long line is cut to a window around the column, so the message stays readable.
        start = max(0, min(col - 60, len(source) - 120))
        shown = source[start : start + 120]
        prefix = "..." if start > 0 else ""
        suffix = "..." if start + 120 < len(source) else ""
        # Tabs stay tabs under the caret, so it lines up however the terminal shows them.
        pad = "".join("\t" if c == "\t" else " " for c in prefix + shown[: col - start])
        return f"{head}\n  {prefix}{shown}{suffix}\n  {pad}^"


class TemplateError(AlertkitError, ValueError):
    """An annotation template does not compile.

    Errors that happen while *rendering* never raise: the alert gets a safe
    fallback text and the error is reported on the event.
    """


class RuleFileError(AlertkitError, ValueError):
    """One or more rule files are invalid; ``issues`` lists every problem found.

    Each issue names the file, the line (when known) and the field path, e.g.
    ``rules.toml:14: groups[0].rules[2].for: '5x' is not a duration``.
    """

    def __init__(self, issues: Sequence[object]) -> None:
        self.issues = tuple(issues)
        count = len(self.issues)
        head = f"{count} problem{'s' if count != 1 else ''} in rule files:"
        super().__init__("\n".join([head, *(f"  {i}" for i in self.issues)]))


class ConfigError(AlertkitError, ValueError):
    """A dispatcher configuration is invalid: a route, receiver, inhibition rule or time
    interval (unknown receiver name, bad duration, bad matcher...). The message names the
    field path, e.g. ``route.routes[1].group_wait``."""


class SilenceError(AlertkitError, ValueError):
    """A silence cannot be created, updated or expired (no matchers, ends before it starts,
    unknown id, already expired...)."""


class SnapshotError(AlertkitError, ValueError):
    """A state snapshot cannot be restored (corrupt, wrong version, unknown rules)."""


class DeliveryError(AlertkitError):
    """A notifier could not deliver a notification (raised by notifiers, mapped to a result).

    Mirrors httpx's split between ``TransportError`` and ``HTTPStatusError``:
    :class:`RetryableDeliveryError` means a later attempt may succeed,
    :class:`PermanentDeliveryError` means it cannot. The message must not hold
    secrets: it goes to the delivery log.
    """

    def __init__(self, reason: str, *, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class RetryableDeliveryError(DeliveryError):
    """A temporary failure; ``retry_at`` (epoch seconds) is the earliest time the service allows."""

    def __init__(
        self, reason: str, *, status_code: int | None = None, retry_at: float | None = None
    ) -> None:
        super().__init__(reason, status_code=status_code)
        self.retry_at = retry_at


class PermanentDeliveryError(DeliveryError):
    """A failure that retrying cannot fix (bad payload, bad token, unknown channel...)."""


class NotifierConfigError(AlertkitError, ValueError):
    """A notifier or delivery setting is not acceptable: URL, scheme, option, retry policy...

    Secrets are redacted from the message.
    """


class OutboxError(AlertkitError, ValueError):
    """An outbox store or a stored notification is unusable (corrupt row, unknown version...)."""


class WebhookSignatureError(AlertkitError, ValueError):
    """A signed webhook request does not verify: a header is missing, the timestamp is
    outside the tolerance, or no signature matches. The message never quotes the secret."""


class AlertmanagerPayloadError(AlertkitError, ValueError):
    """An Alertmanager webhook payload is not valid; ``path`` names the bad field
    (``alerts[2].startsAt``, or ``$`` when the body is not JSON at all)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SeriesNotationError(ExpressionError):
    """A series in promtool's notation (``"1+2x10 _ stale"``) does not parse.

    Like :class:`ExpressionError`, it carries ``line``, ``column`` and ``expected``, and
    ``str()`` shows the text with a caret under the bad item.
    """


class RuleTestFileError(AlertkitError, ValueError):
    """One or more rule test files are invalid; ``issues`` lists every problem found.

    Each issue names the file, the line (when known) and the field path, e.g.
    ``cpu_test.toml:12: tests[0].input_series[1].values: line 1, column 5: ...``.
    """

    def __init__(self, issues: Sequence[object]) -> None:
        self.issues = tuple(issues)
        count = len(self.issues)
        head = f"{count} problem{'s' if count != 1 else ''} in rule test files:"
        super().__init__("\n".join([head, *(f"  {i}" for i in self.issues)]))


class StoreError(AlertkitError, ValueError):
    """A state store is unusable or was given bad input (closed, corrupt, newer schema,
    a bad record kind, key or document)."""


class StoreConflictError(StoreError):
    """A compare-and-set write lost: the stored record's version is not the one expected.

    Another writer (task or process) changed ``kind``/``key`` in between; read the record
    again, re-apply the change and retry. ``expected`` is the version the writer had
    (``None``: it expected no record), ``actual`` the stored one (``None``: no record).
    """

    def __init__(self, kind: str, key: str, expected: int | None, actual: int | None) -> None:
        self.kind = kind
        self.key = key
        self.expected = expected
        self.actual = actual
        super().__init__(f"{kind} record {key!r}: expected version {expected!r}, "
                         f"the store has {actual!r} (changed by another writer)")


class LifecycleError(AlertkitError, ValueError):
    """A lifecycle command (acknowledge, assign, snooze, resolve, escalate...) cannot be
    applied: bad argument, unknown alert, or not allowed in the alert's status."""


class AlertNotFoundError(LifecycleError, LookupError):
    """No alert has this fingerprint (or it belongs to another tenant than the actor's)."""


class InvalidTransitionError(LifecycleError):
    """The command is not allowed in the alert's current status (e.g. acknowledging a
    resolved alert). ``action`` and ``status`` name both."""

    def __init__(self, message: str, *, action: str = "", status: str = "") -> None:
        super().__init__(message)
        self.action = action
        self.status = status


class PermissionDenied(LifecycleError, PermissionError):
    """The authorization policy refused this actor this action on this alert."""
