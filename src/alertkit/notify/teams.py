"""Microsoft Teams: an Adaptive Card posted to a Teams Workflows (Power Automate) webhook.

Microsoft is retiring the Office 365 connectors and their ``MessageCard``
format; the current way to post into a channel is a Workflows webhook
("Post to a channel when a webhook request is received"), which takes a
``message`` whose attachment is an Adaptive Card
(https://learn.microsoft.com/en-us/connectors/teams/#microsoft-teams-webhook).
alertkit sends only that format.

The card has a coloured header container with the title (``attention`` for
critical/high, ``warning`` for medium, ``accent`` for low/info, ``good`` once
resolved), the alerts (the rendered Markdown body, or one text block per
alert when it does not fit) and a fact set of the group's labels. Teams
accepts about 28 KB per message
(https://learn.microsoft.com/en-us/microsoftteams/limits-specifications-teams):
alerts that would push the JSON past ``max_bytes`` are left out and counted
in "… and N more alert(s) not shown". The flow answers 202 Accepted.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import httpx

from alertkit._core.model import Alert, Severity
from alertkit._core.templates import format_value
from alertkit._dispatch.notification import DeliveryResult, Notification
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, truncate
from ._chatlayout import (
    check_http_url,
    check_positive,
    rendered_body,
    split_url,
    title_text,
    worst,
)
from .redact import redact_url
from .registry import default_registry
from .sender import DeliveryContext
from .templates import severity_emoji

__all__ = ["TeamsConfig", "TeamsNotifier"]

MAX_BYTES = 28_000
#: No single text block grows past this, so one alert cannot take the whole card.
MAX_BLOCK_CHARS = 4_000
MAX_FACTS = 20
MAX_TITLE = 1_000
#: Bytes kept for the "… and N more alert(s) not shown" block.
_NOTE_ROOM = 120
MIN_BYTES = 8_000

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

_STYLE = {
    Severity.CRITICAL: "attention",
    Severity.HIGH: "attention",
    Severity.MEDIUM: "warning",
    Severity.LOW: "accent",
    Severity.INFO: "accent",
}


def _shown_url(value: str) -> str:
    return repr(redact_url(value))


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


@attrs.frozen(kw_only=True)
class TeamsConfig:
    """Settings of a :class:`TeamsNotifier`.

    - ``webhook_url``: the Workflows webhook URL (it carries its signature
      in the query: a secret, masked in ``repr``).
    - ``max_bytes``: the largest JSON body sent (default 28,000).

    >>> TeamsConfig(webhook_url="https://prod-01.westeurope.logic.azure.com/workflows/abc/"
    ...             "triggers/manual/paths/invoke?api-version=2016-06-01&sig=s3cret")
    TeamsConfig(webhook_url='https://prod-01.westeurope.logic.azure.com/***?***', \
max_bytes=28000)
    """

    webhook_url: str = attrs.field(repr=_shown_url)
    max_bytes: int = MAX_BYTES

    def __attrs_post_init__(self) -> None:
        check_http_url(self.webhook_url, "teams webhook_url")
        check_positive(self.max_bytes, "teams max_bytes")
        if self.max_bytes < MIN_BYTES:
            raise NotifierConfigError(f"teams max_bytes must be at least {MIN_BYTES}")


def teams_line(alert: Alert, status: str) -> str:
    """One alert as Adaptive Card Markdown (a paragraph per part)."""
    mark = severity_emoji(alert.severity) if status == "firing" else "✅"
    labels = ", ".join(f"{k}={v}" for k, v in alert.labels.items() if k != "alertname")
    text = f"{mark} **{status.upper()}** {alert.rule} {labels}".rstrip()
    if status == "firing":
        text += f" (value {format_value(alert.value)})"
    summary = alert.annotations.get("summary") or alert.annotations.get("description")
    if summary:
        text += "\n\n" + " ".join(summary.split())
    return truncate(text, MAX_BLOCK_CHARS)


def _text(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


class TeamsNotifier(HttpChannel):
    """Sends notifications to a Teams channel through a Workflows webhook.

    URL forms (:meth:`from_url`): the webhook's own ``https://…`` URL, or
    ``teams://HOST/PATH?QUERY`` for ``https://HOST/PATH?QUERY``
    (``teams+http://`` for plain HTTP, e.g. a local relay). The whole query
    belongs to the webhook (it holds the signature), so there are no URL
    options; pass ``max_bytes=`` as a keyword.

    >>> TeamsNotifier.from_url("teams://prod-01.westeurope.logic.azure.com/workflows/abc"
    ...                        "/triggers/manual/paths/invoke?sig=s3cret")
    TeamsNotifier(url='https://prod-01.westeurope.logic.azure.com/***?***')
    """

    kind = "teams"
    formats = ("markdown",)

    def __init__(self, config: TeamsConfig) -> None:
        if not isinstance(config, TeamsConfig):
            raise NotifierConfigError(
                f"TeamsNotifier needs a TeamsConfig, got {type(config).__name__}"
            )
        url = httpx.URL(config.webhook_url)
        # The signature (``sig``) is the credential; the path identifies the flow.
        super().__init__([config.webhook_url, url.path, url.query.decode(),
                          url.params.get("sig")])
        self.config = config

    @classmethod
    def from_url(cls, url: str, **options: Any) -> TeamsNotifier:
        """A notifier from a ``teams://`` or webhook ``https://`` URL (``options``: config)."""
        if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
            return cls(TeamsConfig(webhook_url=url, **options))
        scheme, rest, query = split_url(url, ("teams", "teams+http"), "teams")
        target = ("http" if scheme == "teams+http" else "https") + "://" + rest
        if query:
            target += "?" + query
        return cls(TeamsConfig(webhook_url=check_http_url(target, "teams URL"), **options))

    def card(self, notification: Notification) -> dict[str, Any]:
        """The Adaptive Card for ``notification`` (the ``content`` of the attachment)."""
        n = notification
        severity = worst(n)
        style = "good" if severity is None else _STYLE[severity]
        header = {"type": "Container", "style": style, "bleed": True, "items": [
            _text(truncate(title_text(n), MAX_TITLE), weight="Bolder", size="Medium")]}
        facts = [{"title": truncate(k, 100), "value": truncate(v, 500)}
                 for k, v in list(n.group_labels.items())[:MAX_FACTS]]
        tail: list[dict[str, Any]] = [{"type": "FactSet", "facts": facts}] if facts else []
        card: dict[str, Any] = {
            "$schema": CARD_SCHEMA,
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": [header],
        }
        base = _size(self._message(card))
        # Labels are context; the alerts (or at least their count) come first.
        while facts and base + _size(tail) + 1 + _NOTE_ROOM > self.config.max_bytes:
            facts.pop()
            tail = [{"type": "FactSet", "facts": facts}] if facts else []
        budget = self.config.max_bytes - base - _size(tail) - len(tail)
        body = rendered_body(n, "markdown")
        if len(body) <= MAX_BLOCK_CHARS and _size(_text(body)) + 1 <= budget:
            blocks = [_text(body)]
        else:
            blocks = self._alert_blocks(n, budget)
        card["body"] = [header, *blocks, *tail]
        return card

    def _alert_blocks(self, n: Notification, budget: int) -> list[dict[str, Any]]:
        alerts = [(a, "firing") for a in n.firing] + [(a, "resolved") for a in n.resolved]
        total = len(alerts) + n.truncated
        # Room for the "more" note, sized for the largest count it could show.
        reserve = _size(_text(f"… and {total} more alert(s) not shown", isSubtle=True)) + 1
        blocks: list[dict[str, Any]] = []
        used = 0
        for alert, status in alerts:
            block = _text(teams_line(alert, status))
            cost = _size(block) + 1
            if used + cost + reserve > budget:
                break
            blocks.append(block)
            used += cost
        left = total - len(blocks)
        if left:
            blocks.append(_text(f"… and {left} more alert(s) not shown", isSubtle=True))
        return blocks

    @staticmethod
    def _message(card: dict[str, Any]) -> dict[str, Any]:
        return {"type": "message", "attachments": [
            {"contentType": CONTENT_TYPE, "content": card}]}

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The JSON body for ``notification``: a ``message`` with the Adaptive Card attached."""
        return self._message(self.card(notification))

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        result, _ = await self.post(context, self.config.webhook_url,
                                    json=self.payload(notification))
        return result

    def __repr__(self) -> str:
        return f"TeamsNotifier(url={redact_url(self.config.webhook_url)!r})"


default_registry.register("teams", TeamsNotifier.from_url, schemes=["teams", "teams+http"])
