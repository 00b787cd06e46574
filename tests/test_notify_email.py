"""The e-mail channel against a real aiosmtpd server on 127.0.0.1 (STARTTLS, TLS, plain)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

import alertkit as ak
from alertkit.notify.email import EmailConfig, EmailNotifier
from alertkit.notify.registry import notifier_from_url
from delivery_helpers import alert, closed_port, notification

T0 = 1_700_000_000.0
USER = "alerts@example.com"
PASSWORD = "pa55-w0rd-Very-S3cret"
SENDER = "Alertkit <alerts@example.com>"
TO = ("ops@example.com", "Dev Team <dev@example.org>")


class Recorder:
    """An aiosmtpd handler that keeps what it receives and answers as told."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes, bool]] = []
        self.data_reply = "250 OK"
        self.refuse: dict[str, str] = {}
        self.delay = 0.0
        self.mail_reply = ""

    async def handle_MAIL(self, server: SMTPServer, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTPServer, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.data_reply.startswith("250"):
            assert isinstance(envelope.content, bytes) and envelope.mail_from is not None
            assert server.transport is not None
            over_tls = server.transport.get_extra_info("ssl_object") is not None
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  envelope.content, over_tls))
        return self.data_reply


class Authenticator:
    def __init__(self) -> None:
        self.attempts: list[tuple[str, bool]] = []

    def __call__(self, server: SMTPServer, session: Session, envelope: Envelope,
                 mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
              and auth_data.password == PASSWORD.encode())
        self.attempts.append((mechanism, ok))
        return AuthResult(success=True) if ok else AuthResult(success=False, handled=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@contextmanager
def smtp_server(mode: str, server_tls: ssl.SSLContext | None = None, *, auth: bool = True
                ) -> Iterator[tuple[int, Recorder, Authenticator]]:
    recorder, authenticator = Recorder(), Authenticator()
    kwargs: dict[str, Any] = {}
    if auth:
        # aiosmtpd only counts STARTTLS as TLS for AUTH; implicit TLS is TLS all the same.
        kwargs.update(authenticator=authenticator, auth_require_tls=mode == "starttls")
    if mode == "starttls":
        kwargs.update(tls_context=server_tls, require_starttls=True)
    elif mode == "tls":
        kwargs.update(ssl_context=server_tls)
    port = closed_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port, recorder, authenticator
    finally:
        controller.stop()


def mailer(port: int, **kw: Any) -> EmailNotifier:
    fields: dict[str, Any] = {"host": "127.0.0.1", "port": port, "sender": SENDER,
                              "recipients": TO}
    fields.update(kw)
    return EmailNotifier(EmailConfig(**fields))


async def deliver(m: EmailNotifier, n: ak.Notification, *, now: float = T0,
                  timeout: float = 5.0) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await m.send(n, ak.DeliveryContext(http=client, now=now, timeout=timeout))


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_alternative(message: EmailMessage, plain: str, html_fragment: str) -> None:
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert plain in parts[0].get_content()
    assert html_fragment in parts[1].get_content()


@pytest.mark.anyio
async def test_starttls_with_auth_login(server_tls: ssl.SSLContext,
                                        client_tls: ssl.SSLContext) -> None:
    n = notification(firing=[alert(severity=ak.Severity.CRITICAL)],
                     resolved=[alert("DiskFull", host="db1", firing=False)])
    with smtp_server("starttls", server_tls) as (port, recorder, auth):
        m = mailer(port, username=USER, password=PASSWORD, auth="login", ssl_context=client_tls)
        result = await deliver(m, n)
    assert result == ak.Delivered()
    assert auth.attempts == [("LOGIN", True)]
    [(mail_from, rcpt_tos, raw, over_tls)] = recorder.received
    assert over_tls
    assert mail_from == "alerts@example.com"
    assert rcpt_tos == ["ops@example.com", "dev@example.org"]
    message = parse(raw)
    assert message["From"] == SENDER
    assert message["To"] == "ops@example.com, Dev Team <dev@example.org>"
    assert message["Subject"] == "[CRITICAL] [FIRING:1] HighCPU"
    assert message["Date"] == "Tue, 14 Nov 2023 22:13:20 +0000"
    millis = int(n.created_at * 1000)
    assert message["Message-ID"] == f"<{n.idempotency_key}.{millis}@example.com>"
    assert re.fullmatch(r"<group\.[0-9a-f]{24}@example\.com>", message["References"])
    assert message["Auto-Submitted"] == "auto-generated"
    assert_alternative(message, "FIRING HighCPU", "<b>FIRING</b> <code>HighCPU</code>")
    plain_part, html_part = message.iter_parts()
    assert "<h2>[CRITICAL] [FIRING:1] HighCPU</h2>" in html_part.get_content()
    assert "RESOLVED DiskFull" in plain_part.get_content()


@pytest.mark.anyio
async def test_implicit_tls_with_auth_plain_and_a_cafile(
        server_tls: ssl.SSLContext, ca: trustme.CA, tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    with smtp_server("tls", server_tls) as (port, recorder, auth):
        m = mailer(port, tls="tls", username=USER, password=PASSWORD, auth="plain",
                   cafile=str(cafile))
        result = await deliver(m, notification())
    assert result == ak.Delivered()
    assert auth.attempts == [("PLAIN", True)]
    [(_, rcpt_tos, raw, over_tls)] = recorder.received
    assert over_tls and rcpt_tos == ["ops@example.com", "dev@example.org"]
    assert parse(raw)["Subject"] == "[HIGH] [FIRING:1] HighCPU"


@pytest.mark.anyio
async def test_plain_local_relay_without_auth() -> None:
    n = notification(firing=[], resolved=[alert(firing=False)],
                     texts={"title": "Résolu: HighCPU ✅", "body": "tout va bien",
                            "body.html": "<p>tout va <b>bien</b></p>"})
    with smtp_server("none", auth=False) as (port, recorder, _):
        result = await deliver(mailer(port, tls="none", recipients=["ops@example.com"]), n)
    assert result == ak.Delivered()
    [(_, rcpt_tos, raw, over_tls)] = recorder.received
    assert not over_tls and rcpt_tos == ["ops@example.com"]
    message = parse(raw)
    assert message["Subject"] == "[RESOLVED] Résolu: HighCPU ✅"
    assert_alternative(message, "tout va bien", "<p>tout va <b>bien</b></p>")


@pytest.mark.anyio
async def test_the_system_trust_store_rejects_an_unknown_ca(server_tls: ssl.SSLContext) -> None:
    with smtp_server("starttls", server_tls) as (port, recorder, _):
        result = await deliver(mailer(port, username=USER, password=PASSWORD), notification())
    assert isinstance(result, ak.Failed)
    assert result.reason.startswith("TLS certificate verification failed")
    assert recorder.received == []


@pytest.mark.anyio
async def test_starttls_refused_by_a_plain_server_fails() -> None:
    with smtp_server("none", auth=False) as (port, recorder, _):
        result = await deliver(mailer(port), notification())
    assert result == ak.Failed("SMTP: STARTTLS extension not supported by server.")
    assert recorder.received == []


@pytest.mark.anyio
async def test_a_wrong_password_fails_without_showing_it(
        server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    with smtp_server("starttls", server_tls) as (port, recorder, auth):
        m = mailer(port, username=USER, password=PASSWORD + "x", ssl_context=client_tls)
        result = await deliver(m, notification())
    assert isinstance(result, ak.Failed) and result.status_code == 535
    assert result.reason.startswith("SMTP 535")
    assert PASSWORD not in repr(result) and PASSWORD not in repr(m) and PASSWORD not in repr(
        m.config)
    assert auth.attempts and not auth.attempts[0][1]
    assert recorder.received == []


@pytest.mark.anyio
@pytest.mark.parametrize(("reply", "kind"), [
    ("451 4.3.0 Mail server temporarily rejected message", ak.Retry),
    ("452 4.3.1 Insufficient system storage", ak.Retry),
    ("554 5.7.1 Message rejected as spam", ak.Failed),
    ("552 5.3.4 Message size exceeds fixed limit", ak.Failed),
])
async def test_data_replies_4xx_retry_5xx_fail(reply: str, kind: type) -> None:
    with smtp_server("none", auth=False) as (port, recorder, _):
        recorder.data_reply = reply
        result = await deliver(mailer(port, tls="none"), notification())
    code = int(reply[:3])
    assert result == kind(f"SMTP {code}: {reply[4:]}", status_code=code)


@pytest.mark.anyio
@pytest.mark.parametrize(("reply", "kind"), [
    ("451 4.7.1 Greylisted, try again later", ak.Retry),
    ("553 5.7.1 Sender address rejected", ak.Failed),
])
async def test_mail_from_replies(reply: str, kind: type) -> None:
    with smtp_server("none", auth=False) as (port, recorder, _):
        recorder.mail_reply = reply
        result = await deliver(mailer(port, tls="none"), notification())
    code = int(reply[:3])
    assert result == kind(f"SMTP {code}: {reply[4:]}", status_code=code)
    assert recorder.received == []


@pytest.mark.anyio
async def test_recipients_refused() -> None:
    with smtp_server("none", auth=False) as (port, recorder, _):
        recorder.refuse = {"ops@example.com": "550 5.1.1 No such user",
                           "dev@example.org": "550 5.1.1 No such user"}
        every = await deliver(mailer(port, tls="none"), notification())
        recorder.refuse = {"ops@example.com": "450 4.2.1 Mailbox busy",
                           "dev@example.org": "550 5.1.1 No such user"}
        busy = await deliver(mailer(port, tls="none"), notification())
        recorder.refuse = {"dev@example.org": "550 5.1.1 No such user"}
        partial = await deliver(mailer(port, tls="none"), notification())
    assert isinstance(every, ak.Failed) and every.status_code == 550
    assert every.reason.startswith("SMTP: every recipient refused: ops@example.com (550")
    assert isinstance(busy, ak.Retry) and busy.status_code == 450
    assert partial == ak.Delivered(
        detail="refused recipients: dev@example.org (550 5.1.1 No such user)")
    [(_, rcpt_tos, _, _)] = recorder.received
    assert rcpt_tos == ["ops@example.com"]


@pytest.mark.anyio
async def test_connection_refused_is_retried() -> None:
    result = await deliver(mailer(closed_port(), tls="none"), notification())
    assert isinstance(result, ak.Retry) and result.reason.startswith("ConnectionRefusedError")


@pytest.mark.anyio
async def test_a_slow_server_times_out_and_is_retried() -> None:
    with smtp_server("none", auth=False) as (port, recorder, _):
        recorder.delay = 1.5
        started = time.perf_counter()
        result = await deliver(mailer(port, tls="none"), notification(), timeout=0.3)
        elapsed = time.perf_counter() - started
    # smtplib reports a read timeout as a disconnection "timed out".
    assert isinstance(result, ak.Retry) and "timed out" in result.reason
    assert elapsed < 1.4


@pytest.mark.anyio
async def test_sending_does_not_block_the_event_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    with smtp_server("none", auth=False) as (port, recorder, _):
        recorder.delay = 0.4
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            result = await deliver(mailer(port, tls="none"), notification())
            tg.cancel_scope.cancel()
    assert result == ak.Delivered()
    assert ticks >= 10  # the loop kept running while smtplib waited in a thread


@pytest.mark.anyio
async def test_a_redelivery_keeps_the_message_id() -> None:
    n = notification()
    later = attrs.evolve(n, created_at=n.created_at + 3600)  # a reminder: same alerts, later
    with smtp_server("none", auth=False) as (port, recorder, _):
        m = mailer(port, tls="none")
        await deliver(m, n, now=T0)
        await deliver(m, n, now=T0 + 30)
        await deliver(m, later, now=T0 + 3600)
    ids = [parse(raw)["Message-ID"] for _, _, raw, _ in recorder.received]
    dates = [parse(raw)["Date"] for _, _, raw, _ in recorder.received]
    assert ids[0] == ids[1] != ids[2]
    assert len(set(dates)) == 3


def test_subject_prefixes() -> None:
    m = mailer(25, tls="none", subject_prefixes={"high": "🔥", "resolved": ""})
    assert dict(m.config.subject_prefixes) == {
        "critical": "[CRITICAL]", "high": "🔥", "medium": "[MEDIUM]", "low": "[LOW]",
        "info": "[INFO]", "resolved": ""}
    with pytest.raises(TypeError):
        m.config.subject_prefixes["high"] = "x"  # type: ignore[index]
    assert m.subject(notification(firing=[alert(severity=ak.Severity.HIGH)])) == (
        "🔥 [FIRING:1] HighCPU")
    assert m.subject(notification(firing=[], resolved=[alert(firing=False)])) == (
        "[RESOLVED] HighCPU")
    default = mailer(25, tls="none")
    assert default.subject(notification(firing=[alert(severity=ak.Severity.INFO),
                                                 alert(severity=ak.Severity.MEDIUM)])) == (
        "[MEDIUM] [FIRING:2] HighCPU")
    # The default resolved title already starts with the prefix: it is not doubled.
    assert default.subject(notification(firing=[], resolved=[alert(firing=False)])) == (
        "[RESOLVED] HighCPU")
    evil = notification(texts={"title": "a\r\nBcc: victim@example.com"})
    assert default.subject(evil) == "[HIGH] a Bcc: victim@example.com"


def test_repr_and_config_repr_hide_the_password() -> None:
    m = mailer(587, username=USER, password=PASSWORD)
    assert repr(m) == ("EmailNotifier(host='127.0.0.1', port=587, tls='starttls', "
                       "recipients=('ops@example.com', 'Dev Team <dev@example.org>'))")
    assert PASSWORD not in repr(m.config)


def test_from_url_round_trips_to_the_same_config(tmp_path: Path, ca: trustme.CA) -> None:
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    m = EmailNotifier.from_url(
        "smtp://alerts%40example.com:pa55%3Aw0rd@mail.example.com:587"
        "?from=alerts@example.com&to=ops@example.com,dev@example.org&auth=login"
        f"&cafile={cafile}", local_hostname="probe.example.com")
    assert m.config == EmailConfig(
        host="mail.example.com", port=587, tls="starttls", username="alerts@example.com",
        password="pa55:w0rd", auth="login", sender="alerts@example.com",
        recipients=("ops@example.com", "dev@example.org"), cafile=str(cafile),
        local_hostname="probe.example.com")
    s = EmailNotifier.from_url("smtps://u:p@[::1]?from=a@example.com&to=b@example.com")
    assert s.config == EmailConfig(host="::1", tls="tls", username="u", password="p",
                                   sender="a@example.com", recipients=("b@example.com",))
    assert s.config.effective_port == 465
    relay = notifier_from_url("smtp://localhost:25?tls=none&from=a@example.com&to=b@example.com")
    assert isinstance(relay, EmailNotifier) and relay.config.tls == "none"


@pytest.mark.parametrize(("fields", "message"), [
    ({"host": ""}, "host must be a host name"),
    ({"host": "smtp example"}, "host must be a host name"),
    ({"port": 0}, "port must be an int in 1..65535"),
    ({"tls": "ssl"}, "tls must be 'starttls', 'tls' or 'none'"),
    ({"sender": "nobody"}, "sender 'nobody' is not an e-mail address"),
    ({"sender": "a@example.com\r\nBcc: x@y.z"}, "sender must be a string without line breaks"),
    ({"recipients": []}, "recipients must name at least one address"),
    ({"recipients": ["ops@example.com", "not an address"]}, "recipient 'not an address'"),
    ({"recipients": 5}, "recipients must be a list of e-mail addresses"),
    ({"auth": "cram-md5"}, "auth must be 'auto', 'login' or 'plain'"),
    ({"username": "u"}, "username and password go together"),
    ({"username": "u", "password": "p", "tls": "none", "host": "mail.example.com"},
     "refusing to send a password over an unencrypted connection"),
    ({"cafile": "/nonexistent/ca.pem"}, "is not a readable file"),
    ({"ssl_context": "yes"}, "ssl_context must be an ssl.SSLContext"),
    ({"subject_prefixes": {"urgent": "!"}}, "'urgent' is not one of"),
    ({"subject_prefixes": {"high": "a\nb"}}, "must be a string without line breaks"),
    ({"subject_prefixes": ["x"]}, "must map severities to prefixes"),
    ({"local_hostname": "a b"}, "local_hostname must be a host name"),
])
def test_bad_config(fields: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"host": "mail.example.com", "sender": USER,
                            "recipients": ["ops@example.com"]}
    with pytest.raises(ak.NotifierConfigError, match=re.escape(message)):
        EmailConfig(**{**base, **fields})


def test_a_password_to_a_loopback_relay_is_allowed() -> None:
    config = EmailConfig(host="127.0.0.1", tls="none", username="u", password="p",
                         sender="alertkit@localhost", recipients=["root@localhost"])
    assert config.effective_port == 25
    assert EmailNotifier(config).message_id(notification()).endswith("@localhost>")


def test_notifier_needs_a_config() -> None:
    with pytest.raises(ak.NotifierConfigError, match="needs an EmailConfig"):
        EmailNotifier("smtp://mail.example.com")  # type: ignore[arg-type]


@pytest.mark.parametrize(("url", "message"), [
    ("mailto://ops@example.com", "must start with smtp:// or smtps://"),
    ("smtp://mail.example.com?to=b@example.com", "needs the from= option"),
    ("smtp://mail.example.com?from=a@example.com", "needs the to= option"),
    (f"smtp://{USER}@mail.example.com?from=a@example.com&to=b@example.com",
     "give USER:PASSWORD"),
    ("smtp://mail.example.com:smtp?from=a@example.com&to=b@example.com",
     "the port must be a number"),
    ("smtps://mail.example.com?tls=none&from=a@example.com&to=b@example.com",
     "unknown option(s) tls"),
    ("smtp://mail.example.com/x?from=a@example.com&to=b@example.com", "URL must be smtp://"),
    ("smtp://[::1?from=a@example.com&to=b@example.com", "unclosed ["),
])
def test_bad_url(url: str, message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=re.escape(message)) as info:
        EmailNotifier.from_url(url)
    assert PASSWORD not in str(info.value)


@pytest.mark.anyio
async def test_through_the_delivery_worker(server_tls: ssl.SSLContext,
                                           client_tls: ssl.SSLContext) -> None:
    clock = ak.FakeClock(T0)
    results: list[ak.DeliveryOutcome] = []
    with smtp_server("starttls", server_tls) as (port, recorder, _):
        m = mailer(port, username=USER, password=PASSWORD, ssl_context=client_tls)
        worker = ak.DeliveryWorker([ak.Receiver("ops", {"mail": m}, timeout=5.0)],
                                   clock=clock, on_result=results.append)
        async with worker as w:
            await w.submit(notification(firing=[alert(severity=ak.Severity.CRITICAL)]))
            await w.wait_idle()
    assert results[0].delivered
    [(_, _, raw, _)] = recorder.received
    message = parse(raw)
    # The runtime rendered both formats the notifier declares.
    assert_alternative(message, "FIRING HighCPU", "<b>FIRING</b> <code>HighCPU</code>")
    assert message["Subject"] == "[CRITICAL] [FIRING:1] HighCPU"
