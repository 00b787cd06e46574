"""Slack: an incoming webhook, or ``chat.postMessage`` with a bot token (threads resolutions).

Both modes send the same message: ``text`` (the title, what notifications
and screen readers show), a header block with the title, and one
``attachments`` entry whose colour bar shows the highest firing severity
(green once everything is resolved) holding the alerts as section blocks.

In API mode (a bot token and a channel) the firing message's ``channel`` and
``ts`` are kept per group key, in memory and bounded (least recently used
first out), and the notification that resolves the group is posted as a
reply in that message's thread (``thread_ts``).

Slack's limits (https://api.slack.com/reference/block-kit/blocks,
https://api.slack.com/methods/chat.postMessage): 50 blocks per message, 3,000
characters per section text, 150 per header, ``text`` truncated past 40,000.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import attrs
import httpx

from alertkit._dispatch.notification import (
    Delivered,
    DeliveryResult,
    Failed,
    Notification,
    Retry,
)
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, retry_at, truncate
from ._chatlayout import (
    check_bool,
    check_http_url,
    check_optional_text,
    check_positive,
    parse_flag,
    query_options,
    rendered_body,
    slack_line,
    split_url,
    title_text,
    url_parts,
    worst,
)
from .http import classify_http_status
from .redact import MASK, redact_url
from .registry import default_registry
from .sender import DeliveryContext
from .templates import RESOLVED_COLOR, severity_color

__all__ = ["SlackConfig", "SlackNotifier"]

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3_000
MAX_HEADER_CHARS = 150
MAX_TEXT_CHARS = 40_000
#: The per-alert layout stops adding sections past this many characters in all.
MAX_ALERT_CHARS = 40_000

HOOKS_URL = "https://hooks.slack.com"
API_URL = "https://slack.com/api"

# chat.postMessage errors that a later attempt may get past.
_RETRY_ERRORS = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error",
                           "service_unavailable", "request_timeout"})
_URL_OPTIONS = ("username", "icon_emoji", "icon_url", "thread_resolved")


def _masked(value: str | None) -> str:
    return "None" if value is None else repr(MASK)


def _shown_url(value: str | None) -> str:
    return "None" if value is None else repr(redact_url(value))


@attrs.frozen(kw_only=True)
class SlackConfig:
    """Settings of a :class:`SlackNotifier`: give ``webhook_url``, or ``token`` and ``channel``.

    - ``webhook_url``: an incoming webhook (``https://hooks.slack.com/services/T…/B…/…``).
    - ``token``: a bot token (``xoxb-…``) for ``chat.postMessage``; ``channel``:
      a channel ID (``C0123…``) or name (``#alerts``) the bot is a member of.
    - ``username``, ``icon_emoji``, ``icon_url``: how the message is signed
      (API mode needs the ``chat:write.customize`` scope; new webhooks ignore them).
    - ``thread_resolved``: API mode posts a group's resolution in the firing
      message's thread (default); ``max_threads`` bounds the groups remembered.
    - ``api_url``: the Web API base, overridable for tests.

    The webhook URL and the token are secrets: ``repr`` masks them.

    >>> SlackConfig(token="xoxb-1-2-abc", channel="#alerts")
    SlackConfig(webhook_url=None, token='***', channel='#alerts', username=None, \
icon_emoji=None, icon_url=None, thread_resolved=True, max_threads=10000, \
api_url='https://slack.com/api')
    """

    webhook_url: str | None = attrs.field(default=None, repr=_shown_url)
    token: str | None = attrs.field(default=None, repr=_masked)
    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    icon_url: str | None = None
    thread_resolved: bool = True
    max_threads: int = 10_000
    api_url: str = API_URL

    def __attrs_post_init__(self) -> None:
        if (self.webhook_url is None) == (self.token is None):
            raise NotifierConfigError(
                "slack: give either webhook_url (incoming webhook) or token and channel "
                "(chat.postMessage), not both and not neither"
            )
        if self.webhook_url is not None:
            check_http_url(self.webhook_url, "slack webhook_url")
        if self.token is not None:
            if not isinstance(self.token, str) or not self.token.startswith("xox") or any(
                c.isspace() or c == "\0" for c in self.token
            ):
                raise NotifierConfigError(
                    "slack token must be a Slack token such as xoxb-… (without spaces)"
                )
            if self.channel is None:
                raise NotifierConfigError("slack: a token needs a channel (ID or #name)")
        check_optional_text(self.channel, "slack channel", max_len=80)
        check_optional_text(self.username, "slack username", max_len=80)
        check_optional_text(self.icon_emoji, "slack icon_emoji", max_len=100)
        if self.icon_url is not None:
            check_http_url(self.icon_url, "slack icon_url")
        check_bool(self.thread_resolved, "slack thread_resolved")
        check_positive(self.max_threads, "slack max_threads")
        check_http_url(self.api_url, "slack api_url")

    @property
    def mode(self) -> str:
        """``"webhook"`` or ``"api"``."""
        return "webhook" if self.webhook_url is not None else "api"


class SlackNotifier(HttpChannel):
    """Sends notifications to Slack (see :class:`SlackConfig`).

    URL forms (:meth:`from_url`, scheme ``slack``):

    - ``slack://T000/B000/XXXX`` — the incoming webhook
      ``https://hooks.slack.com/services/T000/B000/XXXX``; the webhook's own
      ``https://hooks.slack.com/services/…`` URL is accepted too;
    - ``slack://xoxb-TOKEN/CHANNEL`` — ``chat.postMessage`` to ``CHANNEL``
      (an ID such as ``C0123ABC``, or ``#alerts``);
    - query options ``username``, ``icon_emoji``, ``icon_url``,
      ``thread_resolved=no``.

    >>> SlackNotifier.from_url("slack://xoxb-1-2-abc/%23alerts?username=alertkit")
    SlackNotifier(mode='api', channel='#alerts')
    """

    kind = "slack"
    formats = ("slack",)

    def __init__(self, config: SlackConfig) -> None:
        if not isinstance(config, SlackConfig):
            raise NotifierConfigError(
                f"SlackNotifier needs a SlackConfig, got {type(config).__name__}"
            )
        secrets: list[str | None] = [config.token]
        if config.webhook_url is not None:
            path = httpx.URL(config.webhook_url).path
            secrets += [config.webhook_url, path, path.rstrip("/").rsplit("/", 1)[-1]]
        super().__init__(secrets)
        self.config = config
        self._threads: OrderedDict[str, tuple[str, str]] = OrderedDict()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SlackNotifier:
        """A notifier from a ``slack://`` URL; ``options`` set other :class:`SlackConfig` fields."""
        if isinstance(url, str) and url.lower().startswith("https://"):
            return cls(SlackConfig(webhook_url=check_http_url(url, "slack webhook URL"),
                                   **options))
        _, rest, query = split_url(url, ("slack",), "slack")
        fields: dict[str, Any] = dict(query_options(query, _URL_OPTIONS, "slack"))
        if "thread_resolved" in fields:
            fields["thread_resolved"] = parse_flag(fields["thread_resolved"],
                                                   "slack URL option thread_resolved")
        parts = url_parts(rest)
        if len(parts) == 2 and parts[0].startswith("xox"):
            fields.update(token=parts[0], channel=parts[1])
        elif len(parts) == 3 and not parts[0].startswith("xox"):
            fields["webhook_url"] = f"{HOOKS_URL}/services/{'/'.join(parts)}"
        else:
            raise NotifierConfigError(
                f"slack URL {redact_url(url)} must be slack://T…/B…/SECRET (incoming webhook) "
                f"or slack://xoxb-TOKEN/CHANNEL (chat.postMessage)"
            )
        fields.update(options)
        return cls(SlackConfig(**fields))

    # -- the message ------------------------------------------------------------------

    def _alert_blocks(self, n: Notification) -> list[dict[str, Any]]:
        body = rendered_body(n, "slack")
        if body.strip() and len(body) <= MAX_SECTION_CHARS:
            return [_section(body)]
        alerts = [(a, "firing") for a in n.firing] + [(a, "resolved") for a in n.resolved]
        room = MAX_BLOCKS - 2  # the header block, and the "more" note if needed
        blocks: list[dict[str, Any]] = []
        used = 0
        for alert, status in alerts:
            text = truncate(slack_line(alert, status), MAX_SECTION_CHARS)
            if len(blocks) == room or used + len(text) > MAX_ALERT_CHARS:
                break
            blocks.append(_section(text))
            used += len(text)
        left = len(alerts) - len(blocks) + n.truncated
        if left or not blocks:  # Slack refuses an attachment without blocks
            note = f"… and {left} more alert(s) not shown" if left else "(no alerts)"
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
        return blocks

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The JSON body for ``notification`` (without ``thread_ts``, which :meth:`send` adds).

        The alerts are the rendered ``body.slack`` text when it fits in one
        section, else one section per alert, as many as the limits allow,
        then "… and N more alert(s) not shown".
        """
        # Slack rejects an empty header or section: an empty rendered title gets a stand-in.
        title = title_text(notification).strip() or (
            f"[{notification.status.upper()}] {notification.receiver}")
        severity = worst(notification)
        color = RESOLVED_COLOR if severity is None else severity_color(severity)
        body: dict[str, Any] = {}
        if self.config.channel is not None:
            body["channel"] = self.config.channel
        body["text"] = truncate(title, MAX_TEXT_CHARS)
        body["blocks"] = [{"type": "header", "text": {
            "type": "plain_text", "text": truncate(title, MAX_HEADER_CHARS), "emoji": True}}]
        body["attachments"] = [{"color": color, "blocks": self._alert_blocks(notification)}]
        for name in ("username", "icon_emoji", "icon_url"):
            value = getattr(self.config, name)
            if value is not None:
                body[name] = value
        return body

    # -- sending ----------------------------------------------------------------------

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        body = self.payload(notification)
        if self.config.webhook_url is not None:
            result, _ = await self.post(context, self.config.webhook_url, json=body)
            return result
        key = notification.group_key
        thread = None
        if self.config.thread_resolved and not notification.firing:
            thread = self._threads.get(key)
            if thread is not None:
                body["channel"], body["thread_ts"] = thread

        def classify(response: httpx.Response, now: float) -> DeliveryResult:
            result, answer = self._classify_api(response, now)
            if isinstance(result, Delivered) and self.config.thread_resolved:
                if notification.firing and answer is not None:
                    self._remember(key, answer)
                elif thread is not None:
                    self._threads.pop(key, None)
            return result

        result, _ = await self.post(
            context, self.config.api_url.rstrip("/") + "/chat.postMessage", json=body,
            headers={"authorization": f"Bearer {self.config.token}"}, classify=classify,
        )
        return result

    def _remember(self, key: str, answer: tuple[str, str]) -> None:
        self._threads[key] = answer
        self._threads.move_to_end(key)
        while len(self._threads) > self.config.max_threads:
            self._threads.popitem(last=False)

    def thread_of(self, group_key: str) -> tuple[str, str] | None:
        """The ``(channel, ts)`` of the firing message remembered for a group (API mode)."""
        return self._threads.get(group_key)

    def _classify_api(
        self, response: httpx.Response, now: float
    ) -> tuple[DeliveryResult, tuple[str, str] | None]:
        status = response.status_code
        if status != 200:
            detail = "" if response.is_success else self.detail(response)
            return classify_http_status(status, response.headers, now=now, detail=detail), None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            return Failed(f"Slack API: unexpected answer: {self.detail(response)}", 200), None
        if answer["ok"]:
            ts, channel = answer.get("ts"), answer.get("channel")
            if isinstance(ts, str) and isinstance(channel, str):
                return Delivered(200, detail=f"ts={ts}"), (channel, ts)
            return Delivered(200), None
        error = self.scrub(str(answer.get("error", "unknown error")))[:200]
        if error in _RETRY_ERRORS:
            when = retry_at(response.headers.get("retry-after"), now)
            return Retry(f"Slack API error: {error}", 200, retry_at=when), None
        return Failed(f"Slack API error: {error}", 200), None

    def __repr__(self) -> str:
        if self.config.webhook_url is not None:
            return f"SlackNotifier(mode='webhook', url={redact_url(self.config.webhook_url)!r})"
        return f"SlackNotifier(mode='api', channel={self.config.channel!r})"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


default_registry.register("slack", SlackNotifier.from_url, schemes=["slack"])
