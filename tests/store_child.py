"""Child process of the store tests.

``python store_child.py increment SPEC N``: add 1 to the record ``counter/c`` N times
through compare-and-set (re-reading after each conflict), print ``DONE <conflicts>``.

``python store_child.py engine SPEC URL OWNER``: run an Engine on the store (see
``run_engine``), driven by commands on stdin, one JSON object a line; it answers
each with one JSON line on stdout.

``python store_child.py deliver SPEC URL OWNER N``: a DeliveryWorker (lease 1 s) on the
store's outbox; with N > 0 it submits N notifications, prints ``SUBMITTED`` and runs
until killed; with N = 0 it runs until the outbox is empty, then prints
``DONE <json: the keys it delivered>``.

SPEC is ``sqlite:PATH`` or ``redis:URL#NAMESPACE``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import anyio.to_thread

import alertkit as ak
from alertkit._errors import StoreConflictError
from alertkit.runtime.engine import Engine
from alertkit.stores.base import StateStore
from alertkit.stores.redis_store import RedisStore
from alertkit.stores.sqlite_store import SqliteStore


def open_store(spec: str, owner: str = "") -> StateStore:
    """The store of SPEC; on Redis each owner keeps its own snapshot (its own timers)."""
    kind, _, rest = spec.partition(":")
    if kind == "sqlite":
        return SqliteStore(rest)
    url, _, namespace = rest.partition("#")
    return RedisStore(url, namespace=namespace,
                      snapshot_key=f"snapshot.{owner}" if owner else "snapshot")


async def increment(spec: str, n: int) -> None:
    store = open_store(spec)
    conflicts = 0
    try:
        for _ in range(n):
            while True:
                rec = await store.get_record("counter", "c")
                value = 0 if rec is None else rec.doc["value"]
                try:
                    await store.put_record("counter", "c", {"value": value + 1},
                                           expected_version=None if rec is None else rec.version)
                    break
                except StoreConflictError:
                    conflicts += 1
    finally:
        await store.aclose()
    print(f"DONE {conflicts}", flush=True)


def rules() -> list[ak.Rule]:
    return [
        # pending for an hour: its `for` progress is the timer a restart must keep
        ak.Rule(name="SlowBurn", condition="cpu > 90", for_="1h"),
        ak.Rule(name="Errors", condition="errors > 0"),
    ]


def dispatcher() -> ak.Dispatcher:
    return ak.Dispatcher(ak.Route(receiver="ops", group_by=("alertname", "host"),
                                  group_wait=0, group_interval="1m", repeat_interval="4h"),
                         [ak.ReceiverConfig(name="ops")])


def describe(engine: Engine) -> dict[str, Any]:
    out: dict[str, Any] = {
        "alerts": sorted([[a.fingerprint, a.rule, a.state.value, a.active_at, a.fired_at]
                          for a in engine.alerts()]),
        "silences": sorted([s.id, [str(m) for m in s.matchers], s.starts_at, s.ends_at]
                           for s in engine.silences()),
    }
    records = getattr(engine, "alert_records", None)
    if callable(records):
        out["records"] = sorted([r.fingerprint, str(r.status.value), r.acknowledged_by or ""]
                                for r in records())
    return out


async def run_engine(spec: str, url: str, owner: str) -> None:
    store = open_store(spec, owner)
    receiver = ak.Receiver("ops", {"hook": ak.WebhookNotifier(url)}, timeout=30,
                           concurrency=2)
    results: list[str] = []

    def settled(outcome: Any) -> None:
        results.append(outcome.idempotency_key)

    async with Engine(rules(), dispatcher=dispatcher(), receivers=[receiver], store=store,
                      evaluation_interval="0.05s", snapshot_interval="0.2s",
                      refresh_interval="0.1s", owner=owner) as engine:
        assert engine.delivery is not None
        print(json.dumps({"started": describe(engine)}), flush=True)
        while True:
            line = await anyio.to_thread.run_sync(sys.stdin.readline)
            if not line:
                break
            cmd = json.loads(line)
            op = cmd["op"]
            reply: dict[str, Any] = {"op": op}
            if op == "observe":
                engine.observe(cmd["metric"], cmd["value"], **cmd["labels"])
            elif op == "silence":
                reply["id"] = engine.silence(cmd["matchers"], duration="2h",
                                             created_by="test").id
            elif op == "ack":
                rec = await engine.acknowledge(cmd["fingerprint"], actor="ann",
                                               note="on it")
                reply["status"] = str(rec.status.value)
            elif op == "persist":
                await engine.persist()
            elif op == "idle":
                await engine.delivery.wait_idle()
            elif op == "describe":
                pass
            elif op == "saved_alerts":  # the alerts in the snapshot the store holds now
                saved = await store.load_snapshot()
                reply["alerts"] = [] if saved is None else sorted(
                    [a.fingerprint, a.rule, a.state.value, a.active_at, a.fired_at]
                    for a in Engine(rules(), state=saved).alerts())
            elif op == "stop":
                break
            reply["state"] = describe(engine)
            reply["pending"] = engine.delivery.pending
            print(json.dumps(reply), flush=True)
    await store.aclose()
    print(json.dumps({"stopped": True}), flush=True)


async def deliver(spec: str, url: str, owner: str, count: int) -> None:
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from delivery_helpers import many

    store = open_store(spec)
    delivered: list[str] = []
    receiver = ak.Receiver("ops", {"hook": ak.WebhookNotifier(url)}, timeout=60,
                           concurrency=4)
    async with ak.DeliveryWorker([receiver], outbox=store.outbox, owner=owner, lease="1s",
                                 on_result=lambda o: delivered.append(o.idempotency_key)) as w:
        if count:
            await w.submit(*many(count))
            print("SUBMITTED", flush=True)
            await anyio.sleep_forever()
        while (await store.outbox.load()).entries or w.pending:
            await anyio.sleep(0.05)
        await w.wait_idle()
    await store.aclose()
    print("DONE " + json.dumps(sorted(delivered)), flush=True)


if __name__ == "__main__":
    mode, spec = sys.argv[1:3]
    if mode == "increment":
        anyio.run(increment, spec, int(sys.argv[3]))
    elif mode == "deliver":
        anyio.run(deliver, spec, sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        anyio.run(run_engine, spec, sys.argv[3], sys.argv[4])
