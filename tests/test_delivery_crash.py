"""Crash test: SIGKILL between "written to the outbox" and "delivered", then restart.

A child process with a SQLite outbox sends to a local HTTP server that answers
the first few requests and then stalls. The child is killed with SIGKILL while
requests hang. A restarted child must deliver exactly the notifications that
were not delivered (each with the same idempotency key), and nothing is lost.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CHILD = HERE / "delivery_crash_child.py"
COUNT = 12
ANSWERED = 4


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.delivered: list[str] = []  # keys answered 200
        self.stalled: list[str] = []  # keys whose request hung
        self.answer_first = ANSWERED
        self.release = threading.Event()


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            key = self.headers["Idempotency-Key"]
            assert key == body["idempotency_key"]
            with rec.lock:
                answer = rec.answer_first > 0
                if answer:
                    rec.answer_first -= 1
                else:
                    rec.stalled.append(key)
            if not answer:
                rec.release.wait(30)  # hang until the test lets go (the client is dead)
                return
            with rec.lock:
                rec.delivered.append(key)
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
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", rec
    finally:
        rec.release.set()
        httpd.shutdown()
        httpd.server_close()


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _pending(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {k for (k,) in conn.execute("SELECT idempotency_key FROM outbox")}


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_between_outbox_and_delivery_loses_nothing(
        server: tuple[str, Recorder], tmp_path: Path) -> None:
    url, rec = server
    db = tmp_path / "outbox.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, str(CHILD), str(db), url, "submit", str(COUNT)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "SUBMITTED", (line, child.stderr and child.stderr.read())
        # Every notification is in the outbox; some were delivered and removed, the
        # others hang in flight. Wait until the outbox shows exactly that.
        _wait(lambda: len(rec.delivered) == ANSWERED and len(rec.stalled) >= 1, 20,
              "the first answers and a stalled request")
        _wait(lambda: _pending(db).isdisjoint(rec.delivered)
              and len(_pending(db)) == COUNT - ANSWERED, 20,
              "the delivered entries to leave the outbox")
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
        if child.stderr is not None:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    missing = _pending(db)
    assert len(missing) == COUNT - ANSWERED and missing.isdisjoint(rec.delivered)
    first_delivered = list(rec.delivered)

    # Restart: the server now answers everything.
    with rec.lock:
        rec.answer_first = 10**9
        rec.delivered.clear()
    done = subprocess.run([sys.executable, str(CHILD), str(db), url, "resume"],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().removeprefix("DONE "))
    # Exactly the missing ones were delivered, once each, with their idempotency keys.
    assert sorted(rec.delivered) == sorted(missing)
    assert sorted(report["delivered"]) == sorted(missing)
    assert report["failed"] == [] and report["left"] == 0
    assert set(first_delivered) | set(rec.delivered) == set(first_delivered) | missing
    assert len(set(first_delivered) | set(rec.delivered)) == COUNT  # nothing lost
    assert set(rec.stalled) <= missing  # those that hung were sent again
    with sqlite3.connect(db) as conn:
        outcomes = dict(conn.execute(
            "SELECT outcome, COUNT(*) FROM delivery_log GROUP BY outcome").fetchall())
    assert outcomes.get("delivered", 0) >= COUNT
