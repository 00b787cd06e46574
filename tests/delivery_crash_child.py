"""Child process of the crash test: a worker on a SQLite outbox sending to a local server.

``python delivery_crash_child.py DB URL submit N``: writes N notifications to the
outbox (printing ``SUBMITTED`` once they are durable) and keeps sending until killed.
``python delivery_crash_child.py DB URL resume``: resumes whatever the outbox holds,
sends it, prints ``DONE <json>`` and exits.
"""

from __future__ import annotations

import json
import sys

import anyio

import alertkit as ak

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from delivery_helpers import many


async def main(db: str, url: str, mode: str, count: int) -> None:
    results: list[ak.DeliveryOutcome] = []
    async with ak.SqliteOutbox(db) as box:
        receiver = ak.Receiver("ops", {"hook": ak.WebhookNotifier(url)}, timeout=60,
                               concurrency=4)
        async with ak.DeliveryWorker([receiver], outbox=box, on_result=results.append) as w:
            if mode == "submit":
                await w.submit(*many(count))
                print("SUBMITTED", flush=True)
                await anyio.sleep_forever()
            await w.wait_idle()
        left = len((await box.load()).entries)
    print("DONE " + json.dumps({
        "delivered": sorted(o.idempotency_key for o in results if o.delivered),
        "failed": sorted(o.idempotency_key for o in results if not o.delivered),
        "left": left,
    }), flush=True)


if __name__ == "__main__":
    db, url, mode = sys.argv[1:4]
    anyio.run(main, db, url, mode, int(sys.argv[4]) if len(sys.argv) > 4 else 0)
