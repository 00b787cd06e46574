"""Builders and fakes shared by the delivery tests."""

from __future__ import annotations

import socket
from collections.abc import Sequence

import alertkit as ak


def alert(rule: str = "HighCPU", *, host: str = "web1", firing: bool = True,
          value: float = 95.0, severity: ak.Severity = ak.Severity.HIGH,
          t: float = 1_000.0, **labels: str) -> ak.Alert:
    lbls = ak.Labels({"alertname": rule, "host": host, **labels})
    return ak.Alert(
        fingerprint=lbls.fingerprint,
        rule=rule,
        labels=lbls,
        annotations={"summary": f"{host} is busy"},
        state=ak.AlertState.FIRING if firing else ak.AlertState.INACTIVE,
        severity=severity,
        value=value,
        active_at=t,
        fired_at=t + 60,
        resolved_at=None if firing else t + 600,
    )


def notification(receiver: str = "ops", group: str = "g1", *,
                 firing: Sequence[ak.Alert] | None = None,
                 resolved: Sequence[ak.Alert] = (), created_at: float = 2_000.0,
                 texts: dict[str, str] | None = None) -> ak.Notification:
    f = tuple(firing) if firing is not None else (alert(),)
    r = tuple(resolved)
    return ak.Notification(
        receiver=receiver,
        group_key=f"{receiver}/{group}",
        group_labels=ak.Labels(alertname=(f + r)[0].rule) if f + r else ak.Labels(),
        firing=f,
        resolved=r,
        created_at=created_at,
        idempotency_key=ak.idempotency_key(f"{receiver}/{group}", f, r),
        texts=texts or {},
    )


def many(n: int, receiver: str = "ops") -> list[ak.Notification]:
    return [notification(receiver, f"g{i}", firing=[alert(host=f"web{i}")]) for i in range(n)]


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ScriptedSender:
    """A NotificationSender answering from a script; records every call."""

    def __init__(self, *results: ak.DeliveryResult | BaseException, default: object = None,
                 formats: tuple[str, ...] = ("plain",)) -> None:
        self.script = list(results)
        self.default = default if default is not None else ak.Delivered(200)
        self.calls: list[tuple[str, int, float]] = []
        self.formats = formats

    async def send(self, n: ak.Notification, context: ak.DeliveryContext) -> ak.DeliveryResult:
        self.calls.append((n.idempotency_key, context.attempt, context.now))
        result = self.script.pop(0) if self.script else self.default
        if isinstance(result, BaseException):
            raise result
        return result  # type: ignore[return-value]
