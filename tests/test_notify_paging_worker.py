"""The paging channels driven by the real DeliveryWorker: retries, outbox and log end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from pytest_httpserver import HTTPServer

import alertkit as ak
from alertkit.notify.pagerduty import PagerDutyConfig, PagerDutyNotifier
from alertkit.notify.twilio import TwilioConfig, TwilioSmsNotifier
from delivery_helpers import alert, notification

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
KEY = "R0ut1ngKeyS3cretR0ut1ngKeyS3cret"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "S3cr3tT0kenS3cr3tT0kenS3cr3tT0ke"
ROOT = Path(__file__).resolve().parent.parent


def worker(sender: ak.NotificationSender, clock: ak.FakeClock,
           results: list[ak.DeliveryOutcome]) -> ak.DeliveryWorker:
    return ak.DeliveryWorker(
        [ak.Receiver("ops", {"page": sender}, timeout=5.0)],
        clock=clock, on_result=results.append,
        policy=ak.RetryPolicy(base=1, cap=4, max_attempts=5),
    )


async def test_pagerduty_429_is_retried_at_retry_after_and_deduplicated(
        httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/v2/enqueue").respond_with_json(
        {"status": "success"}, 202)
    httpserver.expect_ordered_request("/v2/enqueue").respond_with_json(
        {"status": "throttle event", "message": "slow down"}, 429,
        headers={"Retry-After": "30"})
    httpserver.expect_ordered_request("/v2/enqueue").respond_with_json({"status": "success"}, 202)
    httpserver.expect_ordered_request("/v2/enqueue").respond_with_json({"status": "success"}, 202)
    notifier = PagerDutyNotifier(PagerDutyConfig(routing_key=KEY,
                                                 base_url=httpserver.url_for("")))
    clock = ak.FakeClock(T0)
    results: list[ak.DeliveryOutcome] = []
    n = notification(firing=[alert(host="web1"), alert(host="web2")])
    async with worker(notifier, clock, results) as w:
        await w.submit(n)
        await w.wait_idle()
        [pending] = (await w.outbox.load()).entries
        assert pending.next_attempt_at == T0 + 30
        assert pending.last_error.startswith("event 2/2 (trigger alertkit/")
        assert KEY not in pending.last_error
        clock.set(T0 + 30)
        await w.wait_idle()
    assert results[0].delivered and results[0].attempts == 2
    keys = [json.loads(req.get_data())["dedup_key"] for req, _ in httpserver.log]
    a, b = (f"alertkit/{x.fingerprint}" for x in n.firing)
    assert keys == [a, b, a, b]  # the retry repeats the first event; PagerDuty deduplicates it
    assert KEY not in repr(w.log.query())


async def test_twilio_retry_texts_only_the_recipient_that_failed(
        httpserver: HTTPServer) -> None:
    path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    httpserver.expect_ordered_request(path).respond_with_json({"sid": "SM1"}, 201)
    httpserver.expect_ordered_request(path).respond_with_json(
        {"code": 20500, "message": "Internal Server Error"}, 500)
    httpserver.expect_ordered_request(path).respond_with_json({"sid": "SM2"}, 201)
    notifier = TwilioSmsNotifier(TwilioConfig(
        account_sid=SID, auth_token=TOKEN, from_number="+15017122661",
        to=["+15558675310", "+15558675311"], base_url=httpserver.url_for("")))
    clock = ak.FakeClock(T0)
    results: list[ak.DeliveryOutcome] = []
    async with worker(notifier, clock, results) as w:
        await w.submit(notification())
        await w.wait_idle()
        [pending] = (await w.outbox.load()).entries
        assert pending.last_error == ("to +15558675311: HTTP 500: Twilio error 20500: "
                                      "Internal Server Error")
        clock.set(pending.next_attempt_at)
        await w.wait_idle()
    assert results[0].delivered and results[0].attempts == 2
    recipients = [dict(parse_qsl(req.get_data(as_text=True)))["To"]
                  for req, _ in httpserver.log]
    assert recipients == ["+15558675310", "+15558675311", "+15558675311"]
    assert TOKEN not in repr(w.log.query())


def test_importing_channels_registers_every_paging_scheme() -> None:
    code = ("import alertkit.notify.channels\n"
            "from alertkit.notify.registry import default_registry as r\n"
            "print(' '.join(r.schemes()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, check=True,
                         timeout=60)
    schemes = set(out.stdout.split())
    assert {"pagerduty", "opsgenie", "pushover", "ntfy", "ntfys", "twilio",
            "twilio+voice"} <= schemes
