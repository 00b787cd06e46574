"""Notifier protocol v2, registry, URL redaction, templates and the webhook's configuration."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest

import alertkit as ak
from alertkit.notify.registry import default_registry
from delivery_helpers import alert, notification

SECRET_URL = "https://bob:hunter22@hooks.example.com:8443/services/T000/B000/XXXXsecretXXXX?token=tok123"


# -- redaction ------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "shown"), [
    (SECRET_URL, "https://***@hooks.example.com:8443/***?***"),
    ("https://discord.com/api/webhooks/123/abcdef", "https://discord.com/***"),
    ("http://127.0.0.1:9000/", "http://127.0.0.1:9000/"),
    ("http://[::1]:8080/x", "http://[::1]:8080/***"),
    ("no scheme here", "***"),
    ("http://host:99999999/", "***"),
    (42, "***"),
])
def test_redact_url(url: object, shown: str) -> None:
    assert ak.redact_url(url) == shown


def test_redactor_masks_longest_secrets_first() -> None:
    r = ak.Redactor(["abcd", "abcdefgh", None, "x"])
    assert r.scrub("key=abcdefgh other=abcd x") == "key=*** other=*** x"
    assert "abcd" not in repr(r)


# -- registry -------------------------------------------------------------------------------


class EchoSender:
    def __init__(self, url: str, *, greeting: str = "hi") -> None:
        self.url = url
        self.greeting = greeting

    async def send(self, n: ak.Notification, context: ak.DeliveryContext) -> ak.DeliveryResult:
        return ak.Delivered(detail=self.greeting)


def test_registry_by_scheme_and_by_name() -> None:
    reg = ak.NotifierRegistry()
    reg.register("echo", EchoSender, schemes=["echo", "ECHOS"])
    sender = reg.from_url("echo://host/path", greeting="hello")
    assert isinstance(sender, EchoSender) and sender.greeting == "hello"
    assert isinstance(reg.from_url("EchoS://x"), EchoSender)
    assert isinstance(reg.create("echo", "anything"), EchoSender)
    assert reg.names() == ["echo"] and reg.schemes() == ["echo", "echos"] and "echo" in reg
    reg.unregister("echo")
    assert reg.schemes() == []


def test_registry_errors_are_precise_and_never_show_secrets() -> None:
    reg = ak.NotifierRegistry()
    reg.register("echo", EchoSender, schemes=["echo"])
    with pytest.raises(ak.NotifierConfigError, match=r"unknown notifier URL scheme 'nope'") as e:
        reg.from_url("nope://user:s3cretpw@host/T/secretpath")
    assert "s3cretpw" not in str(e.value) and "secretpath" not in str(e.value)
    assert "known: echo" in str(e.value)
    with pytest.raises(ak.NotifierConfigError, match="has no scheme"):
        reg.from_url("hooks.example.com/secret")
    with pytest.raises(ak.NotifierConfigError, match="already registered"):
        reg.register("echo", EchoSender)
    with pytest.raises(ak.NotifierConfigError, match="already belongs to notifier 'echo'"):
        reg.register("other", EchoSender, schemes=["echo"])
    reg.register("other", EchoSender, schemes=["echo"], replace=True)
    assert reg.schemes() == ["echo"]
    with pytest.raises(ak.NotifierConfigError, match="not valid"):
        reg.register("Bad Name", EchoSender)
    with pytest.raises(ak.NotifierConfigError, match="unknown notifier kind 'slack'"):
        reg.create("slack", "https://x")
    with pytest.raises(ak.NotifierConfigError, match="unexpected keyword argument 'colour'"):
        reg.from_url("echo://x", colour="red")
    reg.register("broken", lambda url: object(), schemes=["broken"])
    with pytest.raises(ak.NotifierConfigError, match="has no async send"):
        reg.from_url("broken://x")

    def explode(url: str) -> ak.NotificationSender:
        raise RuntimeError(f"cannot parse {url}")

    reg.register("explode", explode, schemes=["explode"])
    with pytest.raises(ak.NotifierConfigError, match="could not be created: RuntimeError") as e:
        reg.from_url("explode://host/tok3n")
    assert "tok3n" not in str(e.value)


def test_the_default_registry_knows_the_webhook() -> None:
    assert {"http", "https", "webhook", "webhooks"} <= set(default_registry.schemes())
    hook = ak.notifier_from_url("webhooks://hooks.example.com/abc")
    assert isinstance(hook, ak.WebhookNotifier)
    assert repr(hook) == "WebhookNotifier('https://hooks.example.com/***')"


def test_register_notifier_in_the_default_registry() -> None:
    ak.register_notifier("echo-test", EchoSender, schemes=["echotest"])
    try:
        assert isinstance(ak.notifier_from_url("echotest://x"), EchoSender)
    finally:
        default_registry.unregister("echo-test")


def test_protocol_is_structural() -> None:
    assert isinstance(EchoSender("x"), ak.NotificationSender)
    assert not isinstance(object(), ak.NotificationSender)


# -- webhook configuration --------------------------------------------------------------------


def test_webhook_repr_hides_every_secret() -> None:
    hook = ak.WebhookNotifier(SECRET_URL, headers={"X-Api-Key": "k3y-value"},
                              signing_secret="whsec_c2VjcmV0c2VjcmV0")
    text = repr(hook) + str(hook)
    for secret in ("bob", "hunter22", "XXXXsecretXXXX", "tok123", "k3y-value", "whsec_"):
        assert secret not in text
    assert "X-Api-Key" in text and "signed=True" in text and "auth='basic'" in text


@pytest.mark.parametrize(("url", "kwargs", "message"), [
    ("ftp://host/x", {}, "scheme 'ftp' is not one of"),
    ("https:///nohost", {}, "has no host"),
    ("https://host:notaport/", {}, "is not valid"),
    ("https://host/a b", {}, "contains whitespace"),
    (123, {}, "must be a string"),
    ("https://host/", {"headers": {"Bad Header": "x"}}, "header name"),
    ("https://host/", {"headers": {"X-A": "a\r\nb"}}, "without line breaks"),
    ("https://host/", {"headers": {"Content-Type": "text/plain"}}, "set by alertkit"),
    ("https://host/", {"bearer_token": "t", "basic_auth": ("u", "p")}, "not both"),
    ("https://host/", {"headers": {"Authorization": "x"}, "bearer_token": "t"}, "conflict"),
    ("https://host/", {"bearer_token": ""}, "non-empty"),
    ("https://host/", {"basic_auth": "user:pw"}, "tuple"),
    ("https://host/", {"signing_secret": "whsec_***notbase64"}, "not valid base64"),
])
def test_webhook_bad_configuration(url: object, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=message) as e:
        ak.WebhookNotifier(url, **kwargs)  # type: ignore[arg-type]
    assert "hunter22" not in str(e.value)


def test_webhook_bad_url_message_is_redacted() -> None:
    with pytest.raises(ak.NotifierConfigError) as e:
        ak.WebhookNotifier("gopher://user:hunter22@host/secretpath")
    assert "hunter22" not in str(e.value) and "secretpath" not in str(e.value)


# -- HTTP classification ----------------------------------------------------------------------


@pytest.mark.parametrize(("status", "kind"), [
    (200, ak.Delivered), (201, ak.Delivered), (202, ak.Delivered), (204, ak.Delivered),
    (408, ak.Retry), (429, ak.Retry), (500, ak.Retry), (502, ak.Retry), (503, ak.Retry),
    (504, ak.Retry),
    (301, ak.Failed), (400, ak.Failed), (401, ak.Failed), (403, ak.Failed), (404, ak.Failed),
    (410, ak.Failed), (413, ak.Failed), (501, ak.Failed),
])
def test_common_retry_rule(status: int, kind: type) -> None:
    assert isinstance(ak.classify_http_status(status, {}, now=0.0), kind)


def test_retry_after_header_sets_retry_at() -> None:
    headers = httpx.Headers({"Retry-After": "12"})
    assert ak.classify_http_status(429, headers, now=100.0) == ak.Retry(
        "HTTP 429", status_code=429, retry_at=112.0)


# -- templates --------------------------------------------------------------------------------


def test_default_templates_render_every_format() -> None:
    n = notification(firing=[alert(host="web1", severity=ak.Severity.CRITICAL)],
                     resolved=[alert(host="web2", firing=False, value=math.nan)])
    texts, errors = ak.NotificationTemplates(links={"runbook": "https://r.example/x?a=1&b=2"}) \
        .render(n, ["plain", "markdown", "html", "slack"])
    assert errors == ()
    assert texts["title"] == "[FIRING:1] HighCPU"
    assert set(texts) == {"title", "body", "body.markdown", "body.html", "body.slack"}
    assert "FIRING HighCPU" in texts["body"] and "RESOLVED HighCPU" in texts["body"]
    assert "web1 is busy" in texts["body"] and "runbook: https://r.example" in texts["body"]
    assert "**FIRING**" in texts["body.markdown"]
    assert 'href="https://r.example/x?a=1&amp;b=2"' in texts["body.html"]
    assert "*FIRING*" in texts["body.slack"] and "<https://r.example/x?a=1&amp;b=2|runbook>" \
        in texts["body.slack"]
    assert "#d00000" in texts["body.html"]  # critical's colour


def test_html_body_escapes_label_values() -> None:
    n = notification(firing=[alert(host="<script>alert(1)</script>")])
    texts, _ = ak.NotificationTemplates().render(n, ["html", "slack"])
    assert "<script>" not in texts["body.html"] and "&lt;script&gt;" in texts["body.html"]
    assert "<script>" not in texts["body.slack"]


def test_user_templates_from_strings_and_files(tmp_path: Path) -> None:
    body = tmp_path / "body.j2"
    body.write_text("{% for a in alerts.firing %}{{ a.labels.host }} {{ a.value|humanize }} "
                    "{{ a.severity|severity_emoji }} {{ a.active_at|since }}{% endfor %}",
                    encoding="utf-8")
    t = ak.NotificationTemplates(
        title="{{ alerts.firing|length }}/{{ alerts|length }} {{ common_labels.alertname }}",
        body=body,
        bodies={"markdown": "{{ status|upper }} {{ group_labels|labels_text }}"})
    n = notification(firing=[alert(value=2_500_000.0, t=1000.0)], created_at=1090.0)
    texts, errors = t.render(n, ["plain", "markdown"])
    assert errors == ()
    assert texts == {"title": "1/1 HighCPU", "body": "web1 2.5M 🟠 1m 30s",
                     "body.markdown": "FIRING alertname=HighCPU"}


def test_a_failing_template_falls_back_and_reports() -> None:
    t = ak.NotificationTemplates(title="{{ alerts[7].rule.upper() }}",
                                 body="{{ 1 // 0 }}",
                                 bodies={"html": "{{ ''.__class__.__mro__ }}"})
    n = notification()
    texts, errors = t.render(n, ["plain", "html"])
    assert texts["title"] == "[FIRING:1] HighCPU"  # the default title
    assert "FIRING HighCPU" in texts["body"]
    assert "FIRING" in texts["body.html"]
    assert len(errors) == 3
    assert errors[0].startswith("template 'title': UndefinedError")
    assert errors[1].startswith("template 'body': ZeroDivisionError")
    assert errors[2].startswith("template 'body.html': SecurityError")  # the sandbox


def test_template_syntax_and_file_errors_are_precise(tmp_path: Path) -> None:
    with pytest.raises(ak.TemplateError, match=r"'title', line 1: .*"):
        ak.NotificationTemplates(title="{{ oops ")
    bad = tmp_path / "bad.j2"
    bad.write_text("line one\n{% for %}\n", encoding="utf-8")
    with pytest.raises(ak.TemplateError, match=r"'body' \(.*bad.j2\), line 2"):
        ak.NotificationTemplates(body=bad)
    with pytest.raises(ak.TemplateError, match=r"cannot read .*missing.j2"):
        ak.NotificationTemplates(body=tmp_path / "missing.j2")
    with pytest.raises(ak.TemplateError, match="format 'pdf'"):
        ak.NotificationTemplates(bodies={"pdf": "x"})
    with pytest.raises(ak.TemplateError, match="string or a pathlib.Path"):
        ak.NotificationTemplates(title=42)  # type: ignore[arg-type]


def test_severity_helpers() -> None:
    assert ak.severity_color(ak.Severity.CRITICAL) == ak.severity_color("critical") == "#d00000"
    assert ak.severity_color(50) == "#d00000" and ak.severity_color("bogus") == "#808080"
    assert ak.severity_emoji("high") == "🟠" and ak.severity_emoji(None) == "❔"


# -- schema --------------------------------------------------------------------------------


def test_notification_json_round_trip_is_exact() -> None:
    n = notification(
        firing=[alert(value=math.inf), alert(host="web3", value=-0.0, env="prod")],
        resolved=[alert(host="web2", firing=False, value=math.nan)],
        texts={"title": "t", "body": "ünïcödé ✅"})
    n = ak.Notification(n.receiver, n.group_key, n.group_labels, n.firing, n.resolved,
                        1700000000.123456, n.idempotency_key, truncated=3, texts=n.texts)
    back = ak.notification_from_json(ak.notification_to_json(n))
    assert back == n
    assert math.isnan(back.resolved[0].value)
    assert back.truncated == 3 and back.created_at == 1700000000.123456
    doc = ak.notification_to_dict(n)
    assert doc["version"] == 1 and doc["status"] == "firing"
    assert [a["status"] for a in doc["alerts"]] == ["firing", "firing", "resolved"]
    assert doc["alerts"][0]["value"] == "+Inf"


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.update(version=99), "schema version 99"),
    (lambda d: d.pop("receiver"), "receiver: missing"),
    (lambda d: d.update(alerts="x"), "alerts: expected a list"),
    (lambda d: d["alerts"][0].update(value="lots"), r"alerts\[0\].value: expected a number"),
    (lambda d: d["alerts"][0].update(labels={"1bad": "x"}), r"alerts\[0\].labels: label name"),
    (lambda d: d["alerts"][0].update(severity="apocalyptic"), "unknown severity"),
    (lambda d: d["alerts"][0].update(status="maybe"), "expected 'firing' or 'resolved'"),
    (lambda d: d["alerts"][0].update(state="zombie"), "unknown alert state"),
    (lambda d: d.update(truncated=-1), "truncated"),
    (lambda d: d.update(texts={"a": 1}), "texts"),
])
def test_notification_decoding_errors_name_the_field(mutate: object, message: str) -> None:
    doc = ak.notification_to_dict(notification())
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(ak.OutboxError, match=message):
        ak.notification_from_dict(doc)


def test_notification_from_json_rejects_garbage() -> None:
    with pytest.raises(ak.OutboxError, match="not valid JSON"):
        ak.notification_from_json("{nope")
    with pytest.raises(ak.OutboxError, match="expected an object"):
        ak.notification_from_json("[1, 2]")
