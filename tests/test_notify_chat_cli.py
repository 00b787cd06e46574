"""The chat channels by URL: registered by ``alertkit.notify.channels``, driven by notify-test."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys

from pytest_httpserver import HTTPServer

from alertkit.cli import notify_test

TOKEN = "xoxb-42-43-cliS3cretToken"
KEY = "mmS3cretHookKey0000"


def cli(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="alertkit")
    notify_test.register(parser.add_subparsers())
    args = parser.parse_args(["notify-test", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_importing_channels_registers_every_chat_scheme() -> None:
    code = ("import alertkit.notify.channels\n"
            "from alertkit.notify.registry import default_registry as r\n"
            "print(' '.join(r.schemes()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    for scheme in ("slack", "discord", "teams", "teams+http", "gchat", "googlechat",
                   "mattermost", "mattermost+http"):
        assert scheme in out


def test_notify_test_threads_the_slack_resolution(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/api/chat.postMessage").respond_with_json(
        {"ok": True, "channel": "C0CLI", "ts": "1700000000.000001"})
    httpserver.expect_ordered_request("/api/chat.postMessage").respond_with_json(
        {"ok": True, "channel": "C0CLI", "ts": "1700000001.000002"})
    code, out, err = cli(f"slack://{TOKEN}/%23alerts", "-o",
                         f"api_url={httpserver.url_for('/api')}")
    assert (code, err) == (0, ""), out
    assert TOKEN not in out
    first, second = (json.loads(req.get_data()) for req, _ in httpserver.log)
    assert first["channel"] == "#alerts" and "thread_ts" not in first
    assert second["channel"] == "C0CLI" and second["thread_ts"] == "1700000000.000001"
    assert second["attachments"][0]["color"] == "#2eb886"


def test_notify_test_to_mattermost_over_plain_http(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/hooks/{KEY}").respond_with_data("ok")
    code, out, err = cli(f"mattermost+http://127.0.0.1:{httpserver.port}/{KEY}?channel=ops")
    assert (code, err) == (0, ""), out
    assert KEY not in out
    bodies = [json.loads(req.get_data()) for req, _ in httpserver.log]
    assert [b["channel"] for b in bodies] == ["ops", "ops"]
    assert [b["attachments"][0]["title"].split("]")[0] for b in bodies] == [
        "[FIRING:1", "[RESOLVED"]


def test_notify_test_reports_a_slack_failure(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": False, "error": "not_in_channel"})
    code, out, _ = cli(f"slack://{TOKEN}/C0CLI", "-o", f"api_url={httpserver.url_for('/api')}")
    assert code == 1
    assert "Slack API error: not_in_channel" in out and TOKEN not in out
