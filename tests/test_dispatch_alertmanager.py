"""Differential test: the same alert timelines through Alertmanager 0.25 and our Dispatcher.

Each scenario starts its own ``prometheus-alertmanager`` on 127.0.0.1 (gossip off, a
temporary storage path, the semantics file's short timers) whose webhook receivers post
to a small HTTP server this test runs. The scenario pushes the same timeline into it
(``POST /api/v2/alerts``, ``POST /api/v2/silences``, ``DELETE /api/v2/silence/{id}``)
and into our Dispatcher, driven with the real clock in the same thread. Then, per
(receiver, group key), the sequences of notifications must be the same: which alerts,
firing or resolved, in the same order, at the same times within a tolerance.

Scenarios run concurrently, so the whole file takes about 20 seconds. Without the
binary the test is skipped, unless the environment variable CI is set: then it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import alertkit as ak
from alertkit._dispatch.matchers import parse_matcher

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
TOLERANCE = 0.7  # seconds between Alertmanager's webhook arrival and our notification

TIMERS = {"group_wait": "1s", "group_interval": "3s", "repeat_interval": "10s"}

# (at, kind, args): "post" alerts (label dicts), "resolve" them, "silence" (key, matchers,
# start offset, end offset) and "expire" (key).
Action = tuple[float, str, Any]


def _alerts(name: str, *instances: str, **labels: str) -> list[dict[str, str]]:
    return [{"alertname": name, "instance": i, **labels} for i in instances]


SCENARIOS: dict[str, dict[str, Any]] = {
    "grouping": {
        "duration": 3.5,
        "actions": [(0.0, "post", _alerts("Grp", "a")), (0.3, "post", _alerts("Grp", "b")),
                    (0.6, "post", _alerts("Grp", "c"))],
    },
    "late_joiner": {
        "duration": 8.5,
        "actions": [(0.0, "post", _alerts("Late", "a", "b")), (2.0, "post", _alerts("Late", "c")),
                    (5.5, "post", _alerts("Late", "d"))],
    },
    "resolution": {
        "duration": 11.5,
        "actions": [(0.0, "post", _alerts("Res", "a", "b")),
                    (4.5, "resolve", _alerts("Res", "a")),
                    (8.5, "resolve", _alerts("Res", "b"))],
    },
    "repeat": {
        "duration": 14.5,
        "actions": [(2.0 * k, "post", _alerts("Rep", "a")) for k in range(7)],
    },
    "inhibition": {
        "duration": 8.5,
        "inhibit": [{"source_matchers": ['severity="critical"'],
                     "target_matchers": ['severity="warning"'], "equal": ["cluster"]}],
        "actions": [
            (0.0, "post", [*_alerts("NodeDown", "nd", severity="critical", cluster="c1"),
                           *_alerts("DiskWarn", "c1", severity="warning", cluster="c1"),
                           *_alerts("DiskWarn", "c2", severity="warning", cluster="c2"),
                           *_alerts("NoCluster", "nc", severity="warning")]),
            (5.5, "resolve", _alerts("NodeDown", "nd", severity="critical", cluster="c1")),
        ],
    },
    "silence": {
        "duration": 8.5,
        "actions": [
            (0.0, "silence", ("s", ['alertname="Sil"', 'instance=~"web-.*"'], 0, 3600)),
            (0.2, "post", _alerts("Sil", "web-1", "web-2", "db-1", "xweb-1")),
            (5.5, "expire", "s"),
        ],
    },
    "silence_over_repeat": {
        "duration": 17.5,
        "actions": [(0.0, "post", _alerts("SilOverRepeat", "a")),
                    (2.5, "silence", ("s", ['alertname="SilOverRepeat"'], 0, 12))],
    },
    "routing": {
        "duration": 3.5,
        "routes": [
            {"receiver": "db", "matchers": ['team="db"'], "continue": True},
            {"receiver": "teams", "matchers": ['team=~"db|web"'], "group_by": ["..."]},
            {"receiver": "critical", "matchers": ['severity="critical"'], "group_by": ["cluster"],
             "routes": [{"receiver": "critical_k2", "matchers": ['cluster="k2"']}]},
        ],
        "actions": [(0.0, "post", [
            {"alertname": "Route", "instance": "1", "team": "db", "severity": "critical"},
            {"alertname": "Route", "instance": "2", "team": "web"},
            {"alertname": "Route", "instance": "3", "team": "ops"},
            {"alertname": "Route", "instance": "4", "team": "dbx"},
            {"alertname": "Route", "instance": "5", "severity": "critical", "cluster": "k2"},
            {"alertname": "Route", "instance": "6", "severity": "critical", "cluster": "k1"},
        ])],
    },
}
RECEIVERS = ["default", "db", "teams", "critical", "critical_k2"]


# -- the webhook sink -------------------------------------------------------------------


class _SinkServer(ThreadingHTTPServer):
    # Alertmanager opens a connection per receiver at once; with the default listen
    # backlog of 5 a burst can overflow it, and the kernel's SYN retry makes a delivery
    # arrive a whole second late.
    request_queue_size = 128
    daemon_threads = True


class Sink:
    """Records every webhook POST: (arrival time, path, decoded JSON body)."""

    def __init__(self) -> None:
        self.posts: list[tuple[float, str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink.lock:
                    sink.posts.append((time.time(), self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _SinkServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    s = Sink()
    try:
        yield s
    finally:
        s.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _request(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        text = resp.read()
        kind = resp.headers.get("Content-Type", "")
    return json.loads(text) if text and "json" in kind else text


# -- one scenario -----------------------------------------------------------------------


def _am_config(name: str, spec: dict[str, Any], sink_port: int) -> dict[str, Any]:
    return {
        "global": {"resolve_timeout": "5s"},
        "route": {"receiver": "default", "group_by": ["alertname"], **TIMERS,
                  "routes": spec.get("routes", [])},
        "receivers": [{"name": r, "webhook_configs": [
            {"url": f"http://127.0.0.1:{sink_port}/{name}/{r}", "send_resolved": True}]}
            for r in RECEIVERS],
        "inhibit_rules": spec.get("inhibit", []),
    }


def _our_dispatcher(cfg: dict[str, Any]) -> ak.Dispatcher:
    """Our configuration, translated from the Alertmanager one (the subset used here)."""

    def route(r: dict[str, Any]) -> ak.Route:
        return ak.Route(
            receiver=r.get("receiver"), matchers=r.get("matchers", ()),
            group_by=r.get("group_by"), group_wait=r.get("group_wait"),
            group_interval=r.get("group_interval"), repeat_interval=r.get("repeat_interval"),
            continue_=r.get("continue", False), routes=[route(c) for c in r.get("routes", [])])

    return ak.Dispatcher(
        route(cfg["route"]), [ak.ReceiverConfig(name=r["name"]) for r in cfg["receivers"]],
        inhibit_rules=[ak.InhibitRule(source_matchers=i["source_matchers"],
                                      target_matchers=i["target_matchers"],
                                      equal=i.get("equal", ())) for i in cfg["inhibit_rules"]])


def _our_alert(labels: dict[str, str], start: float) -> ak.Alert:
    lab = ak.Labels(labels)
    return ak.Alert(fingerprint=lab.fingerprint, rule=labels["alertname"], labels=lab,
                    annotations={"summary": f"test {labels['alertname']}"},
                    state=ak.AlertState.FIRING, severity=ak.Severity.HIGH, value=0.0,
                    active_at=start, fired_at=start)


def _am_matchers(texts: list[str]) -> list[dict[str, Any]]:
    out = []
    for text in texts:
        m = parse_matcher(text)
        out.append({"name": m.name, "value": m.value, "isRegex": m.op in ("=~", "!~"),
                    "isEqual": m.op in ("=", "=~")})
    return out


Record = tuple[float, str, str, str, list[tuple[tuple[str, str], ...]],
               list[tuple[tuple[str, str], ...]]]


def run_scenario(name: str, spec: dict[str, Any], sink: Sink, workdir: Path) -> dict[str, Any]:
    """Run one scenario through both; return both lists of records and Alertmanager's log."""
    assert BINARY is not None
    cfg = _am_config(name, spec, sink.port)
    cfg_path = workdir / f"{name}.yml"
    cfg_path.write_text(json.dumps(cfg))  # JSON is YAML
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [BINARY, f"--config.file={cfg_path}", f"--storage.path={workdir / name}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
             "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            return _drive(name, spec, cfg, base, proc)
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _drive(name: str, spec: dict[str, Any], cfg: dict[str, Any], base: str,
           proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.time() + 15
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"{name}: alertmanager exited with {proc.returncode}")
        try:
            _request("GET", f"{base}/-/ready")
            break
        except OSError:
            if time.time() > deadline:
                raise AssertionError(f"{name}: alertmanager not ready in 15 s") from None
            time.sleep(0.05)
    d = _our_dispatcher(cfg)
    s = d.new_state()
    ours: list[Record] = []
    starts: dict[tuple[tuple[str, str], ...], float] = {}
    silences: dict[str, tuple[str, str]] = {}  # key -> (alertmanager id, our id)
    actions: list[Action] = list(spec["actions"])
    t0 = time.time()
    end = t0 + spec["duration"]
    while True:
        now = time.time()
        while actions and t0 + actions[0][0] <= now:
            _act(actions.pop(0)[1:], d, s, base, starts, silences)
            now = time.time()
        for n in d.advance(s, now):
            ours.append((now - t0, n.receiver, n.status, n.group_key,
                         [tuple(sorted(a.labels.items())) for a in n.firing],
                         [tuple(sorted(a.labels.items())) for a in n.resolved]))
            d.delivered(s, n, time.time())
        if now >= end:
            break
        wake = d.next_wakeup(s)
        nxt = min(end, t0 + actions[0][0] if actions else end, wake if wake else end)
        time.sleep(max(0.0, nxt - time.time()))
    return {"t0": t0, "ours": ours}


def _act(action: tuple[str, Any], d: ak.Dispatcher, s: ak.DispatchState, base: str,
         starts: dict[tuple[tuple[str, str], ...], float],
         silences: dict[str, tuple[str, str]]) -> None:
    kind, args = action
    now = time.time()
    if kind in ("post", "resolve"):
        body = []
        for labels in args:
            key = tuple(sorted(labels.items()))
            start = starts.setdefault(key, now)
            ends = now if kind == "resolve" else now + 600
            body.append({"labels": labels,
                         "annotations": {"summary": f"test {labels['alertname']}"},
                         "startsAt": _iso(start), "endsAt": _iso(ends),
                         "generatorURL": "http://127.0.0.1/graph"})
            d.ingest_alert(s, _our_alert(labels, round(start, 3)), now, ends_at=ends)
        _request("POST", f"{base}/api/v2/alerts", body)
    elif kind == "silence":
        key, matchers, start_off, end_off = args
        am = _request("POST", f"{base}/api/v2/silences", {
            "matchers": _am_matchers(matchers), "startsAt": _iso(now + start_off),
            "endsAt": _iso(now + end_off), "createdBy": "test", "comment": "differential"})
        ours = d.create_silence(s, matchers, starts_at=now + start_off, ends_at=now + end_off,
                                now=now, created_by="test", comment="differential")
        silences[key] = (am["silenceID"], ours.id)
    elif kind == "expire":
        am_id, our_id = silences[args]
        _request("DELETE", f"{base}/api/v2/silence/{am_id}")
        d.expire_silence(s, our_id, now)
    else:  # pragma: no cover - a typo in a scenario
        raise AssertionError(kind)


def _am_records(name: str, t0: float, sink: Sink) -> list[Record]:
    out: list[Record] = []
    with sink.lock:
        posts = [p for p in sink.posts if p[1].startswith(f"/{name}/")]
    for t, path, body in posts:
        alerts = body["alerts"]
        out.append((t - t0, path.rsplit("/", 1)[1], body["status"], body["groupKey"],
                    [tuple(sorted(a["labels"].items())) for a in alerts
                     if a["status"] == "firing"],
                    [tuple(sorted(a["labels"].items())) for a in alerts
                     if a["status"] == "resolved"]))
    return out


def _by_group(records: list[Record]) -> dict[tuple[str, str], list[Record]]:
    out: dict[tuple[str, str], list[Record]] = {}
    for r in sorted(records, key=lambda r: r[0]):
        out.setdefault((r[1], r[3]), []).append(r)
    return out


@pytest.fixture(scope="module")
def results(sink: Sink) -> dict[str, dict[str, Any]]:
    if BINARY is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus-alertmanager is not installed, and CI is set: the "
                        "differential test must run in CI (apt-get install "
                        "prometheus-alertmanager)")
        pytest.skip("prometheus-alertmanager is not installed (apt-get install "
                    "prometheus-alertmanager); set CI to make this a failure")
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(len(SCENARIOS)) as pool:
        futures = {name: pool.submit(run_scenario, name, spec, sink, Path(tmp))
                   for name, spec in SCENARIOS.items()}
        done = {name: f.result() for name, f in futures.items()}
        time.sleep(0.3)  # the last webhooks may still be in flight
        for name, res in done.items():
            res["am"] = _am_records(name, res["t0"], sink)
            res["log"] = (Path(tmp) / f"{name}.log").read_text(errors="replace")
    return done


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_notifications_as_alertmanager(name: str, results: dict[str, Any]) -> None:
    res = results[name]
    am, ours = _by_group(res["am"]), _by_group(res["ours"])
    assert am, f"{name}: alertmanager sent nothing; its log:\n{res['log']}"
    assert sorted(am) == sorted(ours), f"{name}: different groups"
    for key, am_seq in am.items():
        our_seq = ours[key]
        assert [r[2:] for r in our_seq] == [r[2:] for r in am_seq], (
            f"{name} {key}: different notifications\n ours: {our_seq}\n   am: {am_seq}")
        for mine, theirs in zip(our_seq, am_seq, strict=True):
            assert abs(mine[0] - theirs[0]) <= TOLERANCE, (
                f"{name} {key}: ours at {mine[0]:.3f}s, alertmanager at {theirs[0]:.3f}s")
