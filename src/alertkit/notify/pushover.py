"""Pushover: one push message per notification, priority from the highest severity.

Wire format: https://pushover.net/api (POST ``/1/messages.json`` with form
fields; ``message`` at most 1,024 characters, ``title`` 250, ``url`` 512,
``url_title`` 100; priority -2..2, where the emergency priority 2 repeats
the alert every ``retry`` seconds (at least 30) until acknowledged or
``expire`` seconds (at most 10,800) pass). Success is ``{"status": 1}``;
a 4xx (bad token, unknown user, over the monthly quota: 429) is permanent,
a 5xx is retried.
"""

from __future__ import annotations

import html
import re
from typing import Any

import attrs
import httpx

from alertkit._core.model import Alert, Severity
from alertkit._dispatch.notification import Delivered, DeliveryResult, Failed, Notification
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, alert_lines, highest_severity, truncate
from ._checks import (
    check_base_url,
    check_int,
    check_str,
    check_token,
    classify_json_error,
    default_title,
    error_text,
    parse_service_url,
    summary_of,
    to_int,
    url_options,
)
from .registry import default_registry
from .sender import DeliveryContext
from .templates import RESOLVED_COLOR, severity_color

__all__ = ["PushoverConfig", "PushoverNotifier"]

MESSAGE_LIMIT = 1024
TITLE_LIMIT = 250
URL_LIMIT = 512
URL_TITLE_LIMIT = 100
LINE_LIMIT = 300  # one alert's text, before HTML escaping

#: alertkit severity → Pushover priority (capped by ``max_priority``).
PRIORITIES = {
    Severity.CRITICAL: 2,
    Severity.HIGH: 1,
    Severity.MEDIUM: 0,
    Severity.LOW: -1,
    Severity.INFO: -2,
}
RESOLVED_PRIORITY = -1

_KEY = re.compile(r"[A-Za-z0-9]{30}")
_DEVICE = re.compile(r"[A-Za-z0-9_-]{1,25}(,[A-Za-z0-9_-]{1,25})*")
_SOUND = re.compile(r"[A-Za-z0-9_-]{1,64}")


@attrs.frozen(kw_only=True)
class PushoverConfig:
    """Settings of a :class:`PushoverNotifier`.

    - ``token``: the application's API token; ``user``: the user or group
      key (30 characters each; secrets, never shown).
    - ``device``: deliver to these devices only (comma-separated names).
    - ``sound``: a Pushover sound name.
    - ``max_priority``: the highest priority sent (2 = emergency, the
      default; 1 keeps critical alerts from repeating until acknowledged).
    - ``retry`` / ``expire``: seconds between emergency repeats (≥ 30) and
      until they stop (≤ 10,800).
    - ``url`` / ``url_title``: a supplementary link shown with the message.
    - ``base_url``: the API root (default ``https://api.pushover.net``).
    """

    token: str = attrs.field(repr=False)
    user: str = attrs.field(repr=False)
    device: str | None = None
    sound: str | None = None
    max_priority: int = 2
    retry: int = 60
    expire: int = 3600
    url: str | None = None
    url_title: str | None = None
    base_url: str = "https://api.pushover.net"

    def __attrs_post_init__(self) -> None:
        check_token("pushover", "token", self.token, pattern=_KEY, hint="30 letters and digits")
        check_token("pushover", "user", self.user, pattern=_KEY, hint="30 letters and digits")
        if self.device is not None and not (
            isinstance(self.device, str) and _DEVICE.fullmatch(self.device)
        ):
            raise NotifierConfigError(
                "pushover: device must be device names (letters, digits, _ and -, up to 25 "
                "characters each) separated by commas"
            )
        if self.sound is not None and not (
            isinstance(self.sound, str) and _SOUND.fullmatch(self.sound)
        ):
            raise NotifierConfigError("pushover: sound must be a Pushover sound name")
        check_int("pushover", "max_priority", self.max_priority, -2, 2)
        check_int("pushover", "retry", self.retry, 30, 10_800)
        check_int("pushover", "expire", self.expire, 30, 10_800)
        if self.url is not None:
            check_base_url("pushover", self.url, "url", link=True)
            if len(self.url) > URL_LIMIT:
                raise NotifierConfigError(f"pushover: url is longer than {URL_LIMIT} characters")
        if self.url_title is not None:
            check_str("pushover", "url_title", self.url_title, max_len=URL_TITLE_LIMIT)
        object.__setattr__(self, "base_url", check_base_url("pushover", self.base_url))

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/1/messages.json"


class PushoverNotifier(HttpChannel):
    """Sends each notification as one Pushover message (HTML formatted).

    URL form: ``pushover://USER_KEY@APP_TOKEN[/DEVICE[/DEVICE…]]`` with query
    options ``sound``, ``max_priority``, ``retry``, ``expire``, ``url``,
    ``url_title`` and ``base_url``::

        pushover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi/phone

    The priority is that of the most severe firing alert (critical 2,
    high 1, medium 0, low -1, info -2, capped at ``max_priority``); a
    notification of resolved alerts only is sent at -1. The message lists
    one line per alert, coloured by severity, as many as fit in 1,024
    characters, then how many were left out.

    >>> PushoverNotifier(PushoverConfig(token="a" * 30, user="u" * 30, device="phone"))
    PushoverNotifier(endpoint='https://api.pushover.net/1/messages.json', device='phone')
    """

    kind = "pushover"
    formats: tuple[str, ...] = ("plain",)

    def __init__(self, config: PushoverConfig) -> None:
        if not isinstance(config, PushoverConfig):
            raise NotifierConfigError(
                f"PushoverNotifier needs a PushoverConfig, got {type(config).__name__}"
            )
        super().__init__([config.token, config.user])
        self.config = config

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PushoverNotifier:
        """A notifier from ``pushover://USER_KEY@APP_TOKEN/DEVICE?option=value…``.

        Keyword ``options`` are :class:`PushoverConfig` fields; they win over the URL's.
        """
        parts = parse_service_url("pushover", url, ["pushover"])
        if parts.user is None or parts.password is not None or parts.port is not None:
            raise NotifierConfigError(
                "pushover URL must be pushover://USER_KEY@APP_TOKEN[/DEVICE…]"
            )
        fields = url_options("pushover", parts.query, {
            "sound": str, "url": str, "url_title": str, "base_url": str,
            "max_priority": to_int("pushover", "max_priority"),
            "retry": to_int("pushover", "retry"), "expire": to_int("pushover", "expire"),
        })
        if parts.path:
            fields["device"] = ",".join(parts.path)
        fields.update(options)
        try:
            config = PushoverConfig(token=parts.host, user=parts.user, **fields)
        except TypeError as exc:
            raise NotifierConfigError(f"pushover: {exc}") from None
        return cls(config)

    def priority(self, notification: Notification) -> int:
        """The message's priority (see the class doc)."""
        if not notification.firing:
            return min(RESOLVED_PRIORITY, self.config.max_priority)
        severity = highest_severity(notification)
        value = PRIORITIES.get(severity, 0) if severity is not None else 0
        return min(value, self.config.max_priority)

    def message(self, notification: Notification) -> str:
        """The HTML message body: one line per alert, at most 1,024 characters."""

        def render(alert: Alert, status: str) -> str:
            text = html.escape(truncate(summary_of(alert), LINE_LIMIT))
            if status == "firing":
                color = severity_color(alert.severity)
                word = f"FIRING {alert.severity}".upper()
            else:
                color, word = RESOLVED_COLOR, "RESOLVED"
            return f'<font color="{color}"><b>{word}</b></font> {text}'

        return alert_lines(notification, render, max_chars=MESSAGE_LIMIT)

    def title(self, notification: Notification) -> str:
        """The rendered title (or a default one), at most 250 characters."""
        return default_title(notification, TITLE_LIMIT)

    def payload(self, notification: Notification) -> dict[str, str]:
        """The form fields posted for ``notification``."""
        cfg = self.config
        priority = self.priority(notification)
        fields = {
            "token": cfg.token,
            "user": cfg.user,
            "title": self.title(notification),
            "message": self.message(notification) or self.title(notification),
            "html": "1",
            "priority": str(priority),
            "timestamp": str(int(notification.created_at)),
        }
        if priority == 2:
            fields["retry"] = str(cfg.retry)
            fields["expire"] = str(cfg.expire)
        for name in ("device", "sound", "url", "url_title"):
            value = getattr(cfg, name)
            if value is not None:
                fields[name] = value
        return fields

    def _classify(self, response: httpx.Response, now: float) -> DeliveryResult:
        result = classify_json_error(self, response, now, retry_429=False)
        if not isinstance(result, Delivered):
            return result
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == 1:
            request = body.get("request")
            return Delivered(status_code=response.status_code,
                             detail=f"request {request}" if isinstance(request, str) else "")
        detail = self.scrub(error_text(body))[:200] or self.detail(response)
        return Failed(f"Pushover refused the message: {detail}",
                      status_code=response.status_code)

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        result, _ = await self.post(context, self.config.endpoint, data=self.payload(notification),
                                    classify=self._classify)
        return result

    def __repr__(self) -> str:
        extra = f", device={self.config.device!r}" if self.config.device else ""
        return f"PushoverNotifier(endpoint={self.config.endpoint!r}{extra})"


default_registry.register("pushover", PushoverNotifier.from_url, schemes=["pushover"])
