"""The helpers the paging channels share: fitting texts, merging results, parsing URLs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alertkit as ak
from alertkit.notify._checks import (
    check_base_url,
    combine,
    fit,
    fit_bytes,
    parse_service_url,
)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300), st.integers(0, 400))
def test_fit_bytes_keeps_the_longest_prefix_that_fits(text: str, limit: int) -> None:
    got = fit_bytes(lambda chars: text[:chars], limit)
    assert len(got.encode()) <= limit and text.startswith(got)
    longer = text[: len(got) + 1]
    assert longer == got or len(longer.encode()) > limit


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="<&ab", max_size=200), st.integers(1, 300))
def test_fit_with_any_growing_size(text: str, limit: int) -> None:
    def size(t: str) -> int:
        return len(t) + 3 * (t.count("<") + t.count("&"))

    got = fit(lambda chars: text[:chars], limit, size)
    assert size(got) <= limit and text.startswith(got)
    longer = text[: len(got) + 1]
    assert longer == got or size(longer) > limit


results = st.one_of(
    st.builds(ak.Delivered, st.sampled_from([200, 201, 202])),
    st.builds(ak.Retry, st.just("r"), st.sampled_from([429, 503]),
              st.one_of(st.none(), st.floats(0, 1e6))),
    st.builds(ak.Failed, st.just("f"), st.sampled_from([400, 401])),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(results, min_size=1, max_size=6), st.integers(0, 3))
def test_combine(parts: list[ak.DeliveryResult], extra: int) -> None:
    labelled = [(f"#{i}", r) for i, r in enumerate(parts)]
    planned = len(parts) + extra
    merged = combine(labelled, planned)
    retries = [r for r in parts if isinstance(r, ak.Retry)]
    failures = [r for r in parts if isinstance(r, ak.Failed)]
    if planned == 1 or (len(parts) == 1 and isinstance(parts[0], ak.Delivered)):
        assert merged == parts[0]
    elif retries:
        assert isinstance(merged, ak.Retry)
        times = [r.retry_at for r in retries if r.retry_at is not None]
        assert merged.retry_at == (max(times) if times else None)
        assert merged.reason.startswith("#")
    elif failures:
        assert isinstance(merged, ak.Failed)
        assert merged.reason.count("#") == len(failures)
    else:
        assert merged == ak.Delivered(parts[-1].status_code,  # type: ignore[union-attr]
                                      detail=f"{len(parts)} requests accepted")


def test_combine_nothing() -> None:
    assert combine([], 0) == ak.Delivered(detail="nothing to send")


def test_parse_service_url_keeps_case_and_unquotes() -> None:
    parts = parse_service_url("x", "svc://Us%40er:p%3Aw@MiXeD.Token:8080/a%2Fb/c?k=v", ["svc"])
    assert (parts.user, parts.password, parts.host, parts.port, parts.path, parts.query) == (
        "Us@er", "p:w", "MiXeD.Token", 8080, ("a/b", "c"), {"k": "v"})


@pytest.mark.parametrize(("url", "match"), [
    (42, "must be a string"),
    ("svc://a b", "whitespace"),
    ("svc://host:99999", "not valid"),
    ("other://host", "scheme 'other'"),
])
def test_parse_service_url_errors(url: object, match: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=match):
        parse_service_url("x", url, ["svc"])


def test_parse_service_url_errors_show_the_scheme_only() -> None:
    # The host position holds the token in most channel URLs (pagerduty://KEY).
    with pytest.raises(ak.NotifierConfigError) as info:
        parse_service_url("x", "svc://S3cretToken#frag", ["svc"])
    assert str(info.value) == "x URL svc://*** must not have a #fragment"


@pytest.mark.parametrize(("value", "match"), [
    (None, "must be a string"),
    ("", "empty"),
    ("http://h:bad/", "not a valid URL"),
    ("http://user:pw@h/", "credentials"),
    ("http://[::1/", "not a valid URL"),
])
def test_check_base_url_errors(value: object, match: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=match) as info:
        check_base_url("x", value)
    assert "pw" not in str(info.value)


def test_check_base_url_strips_the_trailing_slash_and_keeps_links() -> None:
    assert check_base_url("x", "https://h.example/api/") == "https://h.example/api"
    assert check_base_url("x", "https://h.example/?a=1#f", link=True) == \
        "https://h.example/?a=1#f"
