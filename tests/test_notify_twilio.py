"""Twilio SMS and voice calls against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import threading
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qsl

import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import alertkit as ak
from alertkit.notify.registry import default_registry
from alertkit.notify.twilio import TwilioCallNotifier, TwilioConfig, TwilioSmsNotifier
from delivery_helpers import alert, closed_port, notification

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "S3cr3tT0kenS3cr3tT0kenS3cr3tT0ke"  # 32 characters
FROM = "+15017122661"
TO = ("+15558675310", "+15558675311")
SERVICE = "MG" + "fedcba9876543210" * 2
PATH = f"/2010-04-01/Accounts/{SID}"


def config(httpserver: HTTPServer | None = None, **kw: Any) -> TwilioConfig:
    base = {"account_sid": SID, "auth_token": TOKEN, "to": TO, "from_number": FROM}
    if httpserver is not None:
        base["base_url"] = httpserver.url_for("")
    base.update(kw)
    return TwilioConfig(**base)


async def send(notifier: TwilioSmsNotifier | TwilioCallNotifier, n: ak.Notification,
               timeout: float = 5.0) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await notifier.send(n, ak.DeliveryContext(http=client, now=T0, timeout=timeout))


def form(req: Request) -> dict[str, str]:
    return dict(parse_qsl(req.get_data(as_text=True), keep_blank_values=True))


BASIC = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


async def test_sms_one_request_per_recipient(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"{PATH}/Messages.json", method="POST").respond_with_json(
        {"sid": "SM1234", "status": "queued"}, 201)
    n = notification(firing=[alert(severity=ak.Severity.CRITICAL)],
                     resolved=[alert(host="web2", firing=False)],
                     texts={"title": "[FIRING:1] HighCPU"})
    result = await send(TwilioSmsNotifier(config(httpserver)), n)
    assert result == ak.Delivered(201, detail="2 requests accepted")
    assert len(httpserver.log) == 2
    for (req, _), to in zip(httpserver.log, TO, strict=True):
        assert req.method == "POST" and req.path == f"{PATH}/Messages.json"
        assert req.headers["Authorization"] == BASIC
        assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert form(req) == {
            "To": to, "From": FROM,
            "Body": "[FIRING:1] HighCPU\nCRITICAL HighCPU: web1 is busy\n"
                    "RESOLVED HighCPU: web2 is busy",
        }


async def test_an_api_key_authenticates_instead_of_the_account(
        httpserver: HTTPServer) -> None:
    key = "SK" + "89abcdef01234567" * 2
    httpserver.expect_request(f"{PATH}/Messages.json").respond_with_json({"sid": "SM1"}, 201)
    notifier = TwilioSmsNotifier(config(httpserver, to=[TO[0]], api_key_sid=key))
    assert await send(notifier, notification()) == ak.Delivered(201, detail="sid SM1")
    [(req, _)] = httpserver.log
    assert req.path == f"{PATH}/Messages.json"  # the account's resource, the key's auth
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(
        f"{key}:{TOKEN}".encode()).decode()
    assert key not in repr(notifier) + repr(notifier.config)
    url = f"twilio://{SID}:{TOKEN}@{FROM}/{TO[0]}?api_key_sid={key}"
    assert TwilioSmsNotifier.from_url(url).config == config(to=[TO[0]], api_key_sid=key)


async def test_sms_through_a_messaging_service(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"{PATH}/Messages.json").respond_with_json({"sid": "SM1"}, 201)
    notifier = TwilioSmsNotifier(config(httpserver, to=[TO[0]], from_number=None,
                                        messaging_service_sid=SERVICE))
    assert await send(notifier, notification()) == ak.Delivered(201, detail="sid SM1")
    [(req, _)] = httpserver.log
    assert form(req) == {"To": TO[0], "MessagingServiceSid": SERVICE,
                         "Body": "[FIRING:1] HighCPU\nHIGH HighCPU: web1 is busy"}


def test_sms_body_respects_max_length_and_counts_the_rest() -> None:
    alerts = [alert(host=f"web{i:02d}") for i in range(30)]
    n = attrs.evolve(notification(firing=alerts), truncated=2)
    for limit in (160, 1600):
        body = TwilioSmsNotifier(config(max_length=limit)).body(n)
        assert len(body) <= limit
        shown = body.count("HIGH HighCPU")
        assert body.endswith(f"… and {30 - shown + 2} more alert(s) not shown")


async def test_a_bad_number_fails_the_others_are_not_texted_twice(
        httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(f"{PATH}/Messages.json").respond_with_json(
        {"sid": "SM1"}, 201)
    httpserver.expect_ordered_request(f"{PATH}/Messages.json").respond_with_json(
        {"code": 20429, "message": "Too Many Requests", "more_info":
         "https://www.twilio.com/docs/errors/20429", "status": 429}, 429,
        headers={"Retry-After": "5"})
    httpserver.expect_ordered_request(f"{PATH}/Messages.json").respond_with_json(
        {"sid": "SM2"}, 201)
    notifier = TwilioSmsNotifier(config(httpserver))
    n = notification()
    first = await send(notifier, n)
    assert first == ak.Retry(f"to {TO[1]}: HTTP 429: Twilio error 20429: Too Many Requests",
                             status_code=429, retry_at=T0 + 5)
    second = await send(notifier, n)  # the retry: only the number that was not reached
    assert second == ak.Delivered(201, detail="sid SM2")
    assert [form(req)["To"] for req, _ in httpserver.log] == [TO[0], TO[1], TO[1]]
    third = await send(notifier, n)  # a duplicate redelivery sends nothing
    assert third == ak.Delivered(detail="every recipient already accepted it")
    assert len(httpserver.log) == 3


async def test_a_twilio_error_code_is_permanent_and_scrubbed(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"{PATH}/Messages.json").respond_with_json(
        {"code": 21211, "message": f"The 'To' number +1555 is not a valid phone number "
         f"(account {SID}, token {TOKEN}).", "more_info":
         "https://www.twilio.com/docs/errors/21211", "status": 400}, 400)
    result = await send(TwilioSmsNotifier(config(httpserver, to=[TO[0]])), notification())
    assert result == ak.Failed("HTTP 400: Twilio error 21211: The 'To' number +1555 is not a "
                               "valid phone number (account ***, token ***).", 400)


async def test_401_is_permanent_5xx_timeouts_and_refusals_retry(
        httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(f"{PATH}/Messages.json").respond_with_json(
        {"code": 20003, "message": "Authenticate", "status": 401}, 401)
    httpserver.expect_ordered_request(f"{PATH}/Messages.json").respond_with_data("", 503)
    notifier = TwilioSmsNotifier(config(httpserver, to=[TO[0]]))
    assert await send(notifier, notification()) == ak.Failed(
        "HTTP 401: Twilio error 20003: Authenticate", 401)
    assert await send(notifier, notification()) == ak.Retry("HTTP 503", status_code=503)
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(5)
        return Response("{}", 201)

    httpserver.clear()
    httpserver.expect_request(f"{PATH}/Messages.json").respond_with_handler(stall)
    try:
        result = await send(notifier, notification(), timeout=0.2)
    finally:
        release.set()
    assert isinstance(result, ak.Retry) and result.reason.startswith("timeout")
    refused = TwilioSmsNotifier(config(base_url=f"http://127.0.0.1:{closed_port()}"))
    result = await send(refused, notification())
    assert isinstance(result, ak.Retry) and "ConnectError" in result.reason
    assert TOKEN not in repr(result)


async def test_a_call_reads_the_alerts(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"{PATH}/Calls.json", method="POST").respond_with_json(
        {"sid": "CA42", "status": "queued"}, 201)
    a = alert(severity=ak.Severity.CRITICAL)
    a = attrs.evolve(a, annotations={"summary": 'disk <90% & "rising"'})
    notifier = TwilioCallNotifier(config(httpserver, to=[TO[0]], voice="Polly.Joanna",
                                         language="en-US", loop=2))
    result = await send(notifier, notification(firing=[a, alert(host="web2")]))
    assert result == ak.Delivered(201, detail="sid CA42")
    [(req, _)] = httpserver.log
    assert req.path == f"{PATH}/Calls.json" and req.headers["Authorization"] == BASIC
    fields = form(req)
    assert fields == {
        "To": TO[0], "From": FROM,
        "Twiml": '<Response><Say voice="Polly.Joanna" language="en-US" loop="2">'
                 'Alert from alertkit. 2 alerts firing. Critical. HighCPU: disk &lt;90% &amp; '
                 '"rising". High. HighCPU: web2 is busy.</Say></Response>',
    }
    say = ET.fromstring(fields["Twiml"]).find("Say")
    assert say is not None and say.text is not None and 'disk <90% & "rising"' in say.text


async def test_no_call_for_resolved_only_unless_asked(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"{PATH}/Calls.json").respond_with_json({"sid": "CA1"}, 201)
    n = notification(firing=[], resolved=[alert(firing=False)])
    quiet = TwilioCallNotifier(config(httpserver, to=[TO[0]]))
    assert await send(quiet, n) == ak.Delivered(detail="no firing alert: no call")
    assert httpserver.log == []
    loud = TwilioCallNotifier(config(httpserver, to=[TO[0]], call_on_resolved=True))
    assert await send(loud, n) == ak.Delivered(201, detail="sid CA1")
    [(req, _)] = httpserver.log
    assert form(req)["Twiml"] == ("<Response><Say>Alertkit: alerts resolved. Resolved. "
                                  "HighCPU: web1 is busy.</Say></Response>")


def test_speech_is_capped_and_counts_the_rest() -> None:
    alerts = [alert(host=f"web{i:02d}") for i in range(50)]
    n = attrs.evolve(notification(firing=alerts), truncated=1)
    speech = TwilioCallNotifier(config(max_speech=300)).speech(n)
    assert len(speech) <= 300
    shown = speech.count("High. ")
    assert speech.endswith(f"And {50 - shown + 1} more alerts.")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(alphabet="<>&\"' ab", min_size=1, max_size=300), min_size=1,
                max_size=20), st.integers(20, 3000))
def test_twiml_is_valid_xml_within_4000(summaries: list[str], max_speech: int) -> None:
    base = alert()
    alerts = [attrs.evolve(base, fingerprint=f"{i:016x}", annotations={"summary": s})
              for i, s in enumerate(summaries)]
    twiml = TwilioCallNotifier(config(max_speech=max_speech)).twiml(
        notification(firing=alerts))
    assert len(twiml) <= 4000
    root = ET.fromstring(twiml)
    assert root.tag == "Response" and root[0].tag == "Say"


def test_repr_hides_credentials() -> None:
    for obj in (TwilioSmsNotifier(config()), TwilioCallNotifier(config()), config()):
        assert TOKEN not in repr(obj) and SID not in repr(obj)
    assert repr(TwilioSmsNotifier(config())) == "TwilioSmsNotifier(recipients=2, auth='***')"


def test_from_url_forms() -> None:
    sms = TwilioSmsNotifier.from_url(
        f"twilio://{SID}:{TOKEN}@{FROM}/{TO[0]}/{TO[1][1:]}?max_length=480")
    assert sms.config == config(max_length=480)
    svc = TwilioSmsNotifier.from_url(f"twilio://{SID}:{TOKEN}@{SERVICE}/{TO[0]}")
    assert svc.config == config(to=[TO[0]], from_number=None, messaging_service_sid=SERVICE)
    call = default_registry.from_url(
        f"twilio+voice://{SID}:{TOKEN}@{FROM}/{TO[0]}?voice=alice&language=en-GB&loop=3"
        "&max_speech=500&call_on_resolved=yes")
    assert isinstance(call, TwilioCallNotifier)
    assert call.config == config(to=[TO[0]], voice="alice", language="en-GB", loop=3,
                                 max_speech=500, call_on_resolved=True)
    assert isinstance(default_registry.from_url(f"twilio://{SID}:{TOKEN}@{FROM}/{TO[0]}"),
                      TwilioSmsNotifier)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"account_sid": "AC123"}, "account_sid is not valid"),
    ({"auth_token": "short"}, "auth_token is not valid"),
    ({"api_key_sid": "AC" + "0" * 32}, "api_key_sid is not valid"),
    ({"to": []}, "at least one recipient"),
    ({"to": "+15558675310"}, "to must be a list"),
    ({"to": ["5558675310"]}, "E.164"),
    ({"to": [TO[0], TO[0]]}, "listed twice"),
    ({"from_number": None}, "exactly one of from_number and messaging_service_sid"),
    ({"messaging_service_sid": SERVICE}, "exactly one"),
    ({"from_number": "15017122661"}, "E.164"),
    ({"from_number": None, "messaging_service_sid": "MG1"}, "messaging_service_sid"),
    ({"max_length": 1601}, "max_length is 1601"),
    ({"voice": "a voice"}, "voice must be a voice name"),
    ({"language": "English"}, "language must be a tag"),
    ({"loop": 0}, "loop is 0"),
    ({"max_speech": 5000}, "max_speech is 5000"),
    ({"call_on_resolved": "no"}, "call_on_resolved"),
    ({"base_url": "https://api.twilio.com/?x"}, "base_url"),
])
def test_bad_config(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=match) as info:
        config(**kwargs)
    assert TOKEN.lower() not in str(info.value).lower()


def test_calls_need_a_from_number() -> None:
    with pytest.raises(ak.NotifierConfigError, match="calls need from_number"):
        TwilioCallNotifier(config(from_number=None, messaging_service_sid=SERVICE))
    with pytest.raises(ak.NotifierConfigError, match="needs a TwilioConfig"):
        TwilioSmsNotifier("twilio://x")  # type: ignore[arg-type]


@pytest.mark.parametrize(("url", "match"), [
    (f"twilio://{SID}@{FROM}/{TO[0]}", "ACCOUNT_SID:AUTH_TOKEN@FROM/TO"),
    (f"twilio://{SID}:{TOKEN}@{FROM}", "ACCOUNT_SID:AUTH_TOKEN@FROM/TO"),
    (f"twilio://{SID}:{TOKEN}@{FROM}/{TO[0]}?voice=alice", "unknown option 'voice'"),
    (f"twilio+voice://{SID}:{TOKEN}@{FROM}/{TO[0]}?loop=x", "loop='x' is not an integer"),
])
def test_bad_urls(url: str, match: str) -> None:
    factory = TwilioCallNotifier if url.startswith("twilio+voice") else TwilioSmsNotifier
    with pytest.raises(ak.NotifierConfigError, match=match) as info:
        factory.from_url(url)
    assert TOKEN.lower() not in str(info.value).lower()
