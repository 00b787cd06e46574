"""Telegram: a bot posts each notification to a chat with the Bot API's ``sendMessage``.

The message is HTML (``parse_mode: "HTML"``, the simpler of Telegram's two
markups to escape): the title in bold, then one block per alert — severity
emoji and name, rule, labels, value and annotations — as many as fit in
Telegram's 4,096 characters, then "… and N more alert(s) not shown".
Resolved alerts get a ✅ block. Every piece of alert text is HTML-escaped.

Telegram answers ``{"ok": true, ...}``, or ``{"ok": false, "error_code": N,
"description": "..."}`` with HTTP status N; a rate limit is HTTP 429 with
``parameters.retry_after`` (seconds), retried at that time. The bot token
sits in the request path, so it is kept out of ``repr``, results and logs.
(https://core.telegram.org/bots/api#sendmessage,
https://core.telegram.org/bots/api#formatting-options)
"""

from __future__ import annotations

import html
import re
from typing import Any

import attrs

from alertkit._core.model import Alert
from alertkit._dispatch.notification import DeliveryResult, Notification
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, truncate
from ._robots import (
    BodyError,
    check_api_url,
    classify_json,
    labels_text,
    lines_within,
    make_config,
    parse_bool,
    reject_unknown,
    rendered,
    split_robot_url,
    value_text,
)
from .registry import default_registry
from .sender import DeliveryContext
from .templates import severity_emoji

__all__ = ["TelegramConfig", "TelegramNotifier"]

#: Telegram's limit on a message's text (https://core.telegram.org/bots/api#sendmessage).
MAX_CHARS = 4096
_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+\Z")
_CHAT = re.compile(r"-?[0-9]+\Z|@[A-Za-z][A-Za-z0-9_]{3,}\Z")
_SCHEMES = ("telegram", "tgram")
_ANNOTATION_CHARS = 500
_TITLE_CHARS = 256


def _chat_id(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value
    raise NotifierConfigError(f"telegram chat_id must be a string or an int, got {value!r}")


def _check(config: TelegramConfig) -> None:
    if not isinstance(config.bot_token, str) or not _TOKEN.match(config.bot_token):
        raise NotifierConfigError(
            "telegram bot_token must look like 123456789:AAE... (digits, a colon, then letters, "
            "digits, _ or -)"
        )
    if not _CHAT.match(config.chat_id):
        raise NotifierConfigError(
            f"telegram chat_id {config.chat_id!r} must be a numeric chat id (e.g. -1001234567890) "
            f"or a @channelusername"
        )
    thread = config.message_thread_id
    if thread is not None and (isinstance(thread, bool) or not isinstance(thread, int)
                               or thread <= 0):
        raise NotifierConfigError("telegram message_thread_id must be a positive int")
    for name in ("disable_notification", "disable_web_page_preview"):
        if not isinstance(getattr(config, name), bool):
            raise NotifierConfigError(f"telegram {name} must be True or False")
    limit = config.max_chars
    if isinstance(limit, bool) or not isinstance(limit, int) or not 200 <= limit <= MAX_CHARS:
        raise NotifierConfigError(f"telegram max_chars must be an int in 200..{MAX_CHARS}")
    check_api_url(config.api_url, "telegram")


@attrs.frozen(kw_only=True)
class TelegramConfig:
    """Where and how a :class:`TelegramNotifier` posts.

    - ``bot_token``: the token @BotFather gave (``123456789:AAE…``); secret.
    - ``chat_id``: the chat's numeric id (groups and channels are negative,
      e.g. ``-1001234567890``) or ``@channelusername``.
    - ``message_thread_id``: a forum topic to post in.
    - ``disable_notification``: deliver silently.
    - ``disable_web_page_preview``: no link previews (default on).
    - ``max_chars``: the message budget (at most 4,096).
    - ``api_url``: the Bot API's base URL (a local Bot API server, tests).
    """

    bot_token: str = attrs.field(repr=False)
    chat_id: str = attrs.field(converter=_chat_id)
    message_thread_id: int | None = None
    disable_notification: bool = False
    disable_web_page_preview: bool = True
    max_chars: int = MAX_CHARS
    api_url: str = "https://api.telegram.org"

    def __attrs_post_init__(self) -> None:
        _check(self)


def _units(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _render(alert: Alert, status: str) -> str:
    labels = labels_text(alert.labels)
    head = f"<code>{_esc(alert.rule)}</code>" + (f" {_esc(labels)}" if labels else "")
    if status == "resolved":
        return f"✅ <b>RESOLVED</b> {head}"
    lines = [f"{severity_emoji(alert.severity)} <b>{str(alert.severity).upper()}</b> {head}",
             f"value {_esc(value_text(alert))}"]
    for key, value in alert.annotations.items():
        lines.append(f"<i>{_esc(key)}</i>: {_esc(truncate(value, _ANNOTATION_CHARS))}")
    return "\n".join(lines)


def _error_of(body: dict[str, Any]) -> BodyError | None:
    if body.get("ok") is True:
        return None
    parameters = body.get("parameters")
    retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
    return body.get("error_code"), str(body.get("description", "")), retry_after


class TelegramNotifier(HttpChannel):
    """Sends notifications to a Telegram chat through a bot.

    URL form: ``telegram://BOT_TOKEN/CHAT_ID`` (or ``tgram://``), with query
    options ``thread=TOPIC_ID``, ``silent=yes|no``, ``preview=yes|no``;
    other keyword options of :meth:`from_url` (``api_url``, ``max_chars``...)
    are :class:`TelegramConfig` fields.

    >>> tg = TelegramNotifier.from_url("telegram://123456:ABC-def_1/-1001234567890?silent=yes")
    >>> tg
    TelegramNotifier(chat_id='-1001234567890', api_url='https://api.telegram.org')
    >>> tg.config.disable_notification
    True
    """

    kind = "telegram"
    formats: tuple[str, ...] = ("plain",)

    def __init__(self, config: TelegramConfig) -> None:
        if not isinstance(config, TelegramConfig):
            raise NotifierConfigError(
                f"TelegramNotifier needs a TelegramConfig, got {type(config).__name__}"
            )
        super().__init__([config.bot_token])
        self.config = config
        self._endpoint = f"{config.api_url}/bot{config.bot_token}/sendMessage"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> TelegramNotifier:
        """A notifier from ``telegram://BOT_TOKEN/CHAT_ID[?thread=…&silent=…&preview=…]``."""
        scheme, userinfo, segments, query = split_robot_url(url, _SCHEMES, "telegram")
        if userinfo is not None or len(segments) != 2:
            raise NotifierConfigError(f"{scheme}://*** URL must be {scheme}://BOT_TOKEN/CHAT_ID")
        reject_unknown(query, ("preview", "silent", "thread"), scheme)
        fields: dict[str, Any] = {"bot_token": segments[0], "chat_id": segments[1]}
        if "thread" in query:
            if not query["thread"].isdigit():
                raise NotifierConfigError(f"{scheme}://*** URL option thread must be a number")
            fields["message_thread_id"] = int(query["thread"])
        if "silent" in query:
            fields["disable_notification"] = parse_bool(query["silent"], "silent", "telegram")
        if "preview" in query:
            fields["disable_web_page_preview"] = not parse_bool(
                query["preview"], "preview", "telegram")
        fields.update(options)
        return cls(make_config(TelegramConfig, fields, "telegram"))

    def text(self, notification: Notification) -> str:
        """The message's HTML: bold title, then the alert blocks that fit.

        Telegram counts UTF-16 code units (an emoji outside the BMP is two)
        after parsing the markup; the raw HTML is measured the same way, so
        the parsed text, never longer, always fits.
        """
        limit = self.config.max_chars
        title = " ".join(rendered(notification, "title").split())
        chars = _TITLE_CHARS
        header = f"<b>{_esc(truncate(title, chars))}</b>"
        while _units(header) > limit // 2:  # pathological titles: all "&" or emoji
            chars //= 2
            header = f"<b>{_esc(truncate(title, chars))}</b>"
        budget = limit - _units(header) - 2
        body = lines_within(notification, _render, max_bytes=2 * budget, separator="\n\n",
                            encoding="utf-16-le")
        return f"{header}\n\n{body}" if body else header

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The ``sendMessage`` JSON body for ``notification``."""
        chat: int | str = self.config.chat_id
        if isinstance(chat, str) and chat.lstrip("-").isdigit():
            chat = int(chat)
        body: dict[str, Any] = {
            "chat_id": chat,
            "text": self.text(notification),
            "parse_mode": "HTML",
            "disable_web_page_preview": self.config.disable_web_page_preview,
        }
        if self.config.disable_notification:
            body["disable_notification"] = True
        if self.config.message_thread_id is not None:
            body["message_thread_id"] = self.config.message_thread_id
        return body

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        result, _ = await self.post(
            context, self._endpoint, json=self.payload(notification), classify=self._classify
        )
        return result

    def _classify(self, response: Any, now: float) -> DeliveryResult:
        return classify_json(response, now, service="telegram", error_of=_error_of,
                             retry_codes={429: None}, scrub=self.scrub)

    def __repr__(self) -> str:
        return (f"TelegramNotifier(chat_id={self.config.chat_id!r}, "
                f"api_url={self.config.api_url!r})")


default_registry.register("telegram", TelegramNotifier.from_url, schemes=list(_SCHEMES))
