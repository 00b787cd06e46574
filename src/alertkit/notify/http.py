"""HTTP answers to delivery results: the common retry rule of every HTTP notifier."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import httpx

from alertkit._dispatch.notification import Delivered, DeliveryResult, Failed, Retry
from alertkit._dispatch.retry import parse_retry_after

__all__ = ["RETRYABLE_STATUS", "USER_AGENT", "classify_http_status", "post_request", "url_of"]

USER_AGENT = "alertkit"
"""The ``User-Agent`` of requests built by :func:`post_request`."""


@functools.lru_cache(maxsize=1024)
def url_of(url: str) -> httpx.URL:
    """``httpx.URL(url)``, parsed once per distinct URL (notifiers post to a few URLs often)."""
    return httpx.URL(url)


@functools.lru_cache(maxsize=64)
def _timeout(seconds: float) -> dict[str, float | None]:
    return httpx.Timeout(seconds).as_dict()


def post_request(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float
                 ) -> httpx.Request:
    """A POST ready for ``AsyncClient.send``: exactly these headers (plus ``Host``,
    ``Content-Length`` and ``User-Agent``), none of the client's defaults or cookies.

    Building the request directly skips the client's URL and header merging, which
    costs more than the rest of a small request on a fast transport.
    """
    return httpx.Request(
        "POST", url_of(url), content=body,
        headers={"user-agent": USER_AGENT, **headers},
        extensions={"timeout": _timeout(float(timeout))},
    )

#: Statuses that a later attempt may turn into a success (the common retry rule).
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def classify_http_status(
    status_code: int, headers: Mapping[str, str] | None = None, *, now: float, detail: str = ""
) -> DeliveryResult:
    """Apply the common retry rule to an HTTP status.

    2xx → :class:`Delivered`; 408, 429, 500, 502, 503, 504 → :class:`Retry`
    (at ``Retry-After`` if the response has one); any other status (other
    4xx, 3xx: redirects are not followed, since a webhook that moved is a
    configuration error, and other 5xx) → :class:`Failed`. ``detail`` is
    appended to the reason; it must hold no secret.

    >>> classify_http_status(503, {"Retry-After": "30"}, now=1000.0)
    Retry(reason='HTTP 503', status_code=503, retry_at=1030.0)
    >>> classify_http_status(404, now=0.0)
    Failed(reason='HTTP 404', status_code=404)
    """
    suffix = f": {detail}" if detail else ""
    if 200 <= status_code < 300:
        return Delivered(status_code=status_code, detail=detail)
    if status_code in RETRYABLE_STATUS:
        retry_after = None
        if headers is not None:
            value = headers.get("retry-after")
            if value is None:
                value = headers.get("Retry-After")
            retry_after = parse_retry_after(value, now=now)
        return Retry(f"HTTP {status_code}{suffix}", status_code=status_code, retry_at=retry_after)
    return Failed(f"HTTP {status_code}{suffix}", status_code=status_code)
