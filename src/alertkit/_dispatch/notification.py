"""What the dispatcher hands to notifiers, and what notifiers answer.

A :class:`Notification` is one message for one receiver about one group of
alerts. A notifier answers with a :class:`DeliveryResult`: :class:`Delivered`,
:class:`Retry` (optionally at a time the service asked for) or :class:`Failed`
(permanent). The retry decision itself is made by the pure layer, so it can be
tested with a fake clock and survives restarts through the outbox.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TypeAlias

import attrs

from alertkit._core.labels import Labels
from alertkit._core.model import Alert

__all__ = ["Delivered", "DeliveryResult", "Failed", "Notification", "Retry",
           "idempotency_key"]


def common_items(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The key/value pairs every mapping of ``maps`` has (Alertmanager's common labels)."""
    if not maps:
        return {}
    common = dict(maps[0])
    for m in maps[1:]:
        common = {k: v for k, v in common.items() if m.get(k) == v}
    return common


@attrs.frozen
class Notification:
    """One message to one receiver about one group of alerts.

    ``firing`` and ``resolved`` hold the alerts of the group that are to be
    reported (silenced and inhibited ones are left out); ``truncated`` counts
    alerts left out by the receiver's cap. ``texts`` holds rendered texts by
    name (``title``, ``body``... per format), filled in by the runtime's
    template stage. ``idempotency_key`` is stable for the same group content,
    so receivers can drop duplicates after an at-least-once redelivery.
    """

    receiver: str
    group_key: str
    group_labels: Labels
    firing: tuple[Alert, ...]
    resolved: tuple[Alert, ...]
    created_at: float
    idempotency_key: str
    truncated: int = 0
    texts: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def status(self) -> str:
        """``"firing"`` if any alert in it fires, else ``"resolved"`` (Alertmanager's rule)."""
        return "firing" if self.firing else "resolved"

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return self.firing + self.resolved

    @property
    def common_labels(self) -> dict[str, str]:
        return common_items([a.labels for a in self.alerts])

    @property
    def common_annotations(self) -> dict[str, str]:
        return common_items([a.annotations for a in self.alerts])


def idempotency_key(group_key: str, firing: tuple[Alert, ...], resolved: tuple[Alert, ...]
                    ) -> str:
    """Group key + content hash: the same content of the same group gives the same key."""
    content = json.dumps([group_key, sorted(a.fingerprint for a in firing),
                          sorted(a.fingerprint for a in resolved)], separators=(",", ":"))
    return hashlib.blake2b(content.encode(), digest_size=16).hexdigest()


@attrs.frozen
class Delivered:
    """The service accepted the notification."""

    status_code: int | None = None
    detail: str = ""


@attrs.frozen
class Retry:
    """A temporary failure: try again (at ``retry_at``, epoch seconds, if the service said)."""

    reason: str
    status_code: int | None = None
    retry_at: float | None = None


@attrs.frozen
class Failed:
    """A permanent failure: retrying cannot help (bad payload, bad token...)."""

    reason: str
    status_code: int | None = None


DeliveryResult: TypeAlias = Delivered | Retry | Failed
