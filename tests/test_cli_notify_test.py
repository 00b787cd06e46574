"""``alertkit notify-test``: sample notifications to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from alertkit.cli import notify_test

SECRET = "pw-notify-test-SECRET"


def cli(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="alertkit")
    notify_test.register(parser.add_subparsers())
    args = parser.parse_args(["notify-test", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_url_target_sends_firing_then_resolved(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("", 200)
    url = httpserver.url_for("/hook").replace("http://", f"http://bot:{SECRET}@")
    code, out, err = cli(url, "-o", "payload=alertmanager")
    assert (code, err) == (0, "")
    assert f"sending to http://***@127.0.0.1:{httpserver.port}/***" in out
    assert out.count("delivered (HTTP 200)") == 2
    assert SECRET not in out
    bodies = [json.loads(req.get_data()) for req, _ in httpserver.log]
    assert [b["status"] for b in bodies] == ["firing", "resolved"]
    assert bodies[0]["alerts"][0]["labels"]["alertname"] == "AlertkitNotifyTest"
    assert bodies[1]["alerts"][0]["status"] == "resolved"
    assert bodies[0]["version"] == "4"


def test_default_payload_carries_rendered_texts(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("", 204)
    code, _, _ = cli(httpserver.url_for("/hook"), "--no-resolved")
    assert code == 0
    [(request, _)] = httpserver.log
    body = json.loads(request.get_data())
    assert body["texts"]["title"] == "[FIRING:1] AlertkitNotifyTest"
    assert "alertkit notify-test from" in body["texts"]["body"]


@pytest.mark.parametrize(("status", "expected"), [
    (500, "temporary failure (HTTP 500): HTTP 500: it broke"),
    (400, "permanent failure (HTTP 400): HTTP 400: it broke"),
])
def test_failures_exit_1(httpserver: HTTPServer, status: int, expected: str) -> None:
    httpserver.expect_request("/hook").respond_with_data("it broke", status)
    code, out, _ = cli(httpserver.url_for("/hook"))
    assert code == 1 and expected in out


def test_connection_refused_exit_1() -> None:
    from delivery_helpers import closed_port

    code, out, _ = cli(f"http://127.0.0.1:{closed_port()}/x", "--no-resolved")
    assert code == 1 and "temporary failure: ConnectError" in out


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_toml_file_with_two_receivers(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/hook").respond_with_data("", 200)
    httpserver.expect_request("/api/v2/alerts").respond_with_data("", 200)
    config = write(tmp_path, "receivers.toml", f"""
[receivers.hook]
url = "{httpserver.url_for('/hook')}"
[receivers.hook.options]
bearer_token = "{SECRET}"

[receivers.am]
kind = "alertmanager"
url = "alertmanager://127.0.0.1:{httpserver.port}"
""")
    code, out, err = cli(config)
    assert (code, err) == (0, ""), out
    assert out.count("delivered (HTTP 200)") == 4 and SECRET not in out
    assert "hook: WebhookNotifier(" in out and "am: AlertmanagerNotifier(" in out
    paths = [req.path for req, _ in httpserver.log]
    assert paths == ["/hook", "/hook", "/api/v2/alerts", "/api/v2/alerts"]
    assert httpserver.log[0][0].headers["Authorization"] == f"Bearer {SECRET}"
    forwarded = json.loads(httpserver.log[3][0].get_data())
    assert forwarded[0]["labels"]["alertname"] == "AlertkitNotifyTest"


def test_yaml_and_json_files_and_receiver_choice(httpserver: HTTPServer,
                                                 tmp_path: Path) -> None:
    httpserver.expect_request("/a").respond_with_data("", 200)
    yml = write(tmp_path, "r.yaml", f"receivers:\n  a:\n    url: {httpserver.url_for('/a')}\n"
                                    f"  b:\n    url: {httpserver.url_for('/b')}\n")
    code, out, _ = cli(yml, "--receiver", "a")
    assert code == 0 and "b:" not in out
    assert {req.path for req, _ in httpserver.log} == {"/a"}
    js = write(tmp_path, "r.json", json.dumps({"receivers": {"c": {"url": "console://"}}}))
    code, out, _ = cli(js, "--no-resolved")
    assert code == 0 and "c: ConsoleSender(json=False)" in out


@pytest.mark.parametrize(("name", "text", "extra", "message"), [
    ("r.toml", "receivers = [", (), "not valid TOML"),
    ("r.yaml", "receivers: [a", (), "not valid YAML"),
    ("r.ini", "", (), "unknown file type"),
    ("r.toml", "x = 1", (), "expected a 'receivers' table"),
    ("r.toml", "[receivers]", (), "the table is empty"),
    ("r.toml", "[receivers.a]\nurl = 5", (), "receivers.a.url: missing or not a string"),
    ("r.toml", "[receivers.a]\nurl = 'x://y'\ncolour = 1", (), "unknown key(s) colour"),
    ("r.toml", "[receivers.a]\nurl = 'nope://y'", (), "unknown notifier URL scheme 'nope'"),
    ("r.toml", "[receivers.a]\nurl = 'http://h'\nkind = 'smoke'", (), "unknown notifier kind"),
    ("r.toml", "[receivers.a]\nurl = 'http://h'\nkind = 3", (), "receivers.a.kind"),
    ("r.toml", "[receivers.a]\nurl = 'http://h'\noptions = 3", (), "receivers.a.options"),
    ("r.toml", "[receivers.a]\nurl = 'http://h'\n[receivers.a.options]\nbad = 1", (),
     "unexpected keyword argument 'bad'"),
    ("r.toml", "[receivers.a]\nurl = 'http://h'", ("--receiver", "zz"), "no receiver named zz"),
    ("r.toml", "[receivers.a]\nurl = 'http://h'", ("-o", "a=1"), "--option is for a URL"),
])
def test_bad_files_exit_2(tmp_path: Path, name: str, text: str, extra: tuple[str, ...],
                          message: str) -> None:
    code, out, err = cli(write(tmp_path, name, text), *extra)
    assert code == 2 and out == ""
    assert err.startswith("alertkit notify-test: ") and message in err


@pytest.mark.parametrize(("argv", "message"), [
    (("missing.toml",), "no such file, and not a notifier URL"),
    ((f"https://u:{SECRET}@h.example/x", "--receiver", "a"), "--receiver is for a receivers"),
    ((f"https://u:{SECRET}@h.example/x", "-o", "nokey"), "expected KEY=VALUE"),
    ((f"https://u:{SECRET}@h.example/x", "-o", "colour=red"), "unexpected keyword"),
    ((f"nosuch://u:{SECRET}@h.example/x",), "unknown notifier URL scheme"),
    (("console://", "--timeout", "0"), "--timeout must be a positive"),
])
def test_bad_arguments_exit_2(argv: tuple[str, ...], message: str) -> None:
    code, _, err = cli(*argv)
    assert code == 2 and message in err and SECRET not in err


def test_sample_notifications() -> None:
    firing, resolved = notify_test.sample_notifications(1_700_000_000.0, receiver="r")
    assert firing.status == "firing" and resolved.status == "resolved"
    assert firing.group_key == resolved.group_key == "r/notify-test"
    assert firing.idempotency_key != resolved.idempotency_key
    assert resolved.resolved[0].resolved_at == 1_700_000_001.0
