"""The alertkit pytest plugin: fixtures for testing rules and notification pipelines.

Installed with alertkit (a ``pytest11`` entry point), so nothing needs configuring; without
the entry point, enable it with ``-p alertkit_pytest``. It is a top-level module of its own
so that loading it in every pytest run of an environment costs nothing: alertkit is
imported only when a test uses one of the fixtures. The same names are importable from
:mod:`alertkit.testing.pytest_plugin`.

Fixtures:

- ``fake_clock``: a :class:`~alertkit.FakeClock` at :data:`START` (a fixed, round instant);
- ``recording_notifier``: a fresh :class:`~alertkit.testing.RecordingNotifier`;
- ``alertkit_rules``: the rules ``alertkit_engine`` runs; empty unless you override it
  (``@pytest.fixture def alertkit_rules(): return [my_rule]``);
- ``alertkit_route``: the routing tree of ``alertkit_engine``: everything to the receiver
  ``"recording"``, no group wait, group interval 1m (override it to test your own);
- ``alertkit_engine``: an async fixture (for ``@pytest.mark.anyio`` tests): a running
  :class:`~alertkit.Engine` on ``fake_clock`` whose dispatcher sends every notification to
  ``recording_notifier``. Move time with :func:`~alertkit.testing.advance`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

import pytest

# Loaded in every pytest run of the environment: nothing of alertkit is imported here.
if TYPE_CHECKING:
    from alertkit._core.rules import Rule
    from alertkit._dispatch.routes import Route
    from alertkit.runtime.clock import FakeClock
    from alertkit.runtime.engine import Engine
    from alertkit.testing.recording import RecordingNotifier

__all__ = ["RECEIVER", "START", "alertkit_engine", "alertkit_route", "alertkit_rules",
           "fake_clock", "recording_notifier"]

#: Where ``fake_clock`` starts: 2024-01-01T00:00:00Z, a round instant far from epoch 0.
START = 1_704_067_200.0
#: The receiver name ``alertkit_route`` sends everything to.
RECEIVER = "recording"


@pytest.fixture
def fake_clock() -> FakeClock:
    """A :class:`~alertkit.FakeClock` at :data:`START`; it moves only when told to."""
    from alertkit.runtime.clock import FakeClock

    return FakeClock(START)


@pytest.fixture
def recording_notifier() -> RecordingNotifier:
    """A :class:`~alertkit.testing.RecordingNotifier` that accepts everything until told."""
    from alertkit.testing.recording import RecordingNotifier

    return RecordingNotifier()


@pytest.fixture
def alertkit_rules() -> Sequence[Rule]:
    """The rules of ``alertkit_engine``: override this fixture to give yours."""
    return []


@pytest.fixture
def alertkit_route() -> Route:
    """The routing tree of ``alertkit_engine``: everything to ``"recording"`` at once."""
    from alertkit._dispatch.routes import Route

    return Route(receiver=RECEIVER, group_wait=0, group_interval="1m", repeat_interval="4h")


@pytest.fixture
async def alertkit_engine(alertkit_rules: Sequence[Rule], alertkit_route: Route,
                          fake_clock: FakeClock, recording_notifier: RecordingNotifier
                          ) -> AsyncIterator[Engine]:
    """A running :class:`~alertkit.Engine` on ``fake_clock`` that delivers every notification
    of ``alertkit_route`` to ``recording_notifier``; stopped after the test."""
    from alertkit._dispatch.dispatcher import Dispatcher
    from alertkit._dispatch.routes import ReceiverConfig
    from alertkit.runtime.delivery import Receiver
    from alertkit.runtime.engine import Engine

    names: list[str] = []
    _receivers(alertkit_route, names)
    dispatcher = Dispatcher(alertkit_route, [ReceiverConfig(name=n) for n in names])
    receivers = [Receiver(n, {"recording": recording_notifier}) for n in names]
    async with Engine(alertkit_rules, clock=fake_clock, evaluation_interval="15s",
                      dispatcher=dispatcher, receivers=receivers) as engine:
        yield engine


def _receivers(route: Route, out: list[str]) -> None:
    if route.receiver is not None and route.receiver not in out:
        out.append(route.receiver)
    for child in route.routes:
        _receivers(child, out)
