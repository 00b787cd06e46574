"""ntfy: publish each notification to a topic on ntfy.sh or a self-hosted server.

Two ways to publish, both documented at https://docs.ntfy.sh/publish/:

- ``mode="json"`` (the default): POST the server's root URL with
  ``{"topic", "message", "title", "priority", "tags", "click"}``, UTF-8
  throughout;
- ``mode="headers"``: POST ``/<topic>`` with the message as the body and
  ``Title``, ``Priority``, ``Tags`` and ``Click`` headers (non-ASCII header
  values are sent as RFC 2047 encoded words, which ntfy 2.4+ decodes).

Messages longer than 4,096 bytes are turned into attachments by ntfy, so
the message is kept within 4,096 bytes of UTF-8 and says how many alerts it
leaves out. Auth: a Bearer access token or Basic user/password. 429
(``limit reached``) and 5xx are retried; other 4xx (forbidden topic, bad
token) are permanent.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote

import attrs
import httpx

from alertkit._core.model import Alert, Severity
from alertkit._dispatch.notification import Delivered, DeliveryResult, Notification
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, alert_lines, highest_severity, truncate
from ._checks import (
    check_base_url,
    check_choice,
    check_str,
    check_strings,
    check_token,
    classify_json_error,
    default_title,
    fit_bytes,
    parse_service_url,
    summary_of,
    to_list,
    url_options,
)
from .registry import default_registry
from .sender import DeliveryContext
from .templates import severity_emoji

__all__ = ["NtfyConfig", "NtfyNotifier"]

MESSAGE_BYTES = 4096
TITLE_LIMIT = 250
LINE_LIMIT = 500

#: alertkit severity → ntfy priority (5 urgent, 4 high, 3 default, 2 low, 1 min).
PRIORITIES = {
    Severity.CRITICAL: 5,
    Severity.HIGH: 4,
    Severity.MEDIUM: 3,
    Severity.LOW: 2,
    Severity.INFO: 1,
}
RESOLVED_PRIORITY = 2

#: Tags ntfy shows as emoji, by severity (and for resolved notifications).
EMOJI_TAGS = {
    Severity.CRITICAL: "rotating_light",
    Severity.HIGH: "warning",
    Severity.MEDIUM: "warning",
    Severity.LOW: "information_source",
    Severity.INFO: "information_source",
}
RESOLVED_TAG = "white_check_mark"

_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TAG = re.compile(r"[^,\x00-\x1f]{1,100}")


def _tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _header_value(text: str) -> str:
    """``text`` as an HTTP header value: as is if ASCII, else an RFC 2047 encoded word."""
    if text.isascii():
        return text
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


@attrs.frozen(kw_only=True)
class NtfyConfig:
    """Settings of an :class:`NtfyNotifier`.

    - ``topic``: the topic (1-64 letters, digits, ``_``, ``-``). On a public
      server the topic name is the only protection, so it is treated as a
      secret and never shown.
    - ``base_url``: the server (default ``https://ntfy.sh``).
    - ``token`` (Bearer access token) or ``username`` + ``password`` (Basic).
    - ``mode``: ``"json"`` (default) or ``"headers"`` (see the module doc).
    - ``tags``: extra tags; ``click``: a URL opened when the notification is tapped.
    """

    topic: str = attrs.field(repr=False)
    base_url: str = "https://ntfy.sh"
    token: str | None = attrs.field(default=None, repr=False)
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    mode: str = "json"
    tags: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    click: str | None = None

    def __attrs_post_init__(self) -> None:
        check_token("ntfy", "topic", self.topic, pattern=_TOPIC,
                    hint="1-64 letters, digits, '_' or '-'")
        object.__setattr__(self, "base_url", check_base_url("ntfy", self.base_url))
        if self.token is not None:
            check_token("ntfy", "token", self.token)
        if (self.username is None) != (self.password is None):
            raise NotifierConfigError("ntfy: give both username and password, or neither")
        if self.username is not None:
            check_str("ntfy", "username", self.username)
            if ":" in self.username:
                raise NotifierConfigError("ntfy: username must not contain ':'")
            check_str("ntfy", "password", self.password)
            if self.token is not None:
                raise NotifierConfigError("ntfy: give token or username/password, not both")
        check_choice("ntfy", "mode", self.mode, ("json", "headers"))
        check_strings("ntfy", "tags", self.tags, pattern=_TAG, hint="no commas")
        if self.click is not None:
            check_base_url("ntfy", self.click, "click", link=True)
            if not self.click.isascii():
                raise NotifierConfigError("ntfy: click must be an ASCII (percent-encoded) URL")


class NtfyNotifier(HttpChannel):
    """Publishes each notification as one ntfy message.

    URL form: ``ntfy://[USER:PASSWORD@]HOST[:PORT]/TOPIC`` (plain HTTP) or
    ``ntfys://…`` (HTTPS); ``ntfy://TOPIC`` alone publishes to
    https://ntfy.sh. Query options: ``token``, ``mode`` (``json``/``headers``),
    ``tags`` (comma-separated) and ``click``::

        ntfys://ntfy.example.com/alerts?token=tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2

    The priority follows the most severe firing alert (critical 5 urgent,
    high 4, medium 3, low 2, info 1; resolved only: 2), the tags show it as
    an emoji (``rotating_light``, ``warning``, ``information_source``,
    ``white_check_mark``) and by name.

    >>> NtfyNotifier(NtfyConfig(topic="alerts-x7k2", token="tk_secret"))
    NtfyNotifier(base_url='https://ntfy.sh', topic='***', mode='json', auth='bearer')
    """

    kind = "ntfy"
    formats: tuple[str, ...] = ("plain",)

    def __init__(self, config: NtfyConfig) -> None:
        if not isinstance(config, NtfyConfig):
            raise NotifierConfigError(
                f"NtfyNotifier needs an NtfyConfig, got {type(config).__name__}"
            )
        super().__init__([config.topic, config.token, config.password])
        self.config = config
        self._auth: dict[str, str] = {}
        if config.token is not None:
            self._auth["authorization"] = f"Bearer {config.token}"
        elif config.username is not None and config.password is not None:
            pair = f"{config.username}:{config.password}".encode()
            self._auth["authorization"] = f"Basic {base64.b64encode(pair).decode()}"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> NtfyNotifier:
        """A notifier from ``ntfy(s)://[user:password@]host/topic?option=value…``.

        Keyword ``options`` are :class:`NtfyConfig` fields; they win over the URL's.
        """
        parts = parse_service_url("ntfy", url, ["ntfy", "ntfys"])
        fields = url_options("ntfy", parts.query, {
            "token": str, "mode": str, "tags": to_list, "click": str,
        })
        if not parts.path:
            if parts.user is not None or parts.port is not None:
                raise NotifierConfigError(
                    "ntfy URL must be ntfy://TOPIC or ntfy(s)://[USER:PASSWORD@]HOST/TOPIC"
                )
            fields["topic"] = parts.host
        elif len(parts.path) == 1:
            scheme = "https" if parts.scheme == "ntfys" else "http"
            port = f":{parts.port}" if parts.port is not None else ""
            fields.update(topic=parts.path[0], base_url=f"{scheme}://{parts.host}{port}")
            if parts.user is not None:
                fields.update(username=parts.user, password=parts.password or "")
        else:
            raise NotifierConfigError(
                "ntfy URL must be ntfy(s)://HOST/TOPIC (one topic; a server under a path is "
                "not supported in the URL form, use NtfyConfig(base_url=…))"
            )
        fields.update(options)
        try:
            config = NtfyConfig(**fields)
        except TypeError as exc:
            raise NotifierConfigError(f"ntfy: {exc}") from None
        return cls(config)

    def priority(self, notification: Notification) -> int:
        if not notification.firing:
            return RESOLVED_PRIORITY
        severity = highest_severity(notification)
        return PRIORITIES.get(severity, 3) if severity is not None else 3

    def tags(self, notification: Notification) -> list[str]:
        severity = highest_severity(notification)
        if not notification.firing:
            first = [RESOLVED_TAG, "resolved"]
        elif severity is not None:
            first = [EMOJI_TAGS.get(severity, "warning"), str(severity)]
        else:
            first = ["warning"]
        return [*first, *(t for t in self.config.tags if t not in first)]

    def message(self, notification: Notification) -> str:
        """One line per alert, within 4,096 bytes of UTF-8, then the count left out."""

        def render(alert: Alert, status: str) -> str:
            text = truncate(summary_of(alert), LINE_LIMIT)
            if status == "firing":
                return f"{severity_emoji(alert.severity)} FIRING {text}"
            return f"✅ RESOLVED {text}"

        return fit_bytes(
            lambda chars: alert_lines(notification, render, max_chars=chars), MESSAGE_BYTES
        ) or default_title(notification, TITLE_LIMIT)

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The JSON body of ``mode="json"`` (the same fields the headers mode sends)."""
        body: dict[str, Any] = {
            "topic": self.config.topic,
            "message": self.message(notification),
            "title": default_title(notification, TITLE_LIMIT),
            "priority": self.priority(notification),
            "tags": self.tags(notification),
        }
        if self.config.click is not None:
            body["click"] = self.config.click
        return body

    def _classify(self, response: httpx.Response, now: float) -> DeliveryResult:
        result = classify_json_error(self, response, now)
        if isinstance(result, Delivered):
            try:
                message_id = response.json().get("id")
            except (ValueError, AttributeError):
                message_id = None
            if isinstance(message_id, str):
                return Delivered(status_code=result.status_code, detail=f"id {message_id}")
        return result

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        body = self.payload(notification)
        if self.config.mode == "json":
            result, _ = await self.post(context, self.config.base_url + "/", json=body,
                                        headers=self._auth, classify=self._classify)
            return result
        headers = dict(self._auth)
        headers.update({
            "content-type": "text/plain; charset=utf-8",
            "title": _header_value(body["title"]),
            "priority": str(body["priority"]),
            "tags": _header_value(",".join(body["tags"])),
        })
        if "click" in body:
            headers["click"] = body["click"]
        url = f"{self.config.base_url}/{quote(self.config.topic)}"
        result, _ = await self.post(context, url, content=body["message"].encode(),
                                    headers=headers, classify=self._classify)
        return result

    def __repr__(self) -> str:
        cfg = self.config
        auth = "bearer" if cfg.token else "basic" if cfg.username else "none"
        return (f"NtfyNotifier(base_url={cfg.base_url!r}, topic='***', mode={cfg.mode!r}, "
                f"auth={auth!r})")


default_registry.register("ntfy", NtfyNotifier.from_url, schemes=["ntfy", "ntfys"])
