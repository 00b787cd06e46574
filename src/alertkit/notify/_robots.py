"""What the chat-robot channels share: titles, alert lines, byte budgets, JSON answers.

Telegram, DingTalk, WeCom and Feishu answer HTTP 200 for most errors and put
the verdict in the JSON body, each with its own field names and codes;
:func:`classify_json` turns such an answer into a delivery result given a
function that extracts ``(code, message, retry_after)`` from the body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs
import httpx

from alertkit._core.model import Alert
from alertkit._core.templates import format_value
from alertkit._dispatch.notification import Delivered, DeliveryResult, Failed, Notification, Retry
from alertkit._errors import NotifierConfigError

from ._channel import alert_lines, fit_text, retry_at
from .http import RETRYABLE_STATUS
from .redact import redact_url
from .templates import NotificationTemplates

__all__ = [
    "BodyError",
    "check_api_url",
    "check_text",
    "classify_json",
    "errcode_error",
    "fit_bytes",
    "labels_text",
    "lines_within",
    "make_config",
    "parse_bool",
    "reject_unknown",
    "rendered",
    "split_robot_url",
    "value_text",
]

_DEFAULTS = NotificationTemplates()
T = TypeVar("T")

BodyError = tuple[object, str, object]
"""``(code, message, retry_after)`` of an error answer; ``retry_after`` may be ``None``."""


def rendered(n: Notification, key: str, fmt: str = "plain") -> str:
    """``n.texts[key]``, or the default template's text when the runtime rendered none.

    Notifications built by hand (tests, ``notify-test``) carry no texts;
    the default templates give them the same text the runtime would.
    """
    text = n.texts.get(key)
    if text is not None:
        return text
    texts, _ = _DEFAULTS.render(n, (fmt,))
    return texts.get(key, "")


def labels_text(labels: Mapping[str, str], *, skip: tuple[str, ...] = ("alertname",)) -> str:
    """``{host="web1", job="api"}`` (without ``alertname``, which the rule name shows)."""
    items = [f'{k}="{v}"' for k, v in sorted(labels.items()) if k not in skip]
    return "{" + ", ".join(items) + "}" if items else ""


def value_text(alert: Alert) -> str:
    """The alert's value as Prometheus prints ``$value``."""
    return format_value(alert.value)


def fit_bytes(build: Callable[[int], str], limit: int, *, encoding: str = "utf-8",
              size: Callable[[str], int] | None = None) -> str:
    """``build(max_chars)`` for the largest ``max_chars`` whose text fits ``limit`` bytes.

    ``build`` is typically an :func:`~alertkit.notify._channel.alert_lines`
    call: lines are counted in characters, limits like WeCom's in bytes of
    UTF-8. A binary search over the character budget keeps whole alert
    lines and the "… and N more" note intact. ``size`` measures a text
    another way (e.g. as it will be JSON-encoded); by default its length in
    ``encoding``.
    """
    measure = size if size is not None else (lambda t: len(t.encode(encoding)))
    text = fit_text(build, limit, measure)
    return text if text is not None else build(0)


def errcode_error(body: dict[str, Any]) -> BodyError | None:
    """The ``{"errcode", "errmsg"}`` answer of DingTalk's and WeCom's robots: ``None`` if ok."""
    code = body.get("errcode")
    if code == 0:
        return None
    return code, str(body.get("errmsg", "")), None


def lines_within(
    n: Notification, render: Callable[[Alert, str], str], *, max_bytes: int, separator: str,
    encoding: str = "utf-8", size: Callable[[str], int] | None = None,
) -> str:
    """Alert blocks that fit ``max_bytes`` in ``encoding``, then the count of those left out."""
    return fit_bytes(
        lambda chars: alert_lines(n, render, max_chars=chars, separator=separator), max_bytes,
        encoding=encoding, size=size,
    )


def check_api_url(value: object, service: str) -> str:
    """An ``http(s)://host[:port][/prefix]`` base URL without its trailing slash."""
    if not isinstance(value, str):
        raise NotifierConfigError(f"{service} api_url must be a string, got {type(value).__name__}")
    shown = redact_url(value)
    if any(c in value for c in "\r\n\t\0 ?#"):
        raise NotifierConfigError(
            f"{service} api_url {shown} must be a plain base URL (no spaces, query or fragment)"
        )
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise NotifierConfigError(f"{service} api_url {shown} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotifierConfigError(f"{service} api_url {shown} must be an http(s) URL with a host")
    return value.rstrip("/")


def check_text(value: object, what: str, service: str, *, pattern: str = "") -> str:
    """A non-empty string without whitespace or control characters (tokens, keys, ids)."""
    if not isinstance(value, str) or not value:
        raise NotifierConfigError(f"{service} {what} must be a non-empty string")
    if any(c.isspace() or ord(c) < 32 or c in "/?#&" for c in value):
        raise NotifierConfigError(
            f"{service} {what} must not contain spaces, control characters or / ? # &"
        )
    return value


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except Exception:  # not JSON (a proxy's error page...)
        return None
    return body if isinstance(body, dict) else None


def classify_json(
    response: httpx.Response,
    now: float,
    *,
    service: str,
    error_of: Callable[[dict[str, Any]], BodyError | None],
    retry_codes: Mapping[object, float | None],
    scrub: Callable[[str], str],
) -> DeliveryResult:
    """Classify an answer whose JSON body decides.

    - a retryable HTTP status (408, 429, 5xx of the common rule) → Retry, at
      the body's retry hint or ``Retry-After``;
    - a 2xx whose body ``error_of`` finds no error in → Delivered;
    - an error code in ``retry_codes`` → Retry, after the service's hint or
      the given delay (seconds; ``None`` leaves it to the backoff);
    - anything else → Failed, with the service's code and message (scrubbed).
    """
    status = response.status_code
    body = json_object(response)
    error = error_of(body) if body is not None else None
    if body is None:
        text = scrub(" ".join(response.text.split())[:200]) if response.content else ""
        detail = f": {text}" if text else ""
    elif error is not None:
        detail = f": {scrub(f'{service} error {error[0]}: {error[1]}'.strip())[:300]}"
    else:
        detail = ""
    hint = retry_at(error[2], now) if error is not None else None
    if status in RETRYABLE_STATUS or (status >= 500):
        header = response.headers.get("retry-after")
        when = hint if hint is not None else retry_at(header, now) if header else None
        reason = f"HTTP {status}{detail}"
        if status in RETRYABLE_STATUS:
            return Retry(reason, status_code=status, retry_at=when)
        return Failed(reason, status_code=status)
    if not 200 <= status < 300:
        return Failed(f"HTTP {status}{detail}", status_code=status)
    if body is None:
        return Failed(f"HTTP {status}: the answer is not a {service} JSON object{detail}",
                      status_code=status)
    if error is None:
        return Delivered(status_code=status)
    code = error[0]
    if isinstance(code, int | str) and not isinstance(code, bool) and code in retry_codes:
        if hint is None and retry_codes[code] is not None:
            hint = now + float(retry_codes[code] or 0.0)
        return Retry(f"{service} rate limit{detail}", status_code=status, retry_at=hint)
    return Failed(f"HTTP {status}{detail}", status_code=status)


_TRUE = {"yes", "true", "on", "1"}
_FALSE = {"no", "false", "off", "0"}


def parse_bool(value: str, name: str, service: str) -> bool:
    """A URL query flag: ``yes``/``no``, ``true``/``false``, ``on``/``off``, ``1``/``0``."""
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise NotifierConfigError(f"{service} URL option {name}={value!r} is not yes/no")


def split_robot_url(
    url: object, schemes: tuple[str, ...], service: str
) -> tuple[str, str | None, list[str], dict[str, str]]:
    """``scheme://[userinfo@]seg/seg…[?k=v&…]`` → ``(scheme, userinfo, segments, options)``.

    Parsed by hand rather than with :func:`urllib.parse.urlsplit`, whose
    host and port rules reject tokens such as Telegram's ``123:ABC``.
    Errors show the scheme only: the rest of such a URL is the credential.
    """
    if not isinstance(url, str):
        raise NotifierConfigError(f"a {service} URL must be a string, got {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in schemes:
        raise NotifierConfigError(
            f"a {service} URL must start with {' or '.join(s + '://' for s in schemes)}"
        )
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise NotifierConfigError(f"{scheme}://*** URL contains whitespace or control characters")
    if "#" in rest:
        raise NotifierConfigError(f"{scheme}://*** URL must not have a #fragment")
    rest, _, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    location = host + slash + path
    segments = [unquote(s) for s in location.split("/") if s]
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in options:
            raise NotifierConfigError(f"{scheme}://*** URL option {key!r} is given twice")
        options[key] = value
    return scheme, (unquote(userinfo) if at else None), segments, options


def reject_unknown(options: Mapping[str, str], known: tuple[str, ...], scheme: str) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise NotifierConfigError(
            f"{scheme}://*** URL: unknown option(s) {', '.join(unknown)} "
            f"(known: {', '.join(known) or 'none'})"
        )


def make_config(cls: type[T], fields: Mapping[str, Any], service: str) -> T:
    """``cls(**fields)``, with a :class:`~alertkit.NotifierConfigError` for an unknown field."""
    known = [f.name for f in attrs.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise NotifierConfigError(
            f"{service}: unknown option(s) {', '.join(unknown)} (known: {', '.join(known)})"
        )
    return cls(**fields)
