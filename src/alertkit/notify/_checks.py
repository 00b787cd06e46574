"""Config checks, URL-form parsing and result merging shared by the paging channels.

PagerDuty, Opsgenie, Pushover, ntfy and Twilio validate their typed configs
with these helpers (every problem is a
:class:`~alertkit.NotifierConfigError` naming the channel and the field,
never quoting a secret), read their ``scheme://…?option=value`` URL forms
with :func:`parse_service_url`, and merge the answers of the several
requests one notification may need with :func:`combine`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs
import httpx

from alertkit._core.model import Alert
from alertkit._dispatch.notification import (
    Delivered,
    DeliveryResult,
    Failed,
    Notification,
    Retry,
)
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, fit_text, retry_at, truncate
from .redact import redact_url

__all__ = [
    "ServiceURL",
    "check_base_url",
    "check_choice",
    "check_int",
    "check_str",
    "check_strings",
    "check_token",
    "classify_json_error",
    "combine",
    "default_title",
    "error_text",
    "fit",
    "fit_bytes",
    "iso_utc",
    "json_number",
    "parse_bool",
    "parse_service_url",
    "summary_of",
    "to_int",
    "to_list",
    "url_options",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_base_url(channel: str, value: object, field: str = "base_url", *,
                   link: bool = False) -> str:
    """An ``http(s)://host[:port][/path]`` URL without a trailing slash.

    With ``link=True`` (a URL shown to people, not called): a query and a
    fragment are allowed and the URL is returned as given.
    """
    if not isinstance(value, str):
        raise NotifierConfigError(
            f"{channel}: {field} must be a string, got {type(value).__name__}"
        )
    shown = redact_url(value)
    if not value or any(c.isspace() or c == "\0" for c in value):
        raise NotifierConfigError(f"{channel}: {field} {shown} is empty or contains whitespace")
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise NotifierConfigError(f"{channel}: {field} {shown} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotifierConfigError(
            f"{channel}: {field} {shown} must be an http:// or https:// URL with a host"
        )
    if not link and (parts.query or parts.fragment or parts.username is not None):
        raise NotifierConfigError(
            f"{channel}: {field} {shown} must not hold credentials, a query or a fragment"
        )
    try:
        httpx.URL(value)
    except (httpx.InvalidURL, ValueError):
        raise NotifierConfigError(f"{channel}: {field} {shown} is not a valid URL") from None
    return value if link else value.rstrip("/")


def check_token(channel: str, field: str, value: object, *,
                pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
    """A secret: a non-empty string without whitespace (and matching ``pattern``).

    The message never quotes the value.
    """
    if not isinstance(value, str):
        raise NotifierConfigError(
            f"{channel}: {field} must be a string, got {type(value).__name__}"
        )
    if not value or any(c.isspace() or _CONTROL.match(c) for c in value):
        raise NotifierConfigError(f"{channel}: {field} must be a non-empty token without spaces")
    if pattern is not None and not pattern.fullmatch(value):
        raise NotifierConfigError(f"{channel}: {field} is not valid{f' ({hint})' if hint else ''}")
    return value


def check_str(channel: str, field: str, value: object, *, max_len: int | None = None,
              allow_empty: bool = False, single_line: bool = True) -> str:
    """A plain (non-secret) string option."""
    if not isinstance(value, str):
        raise NotifierConfigError(
            f"{channel}: {field} must be a string, got {type(value).__name__}"
        )
    if not value and not allow_empty:
        raise NotifierConfigError(f"{channel}: {field} must not be empty")
    if single_line and _CONTROL.search(value):
        raise NotifierConfigError(f"{channel}: {field} must not contain control characters")
    if max_len is not None and len(value) > max_len:
        raise NotifierConfigError(
            f"{channel}: {field} is {len(value)} characters long (at most {max_len})"
        )
    return value


def check_strings(channel: str, field: str, values: object, *, max_len: int | None = None,
                  pattern: re.Pattern[str] | None = None, hint: str = "") -> tuple[str, ...]:
    """A tuple of plain strings (a lone string is refused: it is not a list of one)."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise NotifierConfigError(
            f"{channel}: {field} must be a list of strings, got {type(values).__name__}"
        )
    out = tuple(values)
    for item in out:
        check_str(channel, f"{field} item", item, max_len=max_len)
        if pattern is not None and not pattern.fullmatch(item):
            raise NotifierConfigError(
                f"{channel}: {field} item {item!r} is not valid{f' ({hint})' if hint else ''}"
            )
    return out


def check_int(channel: str, field: str, value: object, lo: int, hi: int) -> int:
    """An integer in ``[lo, hi]`` (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotifierConfigError(
            f"{channel}: {field} must be an integer, got {type(value).__name__}"
        )
    if not lo <= value <= hi:
        raise NotifierConfigError(f"{channel}: {field} is {value}, must be in [{lo}, {hi}]")
    return value


def check_choice(channel: str, field: str, value: object, choices: Iterable[str]) -> str:
    options = list(choices)
    if value not in options:
        raise NotifierConfigError(
            f"{channel}: {field} {value!r} is not one of {', '.join(map(repr, options))}"
        )
    return str(value)


def parse_bool(channel: str, field: str, value: str) -> bool:
    """A URL query flag: ``yes/no``, ``true/false``, ``1/0``, ``on/off``."""
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise NotifierConfigError(f"{channel}: URL option {field}={value!r} is not a yes/no flag")


@attrs.frozen
class ServiceURL:
    """The parts of a ``scheme://user:password@host:port/a/b?x=1`` channel URL, unquoted."""

    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None
    path: tuple[str, ...]
    query: dict[str, str] = attrs.field(repr=False)


def parse_service_url(channel: str, url: object, schemes: Iterable[str]) -> ServiceURL:
    """Split a channel URL; errors show it redacted only (it carries the secrets)."""
    if not isinstance(url, str):
        raise NotifierConfigError(f"{channel} URL must be a string, got {type(url).__name__}")
    # Channel URLs keep tokens in the host position too (pagerduty://KEY): show the scheme only.
    scheme, sep, _ = url.partition("://")
    shown = f"{scheme[:20]}://***" if sep and scheme.isascii() and scheme.isprintable() else "***"
    if any(c.isspace() or c == "\0" for c in url):
        raise NotifierConfigError(f"{channel} URL {shown} contains whitespace")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise NotifierConfigError(f"{channel} URL {shown} is not valid") from None
    allowed = list(schemes)
    if parts.scheme.lower() not in allowed:
        raise NotifierConfigError(
            f"{channel} URL {shown}: scheme {parts.scheme!r} is not one of {', '.join(allowed)}"
        )
    # hostname is lower-cased by urllib; tokens in the host position keep their case.
    netloc = parts.netloc.rpartition("@")[2]
    host = netloc.rsplit(":", 1)[0] if port is not None else netloc
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key in query:
            raise NotifierConfigError(f"{channel} URL {shown}: option {key!r} is given twice")
        query[key] = value
    if parts.fragment:
        raise NotifierConfigError(f"{channel} URL {shown} must not have a #fragment")
    return ServiceURL(
        scheme=parts.scheme.lower(),
        user=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        host=unquote(host),
        port=port,
        path=tuple(unquote(p) for p in parts.path.split("/") if p),
        query=query,
    )


def url_options(channel: str, query: Mapping[str, str],
                converters: Mapping[str, Callable[[str], Any]]) -> dict[str, Any]:
    """Query options converted by name; an unknown name is an error listing the known ones."""
    options: dict[str, Any] = {}
    for key, value in query.items():
        convert = converters.get(key)
        if convert is None:
            raise NotifierConfigError(
                f"{channel} URL: unknown option {key!r} (known: {', '.join(sorted(converters))})"
            )
        options[key] = convert(value)
    return options


def to_int(channel: str, field: str) -> Callable[[str], int]:
    def convert(value: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise NotifierConfigError(
                f"{channel}: URL option {field}={value!r} is not an integer"
            ) from None
    return convert


def to_list(value: str) -> tuple[str, ...]:
    """``a,b,c`` → ``("a", "b", "c")`` (empty items dropped)."""
    return tuple(item for item in (v.strip() for v in value.split(",")) if item)


def combine(results: Sequence[tuple[str, DeliveryResult]], planned: int) -> DeliveryResult:
    """One result for a notification sent as several requests (labelled results, in order).

    Any :class:`~alertkit.Retry` makes the whole notification retried (the
    latest ``retry_at`` asked for wins); otherwise any
    :class:`~alertkit.Failed` fails it; otherwise it is delivered. Reasons
    name the request that caused them when ``planned`` (the number of
    requests the notification needed) is more than one.
    """
    if not results:
        return Delivered(detail="nothing to send")
    if planned == 1:
        return results[0][1]
    retries = [(label, r) for label, r in results if isinstance(r, Retry)]
    if retries:
        label, first = retries[0]
        times = [r.retry_at for _, r in retries if r.retry_at is not None]
        return Retry(f"{label}: {first.reason}", status_code=first.status_code,
                     retry_at=max(times) if times else None)
    failures = [(label, r) for label, r in results if isinstance(r, Failed)]
    if failures:
        reason = "; ".join(f"{label}: {r.reason}" for label, r in failures)
        return Failed(reason, status_code=failures[0][1].status_code)
    if len(results) == 1:
        return results[0][1]
    codes = [r.status_code for _, r in results if isinstance(r, Delivered)]
    return Delivered(status_code=codes[-1] if codes else None,
                     detail=f"{len(results)} requests accepted")


def json_number(value: float) -> float | str:
    """A float JSON can carry: NaN and infinities become their names."""
    return value if math.isfinite(value) else str(value)


def summary_of(alert: Alert) -> str:
    """``rule: summary annotation`` or ``rule label=value…`` for a one-line alert summary."""
    summary = alert.annotations.get("summary") or alert.annotations.get("description")
    if summary:
        return f"{alert.rule}: {' '.join(summary.split())}"
    labels = " ".join(f"{k}={v}" for k, v in alert.labels.items() if k != "alertname")
    return f"{alert.rule} {labels}".strip()


def iso_utc(ts: float) -> str:
    """``2023-11-14T22:13:20Z`` (milliseconds only when the time has a fraction)."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.isoformat(timespec="milliseconds" if ts % 1 else "seconds").replace("+00:00", "Z")


def error_text(body: object) -> str:
    """The human part of a JSON error body: ``message``/``error`` and an ``errors`` list/map."""
    if not isinstance(body, Mapping):
        return ""
    parts: list[str] = []
    for key in ("message", "error", "errorMessage"):
        value = body.get(key)
        if isinstance(value, str) and value:
            parts.append(value)
            break
    errors = body.get("errors")
    if isinstance(errors, list):
        parts += [str(e) for e in errors if isinstance(e, str | int | float)]
    elif isinstance(errors, Mapping):
        parts += [f"{k}: {v}" for k, v in errors.items()]
    return "; ".join(parts)


def classify_json_error(channel: HttpChannel, response: httpx.Response, now: float, *,
                        retry_429: bool = True) -> DeliveryResult:
    """2xx delivered; 408, 429 (unless ``retry_429`` is false) and 5xx retried at
    ``Retry-After``; other statuses failed. The reason quotes the service's
    JSON error text (``message``/``error`` + ``errors``), scrubbed of secrets.
    """
    status = response.status_code
    if 200 <= status < 300:
        return Delivered(status_code=status)
    try:
        detail = channel.scrub(error_text(response.json()))[:200]
    except ValueError:
        detail = ""
    detail = detail or channel.detail(response)
    reason = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    if status == 408 or (status == 429 and retry_429) or status >= 500:
        return Retry(reason, status_code=status,
                     retry_at=retry_at(response.headers.get("retry-after"), now))
    return Failed(reason, status_code=status)


def default_title(notification: Notification, limit: int) -> str:
    """The rendered ``title`` text, or ``[FIRING:2] RuleA RuleB``; one line, ≤ ``limit``."""
    title = notification.texts.get("title")
    if not title:
        rules = sorted({a.rule for a in notification.alerts})
        count = f":{len(notification.firing)}" if notification.firing else ""
        title = f"[{notification.status.upper()}{count}] {' '.join(rules)}"
    return truncate(" ".join(title.split()), limit)


def fit_bytes(build: Callable[[int], str], limit: int, encoding: str = "utf-8") -> str:
    """``build(max_chars)`` for the largest ``max_chars`` whose text encodes in ``limit`` bytes.

    ``build`` is typically an :func:`~alertkit.notify._channel.alert_lines`
    call, so the text still ends with the count of the alerts left out.
    Returns ``""`` if not even ``build(1)`` fits.
    """
    return fit(build, limit, lambda text: len(text.encode(encoding)))


def fit(build: Callable[[int], str], limit: int, size: Callable[[str], int]) -> str:
    """``build(max_chars)`` for the largest ``max_chars`` ≤ ``limit`` with ``size(text) <= limit``.

    For sizes that grow at least as fast as the character count (bytes,
    escaped length); ``""`` if nothing fits.
    """
    text = fit_text(build, limit, size)
    return text if text is not None else ""
