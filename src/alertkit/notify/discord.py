"""Discord: a webhook message with one embed, coloured by severity.

The embed's title is the notification's title, its description the alerts
(the rendered Markdown body, or one line per alert with "… and N more
alert(s) not shown" when it does not fit), its fields the group's labels,
its footer the receiver and its timestamp the notification's creation time.
``allowed_mentions`` is empty, so no alert text can ping ``@everyone``.

Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits):
title 256 characters, description 4,096, 25 fields (name 256, value 1,024),
footer 2,048, and 6,000 characters across all embeds of a message. A 429
answer carries ``retry_after`` (seconds, a float) in its JSON body
(https://discord.com/developers/docs/topics/rate-limits).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import attrs
import httpx

from alertkit._dispatch.notification import DeliveryResult, Notification, Retry
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, retry_at, truncate
from ._chatlayout import (
    body_text,
    check_http_url,
    check_optional_text,
    markdown_line,
    query_options,
    split_url,
    title_text,
    url_parts,
    worst,
)
from .http import classify_http_status
from .redact import MASK
from .registry import default_registry
from .sender import DeliveryContext
from .templates import RESOLVED_COLOR, severity_color

__all__ = ["DiscordConfig", "DiscordNotifier"]

MAX_TITLE = 256
MAX_DESCRIPTION = 4_096
MAX_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1_024
MAX_EMBED_TOTAL = 6_000
#: Characters the label fields may take, so the alerts keep most of the 6,000.
FIELDS_BUDGET = 1_024
MAX_FOOTER = 100

API_URL = "https://discord.com/api"
_SNOWFLAKE = re.compile(r"[0-9]{1,25}\Z")
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,200}\Z")
_HOSTS = ("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com")
_URL_OPTIONS = ("username", "avatar_url", "thread_id")


def _masked(value: str) -> str:
    return repr(MASK)


@attrs.frozen(kw_only=True)
class DiscordConfig:
    """Settings of a :class:`DiscordNotifier`.

    - ``webhook_id`` and ``token``: the two parts of the webhook URL
      ``https://discord.com/api/webhooks/{webhook_id}/{token}``; the token is
      a secret (masked in ``repr``).
    - ``username``, ``avatar_url``: override the webhook's name and avatar.
    - ``thread_id``: post into this thread of the webhook's channel.
    - ``base_url``: the API base, overridable for tests.

    >>> DiscordConfig(webhook_id="123", token="abc-DEF")
    DiscordConfig(webhook_id='123', token='***', username=None, avatar_url=None, \
thread_id=None, base_url='https://discord.com/api')
    """

    webhook_id: str
    token: str = attrs.field(repr=_masked)
    username: str | None = None
    avatar_url: str | None = None
    thread_id: str | None = None
    base_url: str = API_URL

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.webhook_id, str) or not _SNOWFLAKE.match(self.webhook_id):
            raise NotifierConfigError(
                f"discord webhook_id must be the webhook's numeric ID, got {self.webhook_id!r:.40}"
            )
        if not isinstance(self.token, str) or not _TOKEN.match(self.token):
            raise NotifierConfigError(
                "discord token must be the webhook token (letters, digits, - _ .)"
            )
        check_optional_text(self.username, "discord username", max_len=80)
        if self.avatar_url is not None:
            check_http_url(self.avatar_url, "discord avatar_url")
        if self.thread_id is not None and (
            not isinstance(self.thread_id, str) or not _SNOWFLAKE.match(self.thread_id)
        ):
            raise NotifierConfigError(
                f"discord thread_id must be a numeric ID, got {self.thread_id!r:.40}"
            )
        check_http_url(self.base_url, "discord base_url")

    @property
    def url(self) -> str:
        """The webhook URL (a secret: it holds the token)."""
        return f"{self.base_url.rstrip('/')}/webhooks/{self.webhook_id}/{self.token}"


class DiscordNotifier(HttpChannel):
    """Sends notifications to a Discord webhook (see :class:`DiscordConfig`).

    URL forms (:meth:`from_url`, scheme ``discord``):
    ``discord://WEBHOOK_ID/TOKEN`` with query options ``username``,
    ``avatar_url`` and ``thread_id``; the webhook's own
    ``https://discord.com/api/webhooks/WEBHOOK_ID/TOKEN`` URL is accepted too.

    >>> DiscordNotifier.from_url("discord://123456/s3cret-token?username=alertkit")
    DiscordNotifier(webhook_id='123456')
    """

    kind = "discord"
    formats = ("markdown",)

    def __init__(self, config: DiscordConfig) -> None:
        if not isinstance(config, DiscordConfig):
            raise NotifierConfigError(
                f"DiscordNotifier needs a DiscordConfig, got {type(config).__name__}"
            )
        super().__init__([config.token, config.url])
        self.config = config

    @classmethod
    def from_url(cls, url: str, **options: Any) -> DiscordNotifier:
        """A notifier from a ``discord://`` (or webhook ``https://``) URL.

        ``options`` set other :class:`DiscordConfig` fields.
        """
        fields: dict[str, Any] = {}
        if isinstance(url, str) and url.lower().startswith("https://"):
            _, rest, query = split_url(url, ("https",), "discord")
            parts = url_parts(rest)
            if len(parts) != 5 or parts[0].lower() not in _HOSTS or parts[1:3] != [
                "api", "webhooks"
            ]:
                raise NotifierConfigError(
                    "discord URL must be https://discord.com/api/webhooks/ID/TOKEN"
                )
            parts = parts[3:]
        else:
            _, rest, query = split_url(url, ("discord",), "discord")
            parts = url_parts(rest)
            if len(parts) != 2:
                raise NotifierConfigError("discord URL must be discord://WEBHOOK_ID/TOKEN")
        fields.update(query_options(query, _URL_OPTIONS, "discord"))
        fields.update(webhook_id=parts[0], token=parts[1])
        fields.update(options)
        return cls(DiscordConfig(**fields))

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The JSON body for ``notification``, within every embed limit."""
        n = notification
        severity = worst(n)
        color = RESOLVED_COLOR if severity is None else severity_color(severity)
        title = truncate(title_text(n), MAX_TITLE)
        fields: list[dict[str, Any]] = []
        used = 0
        for name, value in n.group_labels.items():
            field_name = truncate(name, MAX_FIELD_NAME)
            field_value = truncate(value or "\u200b", MAX_FIELD_VALUE)
            cost = len(field_name) + len(field_value)
            if len(fields) == MAX_FIELDS or used + cost > FIELDS_BUDGET:
                break
            fields.append({"name": field_name, "value": field_value, "inline": True})
            used += cost
        footer = truncate(f"alertkit · {n.receiver}", MAX_FOOTER)
        room = min(MAX_DESCRIPTION, MAX_EMBED_TOTAL - len(title) - used - len(footer))
        embed: dict[str, Any] = {
            "title": title,
            "description": body_text(n, "markdown", room, markdown_line),
            "color": int(color.lstrip("#"), 16),
        }
        if fields:
            embed["fields"] = fields
        embed["footer"] = {"text": footer}
        timestamp = _iso(n.created_at)
        if timestamp is not None:
            embed["timestamp"] = timestamp
        body: dict[str, Any] = {}
        if self.config.username is not None:
            body["username"] = self.config.username
        if self.config.avatar_url is not None:
            body["avatar_url"] = self.config.avatar_url
        body["allowed_mentions"] = {"parse": []}
        body["embeds"] = [embed]
        return body

    def request_url(self) -> str:
        """Where :meth:`send` posts (``?wait=true``: Discord confirms with the message)."""
        query = "?wait=true"
        if self.config.thread_id is not None:
            query += f"&thread_id={self.config.thread_id}"
        return self.config.url + query

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        result, _ = await self.post(context, self.request_url(), json=self.payload(notification),
                                    classify=self._classify)
        return result

    def _classify(self, response: httpx.Response, now: float) -> DeliveryResult:
        detail = "" if response.is_success else self.detail(response)
        result = classify_http_status(response.status_code, response.headers, now=now,
                                      detail=detail)
        if response.status_code == 429:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if isinstance(answer, dict):
                when = retry_at(answer.get("retry_after"), now)
                if when is not None:
                    assert isinstance(result, Retry)
                    return attrs.evolve(result, retry_at=when)
        return result

    def __repr__(self) -> str:
        return f"DiscordNotifier(webhook_id={self.config.webhook_id!r})"


def _iso(ts: float) -> str | None:
    try:
        moment = datetime.fromtimestamp(ts, tz=UTC)
    except (OverflowError, OSError, ValueError):  # not a time Discord could show
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


default_registry.register("discord", DiscordNotifier.from_url, schemes=["discord"])
