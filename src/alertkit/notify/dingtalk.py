"""DingTalk: a group's custom robot posts each notification as a markdown message.

The request is ``POST /robot/send?access_token=…`` with ``{"msgtype":
"markdown", "markdown": {"title", "text"}, "at": {"atMobiles", "isAtAll"}}``.
With a signing secret ("加签" security setting) the query also carries
``timestamp`` (Unix milliseconds) and ``sign`` = URL-encoded
base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")).
(https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages)

DingTalk answers HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``, or an
error code: 130101 ("send too fast", over 20 messages a minute per robot)
is retried after 60 s, -1 ("system busy") with the usual backoff, anything
else (310000, a failed security check: signature, keyword, IP…) fails with
DingTalk's message. The access token and the secret are kept out of
``repr``, results and logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

import attrs
import httpx

from alertkit._core.model import Alert
from alertkit._dispatch.notification import DeliveryResult, Notification
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, truncate, truncate_bytes
from ._robots import (
    check_api_url,
    check_text,
    classify_json,
    errcode_error,
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

__all__ = ["DingTalkConfig", "DingTalkNotifier", "dingtalk_sign"]

#: alertkit's budget for the markdown text, in bytes of UTF-8 (DingTalk rejects large bodies).
MAX_BYTES = 20_000
#: "send too fast": over 20 messages per minute per robot.
RATE_LIMITED = 130101
_SCHEMES = ("dingtalk",)
_MOBILE = re.compile(r"\+?[0-9][0-9-]{4,19}\Z")
_ANNOTATION_CHARS = 500


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign`` (before URL-encoding) for a timestamp in milliseconds.

    >>> dingtalk_sign("SECexample", 1700000000000)
    'uroalHrWHORz59talE1o26b8HuX2kOp8WlAN91F9Pj0='
    """
    message = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _mobiles(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        raise NotifierConfigError("dingtalk at_mobiles must be a list of phone numbers, not a str")
    if not isinstance(value, Iterable):
        raise NotifierConfigError("dingtalk at_mobiles must be a list of phone numbers")
    try:
        return tuple(value)
    except TypeError:
        raise NotifierConfigError("dingtalk at_mobiles must be a list of phone numbers") from None


def _check(config: DingTalkConfig) -> None:
    check_text(config.access_token, "access_token", "dingtalk")
    if config.secret is not None:
        check_text(config.secret, "secret", "dingtalk")
    for mobile in config.at_mobiles:
        if not isinstance(mobile, str) or not _MOBILE.match(mobile):
            raise NotifierConfigError(
                f"dingtalk at_mobiles: {mobile!r} is not a phone number (digits, optional + and -)"
            )
    if not isinstance(config.at_all, bool):
        raise NotifierConfigError("dingtalk at_all must be True or False")
    limit = config.max_bytes
    if isinstance(limit, bool) or not isinstance(limit, int) or not 500 <= limit <= MAX_BYTES:
        raise NotifierConfigError(f"dingtalk max_bytes must be an int in 500..{MAX_BYTES}")
    check_api_url(config.api_url, "dingtalk")


@attrs.frozen(kw_only=True)
class DingTalkConfig:
    """Where and how a :class:`DingTalkNotifier` posts.

    - ``access_token``: the ``access_token`` of the robot's webhook URL; secret.
    - ``secret``: the signing secret (``SEC…``) if the robot uses "加签"; secret.
    - ``at_mobiles``: phone numbers of members to @-mention (firing messages only).
    - ``at_all``: @-mention everyone (firing messages only).
    - ``max_bytes``: the markdown text budget in bytes of UTF-8.
    - ``api_url``: the API's base URL (tests, proxies).
    """

    access_token: str = attrs.field(repr=False)
    secret: str | None = attrs.field(default=None, repr=False)
    at_mobiles: tuple[str, ...] = attrs.field(default=(), converter=_mobiles)
    at_all: bool = False
    max_bytes: int = MAX_BYTES
    api_url: str = "https://oapi.dingtalk.com"

    def __attrs_post_init__(self) -> None:
        _check(self)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _render(alert: Alert, status: str) -> str:
    labels = labels_text(alert.labels)
    head = f"{_flat(alert.rule)}" + (f" {_flat(labels)}" if labels else "")
    if status == "resolved":
        return f"- ✅ **RESOLVED** {head}"
    lines = [f"- {severity_emoji(alert.severity)} **{str(alert.severity).upper()}** {head} "
             f"(value {value_text(alert)})"]
    for key, value in alert.annotations.items():
        lines.append(f"  > {_flat(key)}: {_flat(truncate(value, _ANNOTATION_CHARS))}")
    return "\n".join(lines)



class DingTalkNotifier(HttpChannel):
    """Sends notifications to a DingTalk group through its custom robot.

    URL form: ``dingtalk://[SECRET@]ACCESS_TOKEN`` with query options
    ``at=MOBILE,MOBILE`` and ``at_all=yes|no``; keyword options of
    :meth:`from_url` are :class:`DingTalkConfig` fields.

    >>> bot = DingTalkNotifier.from_url("dingtalk://SECabc123@0123456789abcdef?at=13800000000")
    >>> bot
    DingTalkNotifier(signed=True, at_mobiles=('13800000000',), api_url='https://oapi.dingtalk.com')
    """

    kind = "dingtalk"
    formats: tuple[str, ...] = ("plain",)

    def __init__(self, config: DingTalkConfig) -> None:
        if not isinstance(config, DingTalkConfig):
            raise NotifierConfigError(
                f"DingTalkNotifier needs a DingTalkConfig, got {type(config).__name__}"
            )
        super().__init__([config.access_token, config.secret])
        self.config = config

    @classmethod
    def from_url(cls, url: str, **options: Any) -> DingTalkNotifier:
        """A notifier from ``dingtalk://[SECRET@]ACCESS_TOKEN[?at=…&at_all=…]``."""
        scheme, secret, segments, query = split_robot_url(url, _SCHEMES, "dingtalk")
        if len(segments) != 1:
            raise NotifierConfigError(f"{scheme}://*** URL must be {scheme}://[SECRET@]TOKEN")
        reject_unknown(query, ("at", "at_all"), scheme)
        fields: dict[str, Any] = {"access_token": segments[0], "secret": secret}
        if "at" in query:
            fields["at_mobiles"] = tuple(m for m in query["at"].split(",") if m)
        if "at_all" in query:
            fields["at_all"] = parse_bool(query["at_all"], "at_all", "dingtalk")
        fields.update(options)
        return cls(make_config(DingTalkConfig, fields, "dingtalk"))

    def url(self, now: float) -> str:
        """The request URL at ``now`` (epoch seconds): token, then timestamp and sign if signed."""
        query: dict[str, str] = {"access_token": self.config.access_token}
        if self.config.secret is not None:
            timestamp = int(now * 1000)
            query["timestamp"] = str(timestamp)
            query["sign"] = dingtalk_sign(self.config.secret, timestamp)
        return f"{self.config.api_url}/robot/send?{urlencode(query)}"

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The JSON body for ``notification``."""
        limit = self.config.max_bytes
        title = truncate(_flat(rendered(notification, "title")), 100)
        mention = notification.status == "firing"
        mobiles = list(self.config.at_mobiles) if mention else []
        tail = " ".join(f"@{m}" for m in mobiles)
        header = f"#### {title}\n\n"
        room = limit - len(header.encode()) - (len(tail) + 2 if tail else 0)
        body = lines_within(notification, _render, max_bytes=max(room, 0), separator="\n\n")
        # The mentions must stay (DingTalk only notifies numbers written in the text).
        text = truncate_bytes(header + body, limit - (len(tail) + 2 if tail else 0))
        text += f"\n\n{tail}" if tail else ""
        return {
            "msgtype": "markdown",
            "markdown": {"title": title, "text": text},
            "at": {"atMobiles": mobiles, "isAtAll": self.config.at_all and mention},
        }

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        result, _ = await self.post(context, self.url(context.now),
                                    json=self.payload(notification), classify=self._classify)
        return result

    def _classify(self, response: httpx.Response, now: float) -> DeliveryResult:
        return classify_json(response, now, service="dingtalk", error_of=errcode_error,
                             retry_codes={RATE_LIMITED: 60.0, -1: None}, scrub=self.scrub)

    def __repr__(self) -> str:
        return (f"DingTalkNotifier(signed={self.config.secret is not None}, "
                f"at_mobiles={self.config.at_mobiles!r}, api_url={self.config.api_url!r})")


default_registry.register("dingtalk", DingTalkNotifier.from_url, schemes=list(_SCHEMES))
