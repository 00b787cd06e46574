"""The helpers the chat-robot channels share: body-decided answers, byte budgets, URL parsing."""

from __future__ import annotations

import doctest
import importlib
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alertkit as ak
import alertkit.notify.dingtalk
import alertkit.notify.email
import alertkit.notify.feishu
import alertkit.notify.telegram
import alertkit.notify.wecom
from alertkit.notify._robots import classify_json, fit_bytes, split_robot_url
from alertkit.notify.registry import notifier_from_url

SECRET = "tok3n-S3CRET-value"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=3),
    max_leaves=8,
)


def _error_of(body: dict[str, Any]) -> tuple[object, str, object] | None:
    code = body.get("errcode")
    return None if code == 0 else (code, str(body.get("errmsg", "")), body.get("retry_after"))


@settings(max_examples=200, deadline=None)
@given(status=st.sampled_from([200, 201, 204, 302, 400, 401, 404, 408, 429, 500, 501, 503]),
       body=st.one_of(
           st.dictionaries(st.sampled_from(["errcode", "errmsg", "retry_after", "x"]),
                           json_values, max_size=4),
           json_values),
       echo=st.booleans())
def test_classify_json_never_raises_and_never_leaks(status: int, body: Any, echo: bool) -> None:
    if echo and isinstance(body, dict):
        body["errmsg"] = f"bad token {SECRET}"
    response = httpx.Response(status, content=json.dumps(body).encode())
    result = classify_json(response, 1000.0, service="svc", error_of=_error_of,
                           retry_codes={45009: 60.0}, scrub=lambda t: t.replace(SECRET, "***"))
    assert SECRET not in repr(result)
    ok = isinstance(body, dict) and body.get("errcode") == 0 and not isinstance(
        body.get("errcode"), bool)
    if isinstance(result, ak.Delivered):
        assert 200 <= status < 300 and isinstance(body, dict) and body.get("errcode") == 0
    elif 200 <= status < 300 and ok:
        pytest.fail(f"{result!r} for a success body")
    if status in (408, 429, 500, 503):
        assert isinstance(result, ak.Retry)
    if isinstance(result, ak.Retry) and result.retry_at is not None:
        assert result.retry_at >= 1000.0


def test_rate_limit_code_in_a_200_retries_after_the_given_delay() -> None:
    response = httpx.Response(200, json={"errcode": 45009, "errmsg": "freq"})
    result = classify_json(response, 50.0, service="svc", error_of=_error_of,
                           retry_codes={45009: 60.0}, scrub=str)
    assert result == ak.Retry("svc rate limit: svc error 45009: freq", status_code=200,
                              retry_at=110.0)


@settings(max_examples=100, deadline=None)
@given(words=st.lists(st.text(min_size=1, max_size=30), max_size=40),
       limit=st.integers(0, 400))
def test_fit_bytes_keeps_the_limit_and_takes_the_longest_fitting_text(
        words: list[str], limit: int) -> None:
    def build(chars: int) -> str:
        out = ""
        for word in words:
            if len(out) + len(word) > chars:
                break
            out += word
        return out

    text = fit_bytes(build, limit)
    assert len(text.encode()) <= limit
    longer = [build(c) for c in range(limit + 1) if len(build(c).encode()) <= limit]
    assert len(text) == max((len(t) for t in longer), default=0)


def test_split_robot_url() -> None:
    assert split_robot_url("Tgram://1:AB-c/%40chan/?x=1&y=", ("tgram",), "telegram") == (
        "tgram", None, ["1:AB-c", "@chan"], {"x": "1", "y": ""})
    assert split_robot_url("dingtalk://SEC%2Fx@tok", ("dingtalk",), "dingtalk") == (
        "dingtalk", "SEC/x", ["tok"], {})


@pytest.mark.parametrize(("url", "message"), [
    (42, "must be a string"),
    ("nothing", "must start with a://"),
    ("a://x\ty", "whitespace or control characters"),
])
def test_split_robot_url_rejects(url: Any, message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=message):
        split_robot_url(url, ("a",), "svc")


@pytest.mark.parametrize("name", ["telegram", "dingtalk", "wecom", "feishu", "email"])
def test_module_doctests(name: str) -> None:
    module = importlib.import_module(f"alertkit.notify.{name}")
    failed, attempted = doctest.testmod(module)
    assert attempted > 0 and failed == 0


@pytest.mark.parametrize("url", [
    "telegram://123:ABC/42",
    "dingtalk://token",
    "wecom://key",
    "feishu://token",
    "smtp://mail.example.com?from=a@example.com&to=b@example.com",
])
def test_an_unknown_keyword_option_is_a_config_error(url: str) -> None:
    notifier = notifier_from_url(url)  # the modules registered their schemes on import
    with pytest.raises(ak.NotifierConfigError, match=r"unknown option\(s\) colour \(known: "):
        type(notifier).from_url(url, colour="red")  # type: ignore[attr-defined]
    with pytest.raises(ak.NotifierConfigError, match="colour"):
        notifier_from_url(url, colour="red")
