"""Crash test for escalation: SIGKILL right after a level's webhook arrived, then restart.

A child Engine on a SQLite store escalates one alert through three levels, each a
webhook to a local server. The child is killed with SIGKILL as soon as the second
level's request arrives. A restarted child must go on: the third level is notified once,
no level is lost, and a level sent twice carries the same idempotency key.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHILD = Path(__file__).parent / "lifecycle_crash_child.py"


class Seen:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []  # (receiver, idempotency key)
        self.level2 = threading.Event()

    def keys(self, receiver: str) -> list[str]:
        with self.lock:
            return [k for r, k in self.requests if r == receiver]


@pytest.fixture
def server() -> Iterator[tuple[str, Seen]]:
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            receiver = self.path.rsplit("/", 1)[-1]
            assert body["receiver"] == receiver
            with seen.lock:
                seen.requests.append((receiver, self.headers["Idempotency-Key"]))
            if receiver == "l2":
                seen.level2.set()
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
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def _child(db: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, str(CHILD), str(db), url, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_escalation_loses_no_level_and_repeats_none(
        server: tuple[str, Seen], tmp_path: Path) -> None:
    url, seen = server
    db = tmp_path / "state.db"
    child = _child(db, url)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "FIRED", (line, child.stderr and child.stderr.read())
        assert seen.level2.wait(20), "the second level never arrived"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert child.returncode == -signal.SIGKILL
    assert seen.keys("l3") == []

    started = time.monotonic()
    again = _child(db, url, "2.0")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert out.splitlines()[-1] == "DONE"
    assert time.monotonic() - started < 50

    for level in ("l1", "l2", "l3"):
        keys = seen.keys(level)
        assert keys, f"{level} was never notified"
        assert len(set(keys)) == 1, f"{level} was notified as different notifications"
        assert len(keys) <= 2, f"{level} was notified {len(keys)} times"
    assert len(seen.keys("l3")) == 1
    assert len(seen.keys("l1")) == 1  # long done before the crash: not again
