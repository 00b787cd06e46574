"""What the chat channels (Slack, Discord, Teams, Google Chat, Mattermost) share.

URL checks for webhook URLs, config validators that raise
:class:`~alertkit.NotifierConfigError` without quoting secrets, the texts of a
notification (rendered by the runtime, or by the default templates when a
notification arrives without them) and one-line renderings of an alert in
each chat dialect, for the per-alert layout used when a body does not fit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from alertkit._core.model import Alert, Severity
from alertkit._core.templates import format_value
from alertkit._dispatch.notification import Notification
from alertkit._errors import NotifierConfigError

from ._channel import alert_lines
from .redact import redact_url
from .templates import NotificationTemplates, severity_emoji, text_key

__all__ = [
    "Renderer",
    "body_text",
    "check_bool",
    "check_http_url",
    "check_optional_text",
    "check_positive",
    "group_token",
    "markdown_escape",
    "markdown_line",
    "parse_flag",
    "query_options",
    "slack_escape",
    "slack_line",
    "split_url",
    "title_text",
    "url_parts",
    "worst",
]

Renderer = Callable[[Alert, str], str]
"""``render(alert, status) -> str``: one alert as text (status ``firing`` / ``resolved``)."""

_DEFAULT_TEMPLATES = NotificationTemplates()


def check_http_url(url: object, what: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host; the error never quotes it whole."""
    if not isinstance(url, str):
        raise NotifierConfigError(f"{what} must be a string, got {type(url).__name__}")
    shown = redact_url(url)
    if not url or any(c in url for c in "\r\n\t\0 "):
        raise NotifierConfigError(f"{what} {shown} is empty or contains whitespace")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        raise NotifierConfigError(f"{what} {shown} is not valid: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise NotifierConfigError(f"{what} {shown} must start with https:// or http://")
    if not host:
        raise NotifierConfigError(f"{what} {shown} has no host")
    if parts.fragment:
        raise NotifierConfigError(f"{what} {shown} must not have a #fragment")
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise NotifierConfigError(f"{what} {shown} is not valid") from None
    return url


def check_optional_text(value: object, what: str, *, max_len: int = 1_000) -> None:
    """``None`` or a non-empty one-line string of at most ``max_len`` characters."""
    if value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise NotifierConfigError(f"{what} must be a non-empty string, got {value!r:.40}")
    if any(c in value for c in "\r\n\0"):
        raise NotifierConfigError(f"{what} must be one line")
    if len(value) > max_len:
        raise NotifierConfigError(f"{what} is longer than {max_len} characters")


def check_positive(value: object, what: str) -> None:
    """A positive ``int`` (not a bool)."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise NotifierConfigError(f"{what} must be a positive integer, got {value!r:.40}")


def check_bool(value: object, what: str) -> None:
    if not isinstance(value, bool):
        raise NotifierConfigError(f"{what} must be True or False, got {value!r:.40}")


def split_url(url: object, schemes: tuple[str, ...], what: str) -> tuple[str, str, str]:
    """``(scheme, rest, query)`` of a channel URL such as ``slack://T/B/X?username=bot``.

    The part after ``://`` is split by hand (not by :func:`urllib.parse.urlsplit`)
    so that ``#channel`` stays a part of it, as users write it.
    """
    if not isinstance(url, str):
        raise NotifierConfigError(f"{what} URL must be a string, got {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in schemes:
        raise NotifierConfigError(
            f"{what} URL {redact_url(url)} must start with "
            f"{' or '.join(s + '://' for s in schemes)}"
        )
    if any(c in url for c in "\r\n\t\0 "):
        raise NotifierConfigError(f"{what} URL {redact_url(url)} contains whitespace")
    rest, _, query = rest.partition("?")
    return scheme.lower(), rest, query


def url_parts(rest: str) -> list[str]:
    """The non-empty ``/``-separated parts of a channel URL, percent-decoded."""
    return [unquote(p) for p in rest.split("/") if p]


def query_options(query: str, allowed: tuple[str, ...], what: str) -> dict[str, str]:
    """The ``?name=value`` options of a channel URL, each known and given once."""
    options: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in allowed:
            raise NotifierConfigError(
                f"{what} URL option {name!r} is unknown (known: {', '.join(allowed)})"
            )
        if name in options:
            raise NotifierConfigError(f"{what} URL option {name!r} is given twice")
        options[name] = value
    return options


def parse_flag(value: str, what: str) -> bool:
    """A yes/no URL option."""
    flag = value.lower()
    if flag not in ("yes", "no", "true", "false", "1", "0", "on", "off"):
        raise NotifierConfigError(f"{what} must be yes or no, got {value!r:.20}")
    return flag in ("yes", "true", "1", "on")


def title_text(n: Notification) -> str:
    """The rendered title, or the default template's when the runtime rendered none."""
    title = n.texts.get("title")
    if title is None:
        texts, _ = _DEFAULT_TEMPLATES.render(n, ())
        title = texts["title"]
    return title


def rendered_body(n: Notification, fmt: str) -> str:
    """The rendered body in ``fmt``, or the default template's."""
    key = text_key("body", fmt)
    body = n.texts.get(key)
    if body is None:
        texts, _ = _DEFAULT_TEMPLATES.render(n, (fmt,))
        body = texts[key]
    return body


def body_text(n: Notification, fmt: str, limit: int, render: Renderer, *,
              separator: str = "\n") -> str:
    """The rendered body in ``fmt`` if it fits in ``limit`` characters, else one line per alert.

    The per-alert layout (:func:`~alertkit.notify._channel.alert_lines`)
    ends with "… and N more alert(s) not shown" when alerts had to be left
    out, so a reader always learns how many alerts the message does not show.
    """
    body = rendered_body(n, fmt)
    if len(body) <= limit:
        return body
    return alert_lines(n, render, max_chars=limit, separator=separator)


def group_token(group_key: str) -> str:
    """A short stable token for a group key (thread keys): 32 hex digits."""
    return hashlib.blake2b(group_key.encode(), digest_size=16).hexdigest()


def _labels(alert: Alert) -> str:
    return ", ".join(f"{k}={v}" for k, v in alert.labels.items() if k != "alertname")


def _summary(alert: Alert) -> str:
    text = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    return " ".join(text.split())


def slack_escape(text: str) -> str:
    """Slack mrkdwn: only ``&``, ``<`` and ``>`` are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_~|<>[]()#"})


def markdown_escape(text: str) -> str:
    """Escape the characters that start Markdown formatting (Discord, Mattermost, Teams)."""
    return text.translate(_MD_SPECIAL)


def _status_mark(alert: Alert, status: str) -> str:
    return severity_emoji(alert.severity) if status == "firing" else "✅"


def slack_line(alert: Alert, status: str) -> str:
    """One alert in Slack mrkdwn (also Google Chat's text formatting)."""
    head = (f"{_status_mark(alert, status)} *{status.upper()}* "
            f"`{slack_escape(alert.rule)}` {slack_escape(_labels(alert))}").rstrip()
    if status == "firing":
        head += f" (value {format_value(alert.value)})"
    summary = _summary(alert)
    return f"{head}\n> {slack_escape(summary)}" if summary else head


def markdown_line(alert: Alert, status: str) -> str:
    """One alert in Markdown (Discord, Mattermost, Teams text blocks)."""
    head = (f"{_status_mark(alert, status)} **{status.upper()}** "
            f"{markdown_escape(alert.rule)} {markdown_escape(_labels(alert))}").rstrip()
    if status == "firing":
        head += f" (value {format_value(alert.value)})"
    summary = _summary(alert)
    return f"{head}\n> {markdown_escape(summary)}" if summary else head


def worst(n: Notification) -> Severity | None:
    """The highest severity of the firing alerts; ``None`` when nothing fires (resolved)."""
    return max((a.severity for a in n.firing), default=None)
