"""Helpers for dispatcher tests: alerts, events and a fake-time driver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import alertkit as ak
from alertkit._dispatch.dispatcher import Dispatcher
from alertkit._dispatch.notification import Notification
from alertkit._dispatch.state import DispatchState


def alert(name: str, t: float, *, resolved_at: float | None = None,
          annotations: dict[str, str] | None = None, **labels: str) -> ak.Alert:
    """An alert of rule ``name`` (label alertname=name) that fired at ``t``."""
    lab = ak.Labels({"alertname": name, **labels})
    return ak.Alert(
        fingerprint=lab.fingerprint, rule=name, labels=lab, annotations=annotations or {},
        state=ak.AlertState.FIRING if resolved_at is None else ak.AlertState.INACTIVE,
        severity=ak.Severity.HIGH, value=1.0, active_at=t, fired_at=t, resolved_at=resolved_at,
    )


def firing(name: str, t: float, **labels: str) -> ak.AlertEvent:
    return ak.AlertEvent(ak.EventKind.FIRING, alert(name, t, **labels), t)


def resolved(name: str, fired: float, t: float, **labels: str) -> ak.AlertEvent:
    return ak.AlertEvent(ak.EventKind.RESOLVED, alert(name, fired, resolved_at=t, **labels), t)


def short(a: ak.Alert, key: str = "instance") -> str:
    return a.labels.get(key, a.labels["alertname"])


def summary(t: float, n: Notification, key: str = "instance") -> tuple[Any, ...]:
    """(time, receiver, status, firing, resolved) with alerts named by one label."""
    return (round(t, 3), n.receiver, n.status, [short(a, key) for a in n.firing],
            [short(a, key) for a in n.resolved])


class Sim:
    """Drives a Dispatcher with fake time: scheduled actions and the dispatcher's wakeups.

    Notifications are delivered at once unless ``deliver`` says otherwise (it gets the
    notification and returns "delivered", "failed" or "keep").
    """

    def __init__(self, dispatcher: Dispatcher, state: DispatchState | None = None,
                 deliver: Callable[[Notification], str] | None = None) -> None:
        self.d = dispatcher
        self.s = state if state is not None else dispatcher.new_state()
        self.actions: list[tuple[float, int, Callable[[], object]]] = []
        self.log: list[tuple[float, Notification]] = []
        self.now = 0.0
        self.deliver = deliver

    def at(self, t: float, fn: Callable[[], object]) -> None:
        self.actions.append((t, len(self.actions), fn))
        self.actions.sort(key=lambda a: (a[0], a[1]))

    def fire(self, t: float, name: str, *, since: float | None = None, **labels: str) -> None:
        start = t if since is None else since
        self.at(t, lambda: self.d.apply(
            self.s, ak.AlertEvent(ak.EventKind.FIRING, alert(name, start, **labels), t)))

    def resolve(self, t: float, name: str, *, since: float = 0.0, **labels: str) -> None:
        self.at(t, lambda: self.d.apply(self.s, resolved(name, since, t, **labels)))

    def run(self, until: float) -> list[tuple[Any, ...]]:
        """Run to ``until``; return the summaries of the notifications sent meanwhile."""
        start = len(self.log)
        while True:
            wake = self.d.next_wakeup(self.s)
            act = self.actions[0][0] if self.actions else None
            if act is not None and (wake is None or act <= wake) and act <= until:
                self.now = max(self.now, act)
                _, _, fn = self.actions.pop(0)
                fn()
                continue
            if wake is None or wake > until:
                break
            self.now = max(self.now, wake)
            for n in self.d.advance(self.s, self.now):
                self.log.append((self.now, n))
                verdict = self.deliver(n) if self.deliver else "delivered"
                if verdict == "delivered":
                    self.d.delivered(self.s, n, self.now)
                elif verdict == "failed":
                    self.d.failed(self.s, n, self.now, "test")
        self.now = max(self.now, until)
        return [summary(t, n) for t, n in self.log[start:]]

    def sent(self) -> list[tuple[Any, ...]]:
        return [summary(t, n) for t, n in self.log]


def am(route: ak.Route | None = None, receivers: list[ak.ReceiverConfig] | None = None,
       **kw: Any) -> Dispatcher:
    """A dispatcher with the semantics file's timers: wait 1s, interval 3s, repeat 10s."""
    if route is None:
        route = ak.Route(receiver="default", group_by=["alertname"], group_wait=1,
                         group_interval=3, repeat_interval=10)
    if receivers is None:
        receivers = [ak.ReceiverConfig(name="default")]
    return ak.Dispatcher(route, receivers, **kw)
