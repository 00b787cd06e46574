"""Restart tests: an Engine process on a durable store (SQLite file, real Redis) is stopped
cleanly or SIGKILLed mid-run, then restarted on the same store.

The child (tests/store_child.py) runs rules, a dispatcher and a webhook receiver posting
to a local HTTP server. Before the stop it has a pending alert (``for: 1h``: its timer),
a firing one (notified and acknowledged), a silence and a delivery hanging in flight.
After the restart the alerts, timers, silences and acknowledgements are the same, the
hanging delivery is sent again with the same idempotency key, and nothing else is sent
twice or lost.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import redis_helpers

redis_url = redis_helpers.redis_url  # a fixture

HERE = Path(__file__).parent
CHILD = HERE / "store_child.py"


class Server:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.delivered: list[str] = []  # answered 200, in order
        self.stalled: list[str] = []  # hung until released
        self.stall = False
        self.release = threading.Event()


@pytest.fixture
def server() -> Iterator[tuple[str, Server]]:
    srv = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            key = self.headers["Idempotency-Key"]
            assert key == body["idempotency_key"]
            with srv.lock:
                stall = srv.stall
                if stall:
                    srv.stalled.append(key)
            if stall:
                srv.release.wait(60)
                return  # no answer: the client was killed or gave up
            with srv.lock:
                srv.delivered.append(key)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", srv
    finally:
        srv.release.set()
        httpd.shutdown()
        httpd.server_close()


class Child:
    """One Engine process, driven by JSON lines."""

    def __init__(self, spec: str, url: str, owner: str = "slot-1") -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), "engine", spec, url, owner],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")

    def reply(self, timeout: float = 30) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer from the child: {self.stderr()}") from None
        if not line:
            raise AssertionError(f"the child ended: {self.stderr()}")
        return json.loads(line)  # type: ignore[no-any-return]

    def send(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self.reply()

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def wait_for(predicate: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(params=["sqlite", "redis"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'state.db'}"
    return f"redis:{request.getfixturevalue('redis_url')}#r{uuid.uuid4().hex[:10]}"


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("how", ["stop", "kill"])
def test_restart_keeps_everything(spec: str, how: str, server: tuple[str, Server]) -> None:
    url, srv = server
    child = Child(spec, url)
    try:
        assert child.reply()["started"]["alerts"] == []
        child.send(op="observe", metric="cpu", value=95, labels={"host": "a"})  # pending 1h
        child.send(op="observe", metric="errors", value=1, labels={"host": "b"})  # firing
        wait_for(lambda: len(srv.delivered) == 1, "the notification of b")
        first_key = srv.delivered[0]
        state = child.send(op="describe")["state"]
        (errors_fp,) = [fp for fp, rule, *_ in state["alerts"] if rule == "Errors"]
        assert child.send(op="ack", fingerprint=errors_fp)["status"] == "acknowledged"
        child.send(op="silence", matchers={"host": "c"})
        with srv.lock:
            srv.stall = True
        child.send(op="observe", metric="errors", value=2, labels={"host": "d"})
        wait_for(lambda: len(srv.stalled) == 1, "the hanging delivery to d")
        hanging = srv.stalled[0]
        before = child.send(op="describe")
        assert before["pending"] == 1
        # No explicit persist(): the Engine saves its snapshot every 0.2 s on its own
        # (snapshot_interval); wait until the saved one has every alert.
        wait_for(lambda: child.send(op="saved_alerts")["alerts"] == before["state"]["alerts"],
                 "a periodic snapshot with the alerts")
        if how == "kill":
            child.proc.send_signal(signal.SIGKILL)
            child.proc.wait(10)
            assert child.proc.returncode == -signal.SIGKILL
        else:
            assert child.proc.stdin is not None
            child.proc.stdin.close()  # end of commands: leave the Engine cleanly
            assert child.reply(timeout=60) == {"stopped": True}
            child.proc.wait(30)
            assert child.proc.returncode == 0, child.stderr()
    finally:
        child.close()

    with srv.lock:
        srv.stall = False
    srv.release.set()
    again = Child(spec, url)
    try:
        started = again.reply()["started"]
        expected = before["state"]
        assert started["alerts"] == expected["alerts"]  # incl. the pending timer's active_at
        assert started["silences"] == expected["silences"]
        assert [r for r in started.get("records", []) if r[0] == errors_fp] == \
            [[errors_fp, "acknowledged", "ann"]]
        assert started == expected
        wait_for(lambda: hanging in srv.delivered, "the hanging delivery, sent again")
        done = again.send(op="idle")
        assert done["pending"] == 0
        time.sleep(0.5)  # let anything that would be sent twice show up
        assert again.send(op="stop") == {"stopped": True}
    finally:
        again.close()
    # Exactly two notifications, each delivered once; the one that hung was sent again
    # with its idempotency key (the only repeat the contract allows).
    assert sorted(srv.delivered) == sorted([first_key, hanging])
    assert srv.stalled == [hanging]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_owners_deliveries_are_taken_over_by_another_process(
        spec: str, server: tuple[str, Server]) -> None:
    """Process A claims 6 deliveries, gets 2 answered and is killed with 4 in flight;
    process B (another owner) takes them over once A's 1 s leases run out."""
    url, srv = server
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with srv.lock:
        srv.stall = False
    answered = 2

    def stall_after_two() -> None:
        wait_for(lambda: len(srv.delivered) >= answered, "the first answers")
        with srv.lock:
            srv.stall = True

    a = subprocess.Popen([sys.executable, str(CHILD), "deliver", spec, url, "A", "6"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # The server answers the first two, then hangs: A dies with four in flight.
        with srv.lock:
            srv.stall = False
        watcher = threading.Thread(target=stall_after_two, daemon=True)
        watcher.start()
        assert a.stdout is not None
        assert a.stdout.readline().strip() == "SUBMITTED", a.stderr and a.stderr.read()
        wait_for(lambda: len(srv.delivered) + len(srv.stalled) == 6, "six attempts")
        a.send_signal(signal.SIGKILL)
        a.wait(10)
    finally:
        if a.poll() is None:
            a.kill()
            a.wait(10)
        for stream in (a.stdout, a.stderr):
            if stream is not None:
                stream.close()
    first = list(srv.delivered)
    hung = list(srv.stalled)
    assert len(first) >= answered and len(first) + len(hung) == 6
    with srv.lock:
        srv.stall = False
    srv.release.set()
    started = time.monotonic()
    b = subprocess.run([sys.executable, str(CHILD), "deliver", spec, url, "B", "0"],
                       capture_output=True, text=True, timeout=60, env=env, check=False)
    assert b.returncode == 0, b.stderr
    taken = json.loads(b.stdout.strip().removeprefix("DONE "))
    assert sorted(taken) == sorted(hung)  # exactly the ones A never finished
    assert time.monotonic() - started < 30
    assert sorted(srv.delivered) == sorted(first + hung)  # nothing lost, none twice


def test_two_processes_share_silences_and_acknowledgements(
        spec: str, server: tuple[str, Server]) -> None:
    """Process A silences host c; process B, evaluating its own samples, does not notify
    c but notifies e; A acknowledges B's alert e; B sees the acknowledgement."""
    url, srv = server
    a, b = Child(spec, url, "A"), Child(spec, url, "B")
    try:
        a.reply()
        b.reply()
        silence_id = a.send(op="silence", matchers={"host": "c"})["id"]

        def b_has_the_silence() -> bool:
            return any(s[0] == silence_id for s in b.send(op="describe")["state"]["silences"])

        wait_for(b_has_the_silence, "b to see a's silence")
        b.send(op="observe", metric="errors", value=1, labels={"host": "c"})
        b.send(op="observe", metric="errors", value=1, labels={"host": "e"})
        wait_for(lambda: len(srv.delivered) == 1, "b's notification of e")
        alerts = b.send(op="describe")["state"]["alerts"]
        assert len(alerts) == 2  # c fires too (silenced is not resolved)
        records = {r[0]: r for r in b.send(op="describe")["state"]["records"]}
        assert len(records) == 2
        # A never saw e: its command reads B's record from the store first.
        for fp in records:
            assert a.send(op="ack", fingerprint=fp)["status"] == "acknowledged"

        def b_sees_the_acks() -> bool:
            got = b.send(op="describe")["state"]["records"]
            return all(r[1] == "acknowledged" and r[2] == "ann" for r in got)

        wait_for(b_sees_the_acks, "b to see a's acknowledgements")
        time.sleep(0.3)
        assert a.send(op="stop") == {"stopped": True}
        assert b.send(op="stop") == {"stopped": True}
    finally:
        a.close()
        b.close()
    assert len(srv.delivered) == 1  # e once; c silenced by the other process
