"""The notifier protocol, version 2: one notification in, one delivery result out.

A :class:`NotificationSender` delivers one :class:`~alertkit.Notification`
to one service and answers with a :class:`~alertkit.DeliveryResult`:
:class:`~alertkit.Delivered`, :class:`~alertkit.Retry` (optionally at a
time the service asked for) or :class:`~alertkit.Failed` (permanent). It may
raise instead: :class:`~alertkit.RetryableDeliveryError` and
:class:`~alertkit.PermanentDeliveryError` map to ``Retry`` and ``Failed``;
any other exception counts as retryable, reported by its type name only (its
message could quote a URL or a token).

A sender does no retrying, no sleeping and no timeout handling of its own:
the delivery worker does those, the same way for every notifier. It gets the
runtime's shared HTTP client and the attempt number through a
:class:`DeliveryContext`.

(The older :class:`~alertkit.Notifier` protocol, ``notify(events)``, still
receives raw alert events from the Engine.)
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs
import httpx

from alertkit._dispatch.notification import DeliveryResult, Failed, Notification, Retry
from alertkit._errors import PermanentDeliveryError, RetryableDeliveryError

__all__ = ["DeliveryContext", "NotificationSender", "result_from_exception"]


@attrs.frozen
class DeliveryContext:
    """What the runtime lends a sender for one attempt.

    - ``http``: the shared ``httpx.AsyncClient`` (connection pooling); never
      close it.
    - ``attempt``: 1 for the first attempt of this delivery, 2 for the next...
    - ``now``: the runtime clock's time at the start of the attempt (epoch s),
      for ``Retry-After`` dates and signatures.
    - ``timeout``: the per-attempt time budget in seconds; the worker cancels
      the attempt after it, a sender may pass it on to its client calls.
    """

    http: httpx.AsyncClient = attrs.field(repr=False)
    attempt: int = 1
    now: float = 0.0
    timeout: float = 10.0


@runtime_checkable
class NotificationSender(Protocol):
    """Anything with ``async def send(notification, context) -> DeliveryResult``.

    Optional attribute: ``formats``, the text formats the sender uses
    (``"plain"``, ``"markdown"``, ``"html"``, ``"slack"``); the runtime
    renders those bodies into ``notification.texts`` before sending (plain
    only by default).

    >>> import alertkit as ak
    >>> class Printer:
    ...     async def send(self, notification, context):
    ...         print(notification.texts.get("title", ""))
    ...         return ak.Delivered()
    >>> isinstance(Printer(), ak.NotificationSender)
    True
    """

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        ...


def result_from_exception(exc: BaseException) -> Retry | Failed:
    """The delivery result an exception raised by a sender stands for.

    Typed delivery errors keep their (secret-free) message; anything else is
    retryable and reported by its type name only.
    """
    if isinstance(exc, PermanentDeliveryError):
        return Failed(exc.reason, status_code=exc.status_code)
    if isinstance(exc, RetryableDeliveryError):
        return Retry(exc.reason, status_code=exc.status_code, retry_at=exc.retry_at)
    return Retry(type(exc).__name__)
