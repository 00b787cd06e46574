"""Feishu / Lark: a group's custom bot posts each notification as a card (or a rich post).

The request is ``POST /open-apis/bot/v2/hook/{token}`` on ``open.feishu.cn``
(Lark: ``open.larksuite.com``). The default message is an interactive card
whose header colour follows the severity — Feishu's header templates
``red`` (critical), ``orange`` (high), ``yellow`` (medium), ``blue`` (low,
info), ``green`` (resolved) — with the alerts in a ``lark_md`` block;
``msg_type="post"`` sends a rich-text post instead. With a signing secret
the body carries ``timestamp`` (Unix seconds) and ``sign`` =
base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")): the key is
the string, the message empty.
(https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot)

Feishu answers ``{"code": 0, "msg": "success"}`` (older deployments
``{"StatusCode": 0, "StatusMessage": "success"}``); codes 9499 and 11232
are rate limits (100 messages a minute, 5 a second per bot) and retried,
others (19021 bad signature, 19024 keyword mismatch…) fail with Feishu's
message. The hook token and the secret never appear in ``repr``, results
or logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
from typing import Any, Literal

import attrs
import httpx

from alertkit._core.model import Alert, Severity
from alertkit._dispatch.notification import DeliveryResult, Notification
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, highest_severity, truncate
from ._robots import (
    BodyError,
    check_api_url,
    check_text,
    classify_json,
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

__all__ = ["FeishuConfig", "FeishuNotifier", "feishu_sign", "feishu_template"]

#: alertkit's budget for the alert text as JSON-encoded in the body (Feishu takes up to 20 KB).
MAX_BYTES = 18_000
#: Rate-limit codes: "too many request" and "frequency limited".
RATE_LIMITED = (9499, 11232)
DOMAINS = {"feishu": "https://open.feishu.cn", "lark": "https://open.larksuite.com"}
_SCHEMES = ("feishu", "lark")
_TEMPLATES = {
    Severity.CRITICAL: "red",
    Severity.HIGH: "orange",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "blue",
    Severity.INFO: "blue",
}
_ANNOTATION_CHARS = 500


def feishu_sign(secret: str, timestamp: int) -> str:
    """Feishu's ``sign`` for a timestamp in seconds.

    >>> feishu_sign("s3cret", 1700000000)
    'IX3eHI0/v/Td7jqJ0ynSEK3Dq5JY3HUZeoeMgVZeZGo='
    """
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def feishu_template(severity: Severity | None, *, resolved: bool = False) -> str:
    """The card header template (colour) for a severity.

    >>> feishu_template(Severity.HIGH), feishu_template(None, resolved=True)
    ('orange', 'green')
    """
    if resolved:
        return "green"
    return _TEMPLATES.get(severity, "blue") if severity is not None else "blue"


def _check(config: FeishuConfig) -> None:
    check_text(config.token, "token", "feishu")
    if config.secret is not None:
        check_text(config.secret, "secret", "feishu")
    if config.msg_type not in ("interactive", "post"):
        raise NotifierConfigError(
            f"feishu msg_type must be 'interactive' or 'post', not {config.msg_type!r}"
        )
    if config.domain not in DOMAINS:
        raise NotifierConfigError(
            f"feishu domain must be 'feishu' or 'lark', not {config.domain!r}"
        )
    if config.api_url is not None:
        check_api_url(config.api_url, "feishu")
    limit = config.max_bytes
    if isinstance(limit, bool) or not isinstance(limit, int) or not 500 <= limit <= MAX_BYTES:
        raise NotifierConfigError(f"feishu max_bytes must be an int in 500..{MAX_BYTES}")


@attrs.frozen(kw_only=True)
class FeishuConfig:
    """Where and how a :class:`FeishuNotifier` posts.

    - ``token``: the last part of the bot's webhook URL (``…/hook/{token}``); secret.
    - ``secret``: the signing secret, if the bot has "signature verification" on; secret.
    - ``msg_type``: ``"interactive"`` (a card, default) or ``"post"``.
    - ``domain``: ``"feishu"`` (open.feishu.cn) or ``"lark"`` (open.larksuite.com).
    - ``api_url``: a base URL overriding ``domain`` (tests, proxies).
    - ``max_bytes``: the alert text budget in bytes of UTF-8.
    """

    token: str = attrs.field(repr=False)
    secret: str | None = attrs.field(default=None, repr=False)
    msg_type: Literal["interactive", "post"] = "interactive"
    domain: Literal["feishu", "lark"] = "feishu"
    api_url: str | None = None
    max_bytes: int = MAX_BYTES

    def __attrs_post_init__(self) -> None:
        _check(self)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _md(text: str) -> str:
    # lark_md reads HTML entities; escaping < > & keeps alert text from forming tags.
    return html.escape(_flat(text), quote=False)


def _render_md(alert: Alert, status: str) -> str:
    labels = labels_text(alert.labels)
    head = _md(alert.rule) + (f" {_md(labels)}" if labels else "")
    if status == "resolved":
        return f"✅ **RESOLVED** {head}"
    lines = [f"{severity_emoji(alert.severity)} **{str(alert.severity).upper()}** {head} "
             f"(value {value_text(alert)})"]
    for key, value in alert.annotations.items():
        lines.append(f"\u3000*{_md(key)}*: {_md(truncate(value, _ANNOTATION_CHARS))}")
    return "\n".join(lines)


def _render_plain(alert: Alert, status: str) -> str:
    labels = labels_text(alert.labels)
    head = _flat(alert.rule) + (f" {_flat(labels)}" if labels else "")
    if status == "resolved":
        return f"✅ RESOLVED {head}"
    lines = [f"{severity_emoji(alert.severity)} {str(alert.severity).upper()} {head} "
             f"(value {value_text(alert)})"]
    for key, value in alert.annotations.items():
        lines.append(f"    {_flat(key)}: {_flat(truncate(value, _ANNOTATION_CHARS))}")
    return "\n".join(lines)


def _paragraphs(text: str) -> list[list[dict[str, str]]]:
    return [[{"tag": "text", "text": line}] for line in text.split("\n")]


def _json_size(value: object) -> int:
    """Bytes ``value`` takes in the request body (quotes and escapes included)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _error_of(body: dict[str, Any]) -> BodyError | None:
    code = body.get("code", body.get("StatusCode"))
    if code == 0:
        return None
    return code, str(body.get("msg", body.get("StatusMessage", ""))), None


class FeishuNotifier(HttpChannel):
    """Sends notifications to a Feishu or Lark group through its custom bot.

    URL form: ``feishu://[SECRET@]TOKEN`` or ``lark://[SECRET@]TOKEN`` (the
    Lark domain), with the query option ``msg_type=interactive|post``;
    keyword options of :meth:`from_url` are :class:`FeishuConfig` fields.

    >>> FeishuNotifier.from_url("lark://s3cret@0c2a4e6f-aaaa-bbbb-cccc-123456789abc")
    FeishuNotifier(msg_type='interactive', signed=True, api_url='https://open.larksuite.com')
    """

    kind = "feishu"
    formats: tuple[str, ...] = ("plain",)

    def __init__(self, config: FeishuConfig) -> None:
        if not isinstance(config, FeishuConfig):
            raise NotifierConfigError(
                f"FeishuNotifier needs a FeishuConfig, got {type(config).__name__}"
            )
        super().__init__([config.token, config.secret])
        self.config = config
        self.api_url = config.api_url or DOMAINS[config.domain]
        self._endpoint = f"{self.api_url}/open-apis/bot/v2/hook/{config.token}"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> FeishuNotifier:
        """A notifier from ``feishu://[SECRET@]TOKEN[?msg_type=…]`` or ``lark://…``."""
        scheme, secret, segments, query = split_robot_url(url, _SCHEMES, "feishu")
        if len(segments) != 1:
            raise NotifierConfigError(f"{scheme}://*** URL must be {scheme}://[SECRET@]TOKEN")
        reject_unknown(query, ("msg_type",), scheme)
        fields: dict[str, Any] = {"token": segments[0], "secret": secret, "domain": scheme}
        if "msg_type" in query:
            fields["msg_type"] = query["msg_type"]
        fields.update(options)
        return cls(make_config(FeishuConfig, fields, "feishu"))

    def _title(self, notification: Notification) -> str:
        return truncate(_flat(rendered(notification, "title")), 200)

    def card(self, notification: Notification) -> dict[str, Any]:
        """The interactive card: coloured header, alert lines that fit in ``lark_md``."""
        firing = notification.status == "firing"
        template = feishu_template(highest_severity(notification), resolved=not firing)
        text = lines_within(notification, _render_md, max_bytes=self.config.max_bytes,
                            separator="\n", size=_json_size)
        return {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": self._title(notification)},
                       "template": template},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": text}}],
        }

    def post_content(self, notification: Notification) -> dict[str, Any]:
        """The rich-text post: the title and one text paragraph per line."""
        text = lines_within(notification, _render_plain, max_bytes=self.config.max_bytes,
                            separator="\n", size=lambda t: _json_size(_paragraphs(t)))
        return {"post": {"zh_cn": {"title": self._title(notification),
                                   "content": _paragraphs(text)}}}

    def payload(self, notification: Notification, *, now: float | None = None
                ) -> dict[str, Any]:
        """The JSON body; signed at ``now`` (default: the notification's creation time)."""
        body: dict[str, Any] = {}
        if self.config.secret is not None:
            timestamp = int(notification.created_at if now is None else now)
            body["timestamp"] = str(timestamp)
            body["sign"] = feishu_sign(self.config.secret, timestamp)
        if self.config.msg_type == "interactive":
            body["msg_type"] = "interactive"
            body["card"] = self.card(notification)
        else:
            body["msg_type"] = "post"
            body["content"] = self.post_content(notification)
        return body

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        result, _ = await self.post(context, self._endpoint,
                                    json=self.payload(notification, now=context.now),
                                    classify=self._classify)
        return result

    def _classify(self, response: httpx.Response, now: float) -> DeliveryResult:
        return classify_json(response, now, service="feishu", error_of=_error_of,
                             retry_codes=dict.fromkeys(RATE_LIMITED), scrub=self.scrub)

    def __repr__(self) -> str:
        return (f"FeishuNotifier(msg_type={self.config.msg_type!r}, "
                f"signed={self.config.secret is not None}, api_url={self.api_url!r})")


default_registry.register("feishu", FeishuNotifier.from_url, schemes=list(_SCHEMES))
