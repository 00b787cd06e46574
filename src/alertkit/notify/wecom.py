"""WeCom (WeChat Work): a group robot posts each notification as a markdown message.

The request is ``POST /cgi-bin/webhook/send?key=KEY`` with ``{"msgtype":
"markdown", "markdown": {"content": "…"}}``; the content is at most 4,096
bytes of UTF-8, so alert blocks are fitted by bytes and the rest counted
("… and N more alert(s) not shown"). Severity shows in WeCom's three
markdown colours: ``warning`` (orange-red) for critical, high and medium,
``comment`` (grey) for low and info, ``info`` (green) for resolved.
(https://developer.work.weixin.qq.com/document/path/91770)

WeCom answers HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}`` or an error
code: 45009 (over 20 messages a minute per robot) is retried after 60 s,
-1 (system busy) with the usual backoff; others (93000 invalid key, 40058
bad content…) fail with WeCom's message. The key is the credential: it
never appears in ``repr``, results or logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

import attrs
import httpx

from alertkit._core.model import Alert, Severity
from alertkit._dispatch.notification import DeliveryResult, Notification
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, highest_severity, truncate, truncate_bytes
from ._robots import (
    check_api_url,
    check_text,
    classify_json,
    errcode_error,
    labels_text,
    lines_within,
    make_config,
    reject_unknown,
    rendered,
    split_robot_url,
    value_text,
)
from .registry import default_registry
from .sender import DeliveryContext
from .templates import severity_emoji

__all__ = ["WeComConfig", "WeComNotifier", "wecom_color"]

#: WeCom's limit on ``markdown.content``, in bytes of UTF-8.
MAX_BYTES = 4096
#: "api freq out of limit": over 20 messages per minute per robot.
RATE_LIMITED = 45009
_SCHEMES = ("wecom", "wxwork")
_USER = re.compile(r"[A-Za-z0-9_.@-]{1,64}\Z")
_ANNOTATION_CHARS = 300


def wecom_color(severity: Severity | None, *, resolved: bool = False) -> str:
    """The WeCom markdown colour name for a severity.

    >>> wecom_color(Severity.CRITICAL), wecom_color(Severity.INFO), wecom_color(None, resolved=True)
    ('warning', 'comment', 'info')
    """
    if resolved:
        return "info"
    if severity is not None and severity >= Severity.MEDIUM:
        return "warning"
    return "comment"


def _users(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise NotifierConfigError("wecom mention_users must be a list of WeCom user ids")
    return tuple(value)


def _check(config: WeComConfig) -> None:
    check_text(config.key, "key", "wecom")
    for user in config.mention_users:
        if not isinstance(user, str) or not _USER.match(user):
            raise NotifierConfigError(
                f"wecom mention_users: {user!r} is not a WeCom user id (letters, digits, _ . @ -)"
            )
    limit = config.max_bytes
    if isinstance(limit, bool) or not isinstance(limit, int) or not 300 <= limit <= MAX_BYTES:
        raise NotifierConfigError(f"wecom max_bytes must be an int in 300..{MAX_BYTES}")
    check_api_url(config.api_url, "wecom")


@attrs.frozen(kw_only=True)
class WeComConfig:
    """Where and how a :class:`WeComNotifier` posts.

    - ``key``: the ``key`` of the robot's webhook URL; secret.
    - ``mention_users``: WeCom user ids to @-mention in firing messages.
    - ``max_bytes``: the content budget (at most 4,096 bytes of UTF-8).
    - ``api_url``: the API's base URL (tests, proxies).
    """

    key: str = attrs.field(repr=False)
    mention_users: tuple[str, ...] = attrs.field(default=(), converter=_users)
    max_bytes: int = MAX_BYTES
    api_url: str = "https://qyapi.weixin.qq.com"

    def __attrs_post_init__(self) -> None:
        _check(self)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _render(alert: Alert, status: str) -> str:
    labels = labels_text(alert.labels)
    head = _flat(alert.rule) + (f" {_flat(labels)}" if labels else "")
    if status == "resolved":
        return f'- <font color="info">✅ RESOLVED</font> {head}'
    color = wecom_color(alert.severity)
    lines = [f'- <font color="{color}">{severity_emoji(alert.severity)} '
             f"**{str(alert.severity).upper()}**</font> {head} (value {value_text(alert)})"]
    for key, value in alert.annotations.items():
        lines.append(f"> {_flat(key)}: {_flat(truncate(value, _ANNOTATION_CHARS))}")
    return "\n".join(lines)



class WeComNotifier(HttpChannel):
    """Sends notifications to a WeCom group through its robot.

    URL form: ``wecom://KEY`` (or ``wxwork://KEY``) with the query option
    ``mention=USERID,USERID``; keyword options of :meth:`from_url` are
    :class:`WeComConfig` fields.

    >>> WeComNotifier.from_url("wecom://693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa?mention=zhangsan")
    WeComNotifier(mention_users=('zhangsan',), api_url='https://qyapi.weixin.qq.com')
    """

    kind = "wecom"
    formats: tuple[str, ...] = ("plain",)

    def __init__(self, config: WeComConfig) -> None:
        if not isinstance(config, WeComConfig):
            raise NotifierConfigError(
                f"WeComNotifier needs a WeComConfig, got {type(config).__name__}"
            )
        super().__init__([config.key])
        self.config = config
        self._endpoint = f"{config.api_url}/cgi-bin/webhook/send"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> WeComNotifier:
        """A notifier from ``wecom://KEY[?mention=USERID,…]``."""
        scheme, userinfo, segments, query = split_robot_url(url, _SCHEMES, "wecom")
        if userinfo is not None or len(segments) != 1:
            raise NotifierConfigError(f"{scheme}://*** URL must be {scheme}://KEY")
        reject_unknown(query, ("mention",), scheme)
        fields: dict[str, Any] = {"key": segments[0]}
        if "mention" in query:
            fields["mention_users"] = tuple(u for u in query["mention"].split(",") if u)
        fields.update(options)
        return cls(make_config(WeComConfig, fields, "wecom"))

    def content(self, notification: Notification) -> str:
        """The markdown content: coloured title, alert blocks that fit, mentions."""
        firing = notification.status == "firing"
        color = wecom_color(highest_severity(notification), resolved=not firing)
        limit = self.config.max_bytes
        title = truncate_bytes(truncate(_flat(rendered(notification, "title")), 200), limit // 3)
        header = f'## <font color="{color}">{title}</font>\n\n'
        tail = " ".join(f"<@{u}>" for u in self.config.mention_users) if firing else ""
        room = limit - len(header.encode()) - (len(tail.encode()) + 2 if tail else 0)
        body = lines_within(notification, _render, max_bytes=max(room, 0), separator="\n")
        # The hard limit holds even with a very long mention list.
        return truncate_bytes(header + body + (f"\n\n{tail}" if tail else ""), limit)

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The JSON body for ``notification``."""
        return {"msgtype": "markdown", "markdown": {"content": self.content(notification)}}

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        result, _ = await self.post(
            context, f"{self._endpoint}?{urlencode({'key': self.config.key})}",
            json=self.payload(notification), classify=self._classify,
        )
        return result

    def _classify(self, response: httpx.Response, now: float) -> DeliveryResult:
        return classify_json(response, now, service="wecom", error_of=errcode_error,
                             retry_codes={RATE_LIMITED: 60.0, -1: None}, scrub=self.scrub)

    def __repr__(self) -> str:
        return (f"WeComNotifier(mention_users={self.config.mention_users!r}, "
                f"api_url={self.config.api_url!r})")


default_registry.register("wecom", WeComNotifier.from_url, schemes=list(_SCHEMES))
