"""Mattermost: an incoming webhook, with a Slack-compatible message attachment.

The message is one attachment: ``fallback`` and ``title`` the notification's
title, ``color`` the highest firing severity (green once resolved), ``text``
the alerts in Markdown (the rendered body, or one line per alert with "… and
N more alert(s) not shown" when it does not fit) and ``fields`` the group's
labels (https://developers.mattermost.com/integrate/webhooks/incoming/,
https://developers.mattermost.com/integrate/reference/message-attachments/).

Mattermost 5.0 and later accept 16,383 characters per post (older servers
4,000: set ``max_chars``). The webhook answers 200 ``ok``.
"""

from __future__ import annotations

from typing import Any

import attrs
import httpx

from alertkit._dispatch.notification import DeliveryResult, Notification
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, truncate
from ._chatlayout import (
    body_text,
    check_http_url,
    check_optional_text,
    check_positive,
    markdown_line,
    query_options,
    split_url,
    title_text,
    url_parts,
    worst,
)
from .redact import redact_url
from .registry import default_registry
from .sender import DeliveryContext
from .templates import RESOLVED_COLOR, severity_color

__all__ = ["MattermostConfig", "MattermostNotifier"]

MAX_CHARS = 16_383
MAX_TITLE = 500
MAX_FIELDS = 20
MAX_FIELD_VALUE = 500

_URL_OPTIONS = ("channel", "username", "icon_url", "icon_emoji")


def _shown_url(value: str) -> str:
    return repr(redact_url(value))


@attrs.frozen(kw_only=True)
class MattermostConfig:
    """Settings of a :class:`MattermostNotifier`.

    - ``webhook_url``: ``https://mattermost.example.com/hooks/KEY`` (a
      secret: masked in ``repr``).
    - ``channel``: post to this channel (``town-square``, ``@user``) instead
      of the webhook's own; ``username``, ``icon_url``, ``icon_emoji``:
      how the post is signed (the server must allow overrides).
    - ``max_chars``: the longest post the server accepts (default 16,383).

    >>> MattermostConfig(webhook_url="https://chat.example.com/hooks/xyz123abc")
    MattermostConfig(webhook_url='https://chat.example.com/***', channel=None, username=None, \
icon_url=None, icon_emoji=None, max_chars=16383)
    """

    webhook_url: str = attrs.field(repr=_shown_url)
    channel: str | None = None
    username: str | None = None
    icon_url: str | None = None
    icon_emoji: str | None = None
    max_chars: int = MAX_CHARS

    def __attrs_post_init__(self) -> None:
        check_http_url(self.webhook_url, "mattermost webhook_url")
        check_optional_text(self.channel, "mattermost channel", max_len=64)
        check_optional_text(self.username, "mattermost username", max_len=64)
        if self.icon_url is not None:
            check_http_url(self.icon_url, "mattermost icon_url")
        check_optional_text(self.icon_emoji, "mattermost icon_emoji", max_len=64)
        check_positive(self.max_chars, "mattermost max_chars")
        if self.max_chars < 1_000:
            raise NotifierConfigError("mattermost max_chars must be at least 1000")


class MattermostNotifier(HttpChannel):
    """Sends notifications to a Mattermost incoming webhook (see :class:`MattermostConfig`).

    URL forms (:meth:`from_url`): the webhook's own ``https://HOST/hooks/KEY``
    URL, or ``mattermost://HOST[:PORT][/PATH]/KEY`` for
    ``https://HOST[:PORT][/PATH]/hooks/KEY`` (``mattermost+http://`` for
    plain HTTP), with query options ``channel``, ``username``, ``icon_url``
    and ``icon_emoji``.

    >>> MattermostNotifier.from_url("mattermost://chat.example.com/xyz123abc?channel=ops")
    MattermostNotifier(url='https://chat.example.com/***', channel='ops')
    """

    kind = "mattermost"
    formats = ("markdown",)

    def __init__(self, config: MattermostConfig) -> None:
        if not isinstance(config, MattermostConfig):
            raise NotifierConfigError(
                f"MattermostNotifier needs a MattermostConfig, got {type(config).__name__}"
            )
        path = httpx.URL(config.webhook_url).path
        super().__init__([config.webhook_url, path, path.rstrip("/").rsplit("/", 1)[-1]])
        self.config = config

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MattermostNotifier:
        """A notifier from a ``mattermost://`` or webhook URL (``options``: config fields)."""
        if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
            return cls(MattermostConfig(webhook_url=url, **options))
        scheme, rest, query = split_url(url, ("mattermost", "mattermost+http"), "mattermost")
        fields: dict[str, Any] = dict(query_options(query, _URL_OPTIONS, "mattermost"))
        parts = rest.split("/")
        if len(url_parts(rest)) < 2:
            raise NotifierConfigError("mattermost URL must be mattermost://HOST/KEY")
        host, path, key = parts[0], "/".join(p for p in parts[1:-1] if p), parts[-1]
        if not key:
            raise NotifierConfigError("mattermost URL must be mattermost://HOST/KEY")
        prefix = f"/{path}" if path else ""
        target = ("http" if scheme == "mattermost+http" else "https") + (
            f"://{host}{prefix}/hooks/{key}")
        fields["webhook_url"] = check_http_url(target, "mattermost URL")
        fields.update(options)
        return cls(MattermostConfig(**fields))

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The JSON body for ``notification``."""
        n = notification
        severity = worst(n)
        title = truncate(title_text(n), MAX_TITLE)
        labels = [(k, truncate(v, MAX_FIELD_VALUE))
                  for k, v in list(n.group_labels.items())[:MAX_FIELDS]]
        fields = [{"short": True, "title": k, "value": v} for k, v in labels]
        room = self.config.max_chars - len(title) - sum(len(k) + len(v) for k, v in labels)
        attachment: dict[str, Any] = {
            "fallback": title,
            "color": RESOLVED_COLOR if severity is None else severity_color(severity),
            "title": title,
            "text": body_text(n, "markdown", max(room, 200), markdown_line),
        }
        if fields:
            attachment["fields"] = fields
        body: dict[str, Any] = {}
        for name in ("channel", "username", "icon_url", "icon_emoji"):
            value = getattr(self.config, name)
            if value is not None:
                body[name] = value
        body["attachments"] = [attachment]
        return body

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        result, _ = await self.post(context, self.config.webhook_url,
                                    json=self.payload(notification))
        return result

    def __repr__(self) -> str:
        shown = f"url={redact_url(self.config.webhook_url)!r}"
        if self.config.channel is not None:
            shown += f", channel={self.config.channel!r}"
        return f"MattermostNotifier({shown})"


default_registry.register("mattermost", MattermostNotifier.from_url,
                          schemes=["mattermost", "mattermost+http"])
