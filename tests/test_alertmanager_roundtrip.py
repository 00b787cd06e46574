"""Round trip through a real Alertmanager: our forwarder → Alertmanager → our ASGI receiver.

The test starts Debian's ``prometheus-alertmanager`` on 127.0.0.1 (gossip off, a temporary
storage path, short timers) with one webhook receiver pointing at an
:class:`~alertkit.notify.ingest.AlertmanagerReceiver` served by uvicorn in the test's own
event loop, and feeding an :class:`~alertkit.Engine` through
:class:`~alertkit.notify.ingest.EngineFeed`. Alerts pushed with
:class:`~alertkit.notify.alertmanager.AlertmanagerNotifier` must come back as a firing
event, then (after the forwarder sends them resolved) a resolved one. Every process the test
starts is stopped by the test. Without the binary the test is skipped, unless CI is set.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import uvicorn

import alertkit as ak
from alertkit.notify.alertmanager import AlertmanagerConfig, AlertmanagerNotifier
from alertkit.notify.ingest import AlertmanagerPayload, AlertmanagerReceiver, EngineFeed

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
TOKEN = "roundtrip-token-7f3a"

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn serves on asyncio only


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A running Alertmanager whose webhook posts to 127.0.0.1:<receiver port>/am."""
    if BINARY is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus-alertmanager is not installed, and CI is set")
        pytest.skip("prometheus-alertmanager is not installed (apt-get install "
                    "prometheus-alertmanager); set CI to make this a failure")
    receiver_port = _free_port()
    port = _free_port()
    config = {
        "global": {"resolve_timeout": "5m"},
        "route": {"receiver": "alertkit", "group_by": ["alertname"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "alertkit", "webhook_configs": [{
            "url": f"http://127.0.0.1:{receiver_port}/am", "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
        }]}],
    }
    path = tmp_path / "alertmanager.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    with open(tmp_path / "alertmanager.log", "wb") as log:
        proc = subprocess.Popen(
            [BINARY, f"--config.file={path}", f"--storage.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
             "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"alertmanager exited with {proc.returncode}: "
                                     f"{(tmp_path / 'alertmanager.log').read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("alertmanager not ready in 15 s")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", receiver_port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _alert(now: float, *, resolved_at: float | None = None) -> ak.Alert:
    labels = ak.Labels(alertname="RoundTrip", instance="web-1", severity="critical")
    return ak.Alert(
        fingerprint=labels.fingerprint, rule="RoundTrip", labels=labels,
        annotations={"summary": "web-1 is on fire"},
        state=ak.AlertState.FIRING if resolved_at is None else ak.AlertState.INACTIVE,
        severity=ak.Severity.CRITICAL, value=99.0, active_at=now - 30, fired_at=now - 10,
        resolved_at=resolved_at)


def _notification(a: ak.Alert, now: float) -> ak.Notification:
    firing = () if a.resolved_at is not None else (a,)
    resolved = (a,) if a.resolved_at is not None else ()
    return ak.Notification(
        receiver="am", group_key="rt", group_labels=ak.Labels(alertname="RoundTrip"),
        firing=firing, resolved=resolved, created_at=now,
        idempotency_key=ak.idempotency_key("rt", firing, resolved))


async def test_forwarded_alerts_come_back_through_alertmanager(
        alertmanager: tuple[str, int]) -> None:
    am_url, receiver_port = alertmanager
    payloads: list[AlertmanagerPayload] = []
    engine = ak.Engine([])
    feed = EngineFeed(engine)

    def on_payload(payload: AlertmanagerPayload) -> None:
        payloads.append(payload)
        feed(payload)

    app = AlertmanagerReceiver(on_payload, bearer_token=TOKEN)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=receiver_port,
                                           log_level="warning", lifespan="off"))
    forwarder = AlertmanagerNotifier(AlertmanagerConfig(
        urls=[am_url], generator_url="https://app.example/rules/RoundTrip"))
    fired_at = round(time.time(), 3) - 10
    async with engine, httpx.AsyncClient() as http:
        events = engine.events()
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve)
            with anyio.fail_after(10):
                while not server.started:
                    await anyio.sleep(0.01)
            with anyio.fail_after(20):
                now = time.time()
                firing = _alert(fired_at + 10)
                result = await forwarder.send(_notification(firing, now),
                                              ak.DeliveryContext(http=http, now=now))
                assert result == ak.Delivered(200)
                first = await events.__anext__()
                assert first.kind is ak.EventKind.FIRING
                assert first.alert.labels == firing.labels
                assert first.alert.annotations == {"summary": "web-1 is on fire"}
                assert first.alert.fired_at == pytest.approx(fired_at, abs=1e-6)
                assert first.alert.severity is ak.Severity.CRITICAL

                now = time.time()
                gone = _alert(fired_at + 10, resolved_at=round(now, 3))
                result = await forwarder.send(_notification(gone, now),
                                              ak.DeliveryContext(http=http, now=now))
                assert result == ak.Delivered(200)
                second = await events.__anext__()
                assert second.kind is ak.EventKind.RESOLVED
                assert second.alert.fingerprint == firing.fingerprint
                assert second.alert.resolved_at == pytest.approx(round(now, 3), abs=1e-6)
            server.should_exit = True
        await events.aclose()
    assert payloads[0].status == "firing" and payloads[-1].status == "resolved"
    assert payloads[0].receiver == "alertkit"
    assert payloads[0].alerts[0].generator_url == "https://app.example/rules/RoundTrip"
    assert payloads[0].group_labels == ak.Labels(alertname="RoundTrip")
