"""What every built-in channel shares: posting, answer classification, limits, severity.

A channel module (``slack.py``, ``pagerduty.py``...) holds a typed config
(an attrs frozen class whose secret fields have ``repr=False``), a notifier
class built from that config or from a URL string, and its registration in
:data:`~alertkit.notify.registry.default_registry`. The notifier subclasses
:class:`HttpChannel` for the plumbing below, so every channel maps transport
errors, timeouts and HTTP statuses the same way and keeps its secrets out of
results.
"""

from __future__ import annotations

import base64
import json as _json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from alertkit._core.model import Alert, Severity
from alertkit._dispatch.notification import DeliveryResult, Notification, Retry
from alertkit._dispatch.retry import parse_retry_after

from .http import classify_http_status, url_of
from .redact import Redactor
from .sender import DeliveryContext

__all__ = [
    "TRUNCATION_MARKER",
    "HttpChannel",
    "alert_lines",
    "fit_text",
    "highest_severity",
    "retry_at",
    "truncate",
    "truncate_bytes",
]

TRUNCATION_MARKER = "…(truncated)"
_DETAIL_LIMIT = 200

Classifier = Callable[[httpx.Response, float], DeliveryResult]
"""``classify(response, now) -> DeliveryResult`` for services whose body decides."""


def truncate(text: str, limit: int, *, marker: str = TRUNCATION_MARKER) -> str:
    """``text`` cut to at most ``limit`` characters, ending with ``marker`` if cut.

    >>> truncate("abcdefghij", 8, marker="…")
    'abcdefg…'
    >>> truncate("short", 8)
    'short'
    """
    if len(text) <= limit:
        return text
    if limit <= len(marker):
        return marker[:limit]
    return text[: limit - len(marker)] + marker


def truncate_bytes(text: str, limit: int, *, marker: str = TRUNCATION_MARKER,
                   encoding: str = "utf-8") -> str:
    """``text`` cut so that its encoding is at most ``limit`` bytes (never mid-character).

    >>> truncate_bytes("ääää", 6, marker="…")
    'ä…'
    """
    if len(text.encode(encoding)) <= limit:
        return text
    room = limit - len(marker.encode(encoding))
    if room <= 0:
        return ""
    cut = text.encode(encoding)[:room].decode(encoding, errors="ignore")
    return cut + marker


def fit_text(build: Callable[[int], str], limit: int, size: Callable[[str], int]
             ) -> str | None:
    """``build(max_chars)`` for the largest ``max_chars`` ≤ ``limit`` with ``size(text) <= limit``.

    For sizes that grow with the character budget (bytes of UTF-8, escaped or
    JSON-encoded length): a binary search, one call in the usual case where
    everything fits. ``None`` if not even ``build(1)`` fits.
    """
    text = build(limit)
    if size(text) <= limit:
        return text
    lo, hi = 0, limit  # build(hi) does not fit
    best: str | None = None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        text = build(mid)
        if size(text) <= limit:
            lo, best = mid, text
        else:
            hi = mid
    return best


def highest_severity(n: Notification) -> Severity | None:
    """The highest severity among the firing alerts (or the resolved ones if none fire)."""
    alerts = n.firing or n.resolved
    return max((a.severity for a in alerts), default=None)


def alert_lines(
    n: Notification,
    render: Callable[[Alert, str], str],
    *,
    max_chars: int,
    separator: str = "\n",
    more: Callable[[int], str] = lambda k: f"… and {k} more alert(s) not shown",
) -> str:
    """One line (or block) per alert, as many as fit in ``max_chars``, then a count of the rest.

    ``render(alert, status)`` gives an alert's text (status ``"firing"`` or
    ``"resolved"``). Alerts the dispatcher already left out
    (``n.truncated``) are counted with the ones that did not fit, so the
    reader always sees how many alerts the message does not show.
    """
    pieces: list[str] = []
    alerts = [(a, "firing") for a in n.firing] + [(a, "resolved") for a in n.resolved]
    used = 0
    for index, (alert, status) in enumerate(alerts):
        text = render(alert, status)
        left = len(alerts) - index - 1 + n.truncated
        tail = (len(separator) + len(more(left))) if left else 0
        cost = len(text) + (len(separator) if pieces else 0)
        if used + cost + tail > max_chars:
            rest = len(alerts) - index + n.truncated
            note = more(rest)
            if not pieces and len(note) > max_chars:
                return truncate(note, max_chars)
            return separator.join([*pieces, note])
        pieces.append(text)
        used += cost
    if n.truncated:
        pieces.append(more(n.truncated))
    return separator.join(pieces)


def retry_at(value: object, now: float) -> float | None:
    """A retry time from a body field (seconds, int or float) or a Retry-After header value."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return now + float(value) if math.isfinite(value) and value >= 0 else None
    if isinstance(value, str):
        return parse_retry_after(value, now=now)
    return None


class HttpChannel:
    """Base class of the built-in HTTP channels.

    Subclasses give their secrets to ``__init__`` (so results and logs are
    scrubbed of them) and call :meth:`post`. ``formats`` names the body
    formats the runtime renders into ``notification.texts`` for them.
    """

    kind = "http"
    formats: tuple[str, ...] = ("plain",)

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._redactor = Redactor(secrets)

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this channel masked."""
        return self._redactor.scrub(text)

    def detail(self, response: httpx.Response) -> str:
        """A short, secret-free excerpt of a response body for a delivery reason."""
        try:
            text = response.text
        except Exception:  # undecodable body
            return ""
        return self.scrub(" ".join(text.split())[:_DETAIL_LIMIT])

    async def post(
        self,
        context: DeliveryContext,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        classify: Classifier | None = None,
    ) -> tuple[DeliveryResult, httpx.Response | None]:
        """POST and classify the answer: ``(result, response or None)``.

        Timeouts and connection errors give :class:`~alertkit.Retry`;
        otherwise ``classify(response, now)`` decides, by default the common
        retry rule (:func:`~alertkit.notify.http.classify_http_status`) with
        a scrubbed body excerpt as the detail of a failure.
        """
        request_headers = dict(headers or {})
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request_headers["authorization"] = f"Basic {token}"
        if json is not None:
            content = _json.dumps(json, separators=(",", ":"), ensure_ascii=False,
                                  allow_nan=False).encode()
            request_headers.setdefault("content-type", "application/json")
        try:
            response = await context.http.post(
                url_of(url), content=content, data=data, headers=request_headers,
                timeout=context.timeout,
            )
        except httpx.TimeoutException as exc:
            return Retry(f"timeout ({type(exc).__name__})"), None
        except httpx.TransportError as exc:
            message = self.scrub(str(exc)).strip()
            reason = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
            return Retry(reason), None
        if classify is not None:
            return classify(response, context.now), response
        detail = "" if response.is_success else self.detail(response)
        return classify_http_status(
            response.status_code, response.headers, now=context.now, detail=detail
        ), response
