"""Delivery throughput: webhook notifications per second to a local HTTP server.

Target (DESIGN.md): at least 2,000 webhook notifications/s delivered to a local
HTTP server, through the DeliveryWorker with one shared httpx.AsyncClient.

The script starts a minimal keep-alive HTTP/1.1 server (raw asyncio, answering
200 to every POST) in a child process on 127.0.0.1, runs a bounded number of
notifications through each configuration, prints the figures and stops the
server. To explain the result it also times what bounds it:

- ``raw socket``: a hand-written HTTP client on one connection: the machine's
  loopback ceiling for one Python process;
- ``httpx alone``: bare ``AsyncClient.post`` calls at the same concurrency;
- ``worker, no network``: the DeliveryWorker with a notifier that does nothing
  (templates, outbox, scheduling, delivery log): the runtime's own ceiling;
- ``worker + webhook``: the real thing, memory outbox and SQLite outbox.

Run: ``python benchmarks/bench_delivery.py [--count N] [--concurrency C] [--profile]``.
``--profile`` adds where the time of ``worker + webhook`` goes, by package.

The worker's shared client runs on alertkit's LeanTransport (httpx's default
transport reached only 250-1,100 requests/s on the 2-CPU machine). Figures:
docs/performance.md. See docs/explanation/delivery.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx

import alertkit as ak
from alertkit.notify.transport import LeanTransport

TARGET = 2_000.0

_RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"


class _Http(asyncio.Protocol):
    """Just enough HTTP/1.1: read head + content-length body, answer 200, keep alive."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.transport.write(_RESPONSE)


async def _serve(port_file: str, lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    Path(port_file).write_text(str(port))
    await asyncio.sleep(lifetime)  # stops by itself even if the parent dies
    server.close()


def start_server(lifetime: float) -> tuple[subprocess.Popen[bytes], str]:
    port_file = tempfile.mktemp(prefix="alertkit-bench-port-")
    proc = subprocess.Popen([sys.executable, __file__, "--serve", port_file,
                             "--lifetime", str(lifetime)])
    deadline = time.monotonic() + 10
    while not os.path.exists(port_file) or not Path(port_file).read_text():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("the benchmark server did not start")
        time.sleep(0.01)
    port = Path(port_file).read_text()
    os.unlink(port_file)
    return proc, f"http://127.0.0.1:{port}/hook"


def notifications(count: int) -> list[ak.Notification]:
    out = []
    for i in range(count):
        labels = ak.Labels(alertname="HighLatency", service=f"svc{i % 50}", instance=f"i{i}")
        alert = ak.Alert(labels.fingerprint, "HighLatency", labels,
                         {"summary": f"p99 latency of svc{i % 50} is 2.3s"},
                         ak.AlertState.FIRING, ak.Severity.HIGH, 2.3, 1_700_000_000.0,
                         1_700_000_060.0)
        group = f"route/svc{i % 50}/{i}"
        out.append(ak.Notification("ops", group, ak.Labels(alertname="HighLatency"), (alert,), (),
                                   1_700_000_100.0, ak.idempotency_key(group, (alert,), ())))
    return out


class NoOp:
    async def send(self, n: ak.Notification, c: ak.DeliveryContext) -> ak.DeliveryResult:
        return ak.Delivered(200)


async def bench_raw(url: str, count: int) -> float:
    host, port = url.split("//")[1].split("/")[0].split(":")
    stream = await anyio.connect_tcp(host, int(port))
    body = b"x" * 700
    request = (b"POST /hook HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
               b"content-length: %d\r\n\r\n" % len(body)) + body
    started = time.perf_counter()
    async with stream:
        for _ in range(count):
            await stream.send(request)
            received = b""
            while not received.endswith(b"ok"):
                received += await stream.receive()
    return count / (time.perf_counter() - started)


async def bench_httpx(url: str, count: int, concurrency: int, *, lean: bool = False) -> float:
    body = b"x" * 700
    limiter = anyio.Semaphore(concurrency)
    transport = LeanTransport(max_connections=concurrency) if lean else None
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency),
                                 transport=transport) as client:
        async def one() -> None:
            async with limiter:
                response = await client.post(url, content=body,
                                             headers={"content-type": "application/json"})
                assert response.status_code == 200

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(count):
                tg.start_soon(one)
        return count / (time.perf_counter() - started)


async def bench_worker(sender: ak.NotificationSender, count: int, concurrency: int,
                       outbox: ak.Outbox | None = None,
                       http: httpx.AsyncClient | None = None) -> float:
    ns = notifications(count)
    receiver = ak.Receiver("ops", {"hook": sender}, concurrency=concurrency)
    async with ak.DeliveryWorker([receiver], outbox=outbox, http=http,
                                 max_connections=concurrency) as worker:
        started = time.perf_counter()
        for i in range(0, count, 100):  # the dispatcher hands over batches
            worker.submit_nowait(*ns[i:i + 100])
        await worker.wait_idle()
        elapsed = time.perf_counter() - started
        stats = worker.stats()
    assert stats.sent == count, stats
    return count / elapsed


async def profile(url: str, count: int, concurrency: int) -> None:
    """Print where ``worker + webhook`` spends its time, by package (cProfile self time)."""
    await bench_worker(ak.WebhookNotifier(url), min(count, 200), concurrency)  # warm-up
    profiler = cProfile.Profile()
    profiler.enable()
    await bench_worker(ak.WebhookNotifier(url), count, concurrency)
    profiler.disable()
    stats = pstats.Stats(profiler)
    by_package: collections.Counter[str] = collections.Counter()
    calls = 0
    packages = ("httpx", "httpcore", "h11", "anyio", "jinja2", "alertkit", "asyncio", "trio",
                "json", "sqlite3")
    for (file, _, _), (_, ncalls, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        calls += ncalls
        name = next((p for p in packages if f"/{p}/" in file or file.endswith(f"/{p}.py")),
                    "C builtins" if file == "~" else "other")
        by_package[name] += tottime
    total = sum(by_package.values())
    print(f"profile of worker + webhook: {calls / count:,.0f} Python calls per notification")
    for name, seconds in by_package.most_common():
        print(f"  {name:12} {seconds / total:6.1%}")


async def run(count: int, concurrency: int, url: str) -> dict[str, float]:
    results: dict[str, float] = {}
    results["raw socket, 1 connection (loopback ceiling)"] = await bench_raw(url, count)
    results[f"httpx alone, concurrency {concurrency}"] = await bench_httpx(url, count,
                                                                          concurrency)
    results["httpx on LeanTransport"] = await bench_httpx(url, count, concurrency, lean=True)
    results["worker, no network (runtime ceiling)"] = await bench_worker(NoOp(), count,
                                                                          concurrency)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as plain:
        results["worker + webhook, httpx's own transport"] = await bench_worker(
            ak.WebhookNotifier(url), count, concurrency, http=plain)
    results["worker + webhook, memory outbox"] = await bench_worker(
        ak.WebhookNotifier(url), count, concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        async with ak.SqliteOutbox(Path(tmp) / "outbox.db") as box:
            results["worker + webhook, SQLite outbox"] = await bench_worker(
                ak.WebhookNotifier(url), count, concurrency, box)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--lifetime", type=float, default=300.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve, args.lifetime))
        return

    server, url = start_server(lifetime=300.0)
    try:
        results = anyio.run(run, args.count, args.concurrency, url, backend=args.backend)
        if args.profile:
            anyio.run(profile, url, args.count, args.concurrency, backend=args.backend)
    finally:
        server.terminate()
        server.wait(10)
    print(f"delivery benchmark: {args.count} notifications per run, backend {args.backend}, "
          f"{os.cpu_count()} CPUs")
    for name, rate in results.items():
        print(f"  {name:48} {rate:9,.0f} /s")
    achieved = results["worker + webhook, memory outbox"]
    verdict = "meets" if achieved >= TARGET else "is BELOW"
    print(f"webhook delivery: {achieved:,.0f} notifications/s {verdict} the target of "
          f"{TARGET:,.0f}/s")
    plain = results["worker + webhook, httpx's own transport"]
    print(f"LeanTransport / httpx's own transport, through the worker: {achieved / plain:.2f}x")


if __name__ == "__main__":
    main()
