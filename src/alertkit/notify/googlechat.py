"""Google Chat: a space's incoming webhook, as text or as a card, one thread per group.

Every message of a group carries the same ``thread.threadKey`` (derived from
the group key) and the request asks for
``messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD``, so a group's
firing, repeat and resolved messages stack up in one thread of the space
(https://developers.google.com/workspace/chat/quickstart/webhooks#start_or_reply_to_a_message_thread).

``format="text"`` (the default) sends ``{"text": …}``: the title in bold, then
the rendered plain body (or one line per alert and "… and N more alert(s)
not shown" when it does not fit), at most 4,096 characters.
``format="card"`` sends ``cardsV2``: a header with the title and one text
paragraph per alert, the severity shown as a coloured dot. A message,
text and cards together, may take 32,000 bytes
(https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages/create).
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import parse_qsl

import attrs
import httpx

from alertkit._core.model import Alert
from alertkit._core.templates import format_value
from alertkit._dispatch.notification import DeliveryResult, Notification
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, truncate
from ._chatlayout import (
    body_text,
    check_bool,
    check_http_url,
    group_token,
    parse_flag,
    query_options,
    split_url,
    title_text,
    url_parts,
)
from .redact import MASK
from .registry import default_registry
from .sender import DeliveryContext
from .templates import RESOLVED_COLOR, severity_color, severity_emoji

__all__ = ["GoogleChatConfig", "GoogleChatNotifier"]

MAX_TEXT_CHARS = 4_096
MAX_MESSAGE_BYTES = 32_000
MAX_CARD_TITLE = 200
MAX_PARAGRAPH_CHARS = 2_000
REPLY_OPTION = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
API_URL = "https://chat.googleapis.com"
FORMATS = ("text", "card")

_URL_OPTIONS = ("format", "thread")


def _masked(value: str) -> str:
    return repr(MASK)


def _plain_line(alert: Alert, status: str) -> str:
    mark = severity_emoji(alert.severity) if status == "firing" else "✅"
    labels = ", ".join(f"{k}={v}" for k, v in alert.labels.items() if k != "alertname")
    text = f"{mark} *{status.upper()}* {alert.rule} {labels}".rstrip()
    if status == "firing":
        text += f" (value {format_value(alert.value)})"
    summary = alert.annotations.get("summary") or alert.annotations.get("description")
    if summary:
        text += "\n    " + " ".join(summary.split())
    return text


def _card_paragraph(alert: Alert, status: str) -> str:
    color = severity_color(alert.severity) if status == "firing" else RESOLVED_COLOR
    labels = ", ".join(f"{k}={v}" for k, v in alert.labels.items() if k != "alertname")
    text = (f'<font color="{color}">●</font> <b>{status.upper()}</b> '
            f"{html.escape(alert.rule)} {html.escape(labels)}").rstrip()
    if status == "firing":
        text += f" (value {format_value(alert.value)})"
    summary = alert.annotations.get("summary") or alert.annotations.get("description")
    if summary:
        text += "<br>" + html.escape(truncate(" ".join(summary.split()), MAX_PARAGRAPH_CHARS))
    return text


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


@attrs.frozen(kw_only=True)
class GoogleChatConfig:
    """Settings of a :class:`GoogleChatNotifier`, from the space's webhook URL
    ``https://chat.googleapis.com/v1/spaces/{space}/messages?key={key}&token={token}``.

    - ``space``, ``key``, ``token``: the parts of that URL (key and token are
      secrets, masked in ``repr``).
    - ``format``: ``"text"`` (default) or ``"card"`` (``cardsV2``).
    - ``thread``: thread a group's messages (default ``True``).
    - ``base_url``: the API base, overridable for tests.

    >>> GoogleChatConfig(space="AAAA1234", key="k3y", token="t0ken")
    GoogleChatConfig(space='AAAA1234', key='***', token='***', format='text', thread=True, \
base_url='https://chat.googleapis.com')
    """

    space: str
    key: str = attrs.field(repr=_masked)
    token: str = attrs.field(repr=_masked)
    format: str = "text"
    thread: bool = True
    base_url: str = API_URL

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.space, str) or not self.space or not all(
            c.isalnum() or c in "_-" for c in self.space
        ):
            raise NotifierConfigError(
                f"googlechat space must be the space ID (letters, digits, _ -), "
                f"got {self.space!r:.40}"
            )
        for name in ("key", "token"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or any(
                c.isspace() or c in "&#?\0" for c in value
            ):
                raise NotifierConfigError(
                    f"googlechat {name} must be the {name} of the webhook URL (no spaces, & # ?)"
                )
        if self.format not in FORMATS:
            raise NotifierConfigError(
                f"googlechat format must be 'text' or 'card', got {self.format!r:.40}"
            )
        check_bool(self.thread, "googlechat thread")
        check_http_url(self.base_url, "googlechat base_url")


class GoogleChatNotifier(HttpChannel):
    """Sends notifications to a Google Chat space (see :class:`GoogleChatConfig`).

    URL forms (:meth:`from_url`, schemes ``gchat`` and ``googlechat``):
    ``gchat://SPACE/KEY/TOKEN`` with query options ``format=card`` and
    ``thread=no``; the webhook's own
    ``https://chat.googleapis.com/v1/spaces/SPACE/messages?key=…&token=…`` URL
    is accepted too.

    >>> GoogleChatNotifier.from_url("gchat://AAAA1234/k3y/t0ken?format=card")
    GoogleChatNotifier(space='AAAA1234', format='card')
    """

    kind = "googlechat"
    formats = ("plain",)

    def __init__(self, config: GoogleChatConfig) -> None:
        if not isinstance(config, GoogleChatConfig):
            raise NotifierConfigError(
                f"GoogleChatNotifier needs a GoogleChatConfig, got {type(config).__name__}"
            )
        super().__init__([config.key, config.token])
        self.config = config

    @classmethod
    def from_url(cls, url: str, **options: Any) -> GoogleChatNotifier:
        """A notifier from a ``gchat://`` (or webhook ``https://``) URL.

        ``options`` set other :class:`GoogleChatConfig` fields.
        """
        fields: dict[str, Any] = {}
        if isinstance(url, str) and url.lower().startswith("https://"):
            _, rest, query = split_url(url, ("https",), "googlechat")
            parts = url_parts(rest)
            params = dict(parse_qsl(query))
            if (len(parts) != 5 or parts[0] != "chat.googleapis.com"
                    or parts[1:3] != ["v1", "spaces"] or parts[4] != "messages"
                    or set(params) != {"key", "token"}):
                raise NotifierConfigError(
                    "googlechat URL must be https://chat.googleapis.com/v1/spaces/SPACE/"
                    "messages?key=…&token=…"
                )
            fields.update(space=parts[3], key=params["key"], token=params["token"])
        else:
            _, rest, query = split_url(url, ("gchat", "googlechat"), "googlechat")
            parts = url_parts(rest)
            if len(parts) != 3:
                raise NotifierConfigError("googlechat URL must be gchat://SPACE/KEY/TOKEN")
            fields.update(space=parts[0], key=parts[1], token=parts[2])
            opts = query_options(query, _URL_OPTIONS, "googlechat")
            if "format" in opts:
                fields["format"] = opts["format"]
            if "thread" in opts:
                fields["thread"] = parse_flag(opts["thread"], "googlechat URL option thread")
        fields.update(options)
        return cls(GoogleChatConfig(**fields))

    def thread_key(self, notification: Notification) -> str:
        """The thread key of the notification's group (stable across restarts)."""
        return f"alertkit-{group_token(notification.group_key)}"

    def request_url(self) -> str:
        """Where :meth:`send` posts (holds the key and token: a secret)."""
        params = {"key": self.config.key, "token": self.config.token}
        if self.config.thread:
            params["messageReplyOption"] = REPLY_OPTION
        base = self.config.base_url.rstrip("/")
        return f"{base}/v1/spaces/{self.config.space}/messages?{httpx.QueryParams(params)}"

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The JSON body for ``notification`` (text or ``cardsV2``, with the thread key)."""
        n = notification
        body: dict[str, Any]
        if self.config.format == "text":
            title = truncate(title_text(n), 500)
            head = f"*{title}*\n"
            text = head + body_text(n, "plain", MAX_TEXT_CHARS - len(head), _plain_line)
            body = {"text": text}
        else:
            body = {"cardsV2": [{"cardId": "alertkit", "card": self._card(n)}]}
        if self.config.thread:
            body["thread"] = {"threadKey": self.thread_key(n)}
        return body

    def _card(self, n: Notification) -> dict[str, Any]:
        header = {"title": truncate(title_text(n), MAX_CARD_TITLE),
                  "subtitle": truncate(n.receiver, MAX_CARD_TITLE)}
        card: dict[str, Any] = {"header": header, "sections": []}
        alerts = [(a, "firing") for a in n.firing] + [(a, "resolved") for a in n.resolved]
        total = len(alerts) + n.truncated
        note = {"textParagraph": {"text": f"<i>… and {total} more alert(s) not shown</i>"}}
        envelope = {"cardsV2": [{"cardId": "alertkit", "card": card}],
                    "thread": {"threadKey": "x" * 41}}
        budget = MAX_MESSAGE_BYTES - _size(envelope) - _size({"widgets": [note]}) - 2
        widgets: list[dict[str, Any]] = []
        used = 0
        for alert, status in alerts:
            widget = {"textParagraph": {"text": _card_paragraph(alert, status)}}
            cost = _size(widget) + 1
            if used + cost > budget:
                break
            widgets.append(widget)
            used += cost
        left = total - len(widgets)
        if left:
            widgets.append({"textParagraph": {
                "text": f"<i>… and {left} more alert(s) not shown</i>"}})
        card["sections"] = [{"widgets": widgets}]
        return card

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        # 4,096 characters are at most 16,384 bytes: a text message is always within 32,000.
        result, _ = await self.post(context, self.request_url(),
                                    json=self.payload(notification))
        return result

    def __repr__(self) -> str:
        return (f"GoogleChatNotifier(space={self.config.space!r}, "
                f"format={self.config.format!r})")


default_registry.register("googlechat", GoogleChatNotifier.from_url,
                          schemes=["gchat", "googlechat"])
