"""Notification texts: a title and a body per format, rendered in jinja2's sandbox.

Formats: ``plain``, ``markdown``, ``html`` (autoescaped) and ``slack``
(Slack's mrkdwn). Each has a readable default; users override any of them
with a template string or a file (:class:`pathlib.Path`).

Rendered texts land in :attr:`Notification.texts <alertkit.Notification.texts>`
under ``"title"`` and ``"body"`` (plain), ``"body.markdown"``,
``"body.html"``, ``"body.slack"``. A template that fails while rendering
never loses the notification: that text falls back to the default template
(or, failing that, a minimal built-in text) and the error is returned, for
the delivery log.

What templates see:

- ``status`` (``"firing"`` / ``"resolved"``), ``receiver``, ``group_key``,
  ``idempotency_key``, ``truncated``, ``now`` (the notification's creation
  time, epoch seconds), ``links`` (from :class:`NotificationTemplates`);
- ``alerts`` (every alert, firing first) with ``alerts.firing`` and
  ``alerts.resolved``; each alert has ``status``, ``rule``, ``labels``,
  ``annotations``, ``severity``, ``value`` (prints like Prometheus'
  ``$value``), ``active_at``, ``fired_at``, ``resolved_at``, ``fingerprint``,
  ``no_data``;
- ``group_labels``, ``common_labels``, ``common_annotations``;
- filters ``humanize``, ``humanize_duration``, ``humanize_percentage``,
  ``format_value``, ``iso`` (epoch → ISO 8601), ``since`` (time since an
  instant, humanized), ``labels_text``, ``severity_emoji``,
  ``severity_color``, ``slack_escape``, ``md_escape``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from alertkit._core.model import Alert, Severity
from alertkit._core.templates import (
    GoFloat,
    format_value,
    humanize,
    humanize_duration,
    humanize_percentage,
)
from alertkit._dispatch.notification import Notification
from alertkit._errors import TemplateError

__all__ = [
    "FORMATS",
    "NotificationTemplates",
    "severity_color",
    "severity_emoji",
    "text_key",
]

FORMATS = ("plain", "markdown", "html", "slack")

_COLORS = {
    Severity.INFO: "#439fe0",
    Severity.LOW: "#2eb886",
    Severity.MEDIUM: "#daa038",
    Severity.HIGH: "#e8590c",
    Severity.CRITICAL: "#d00000",
}
_EMOJI = {
    Severity.INFO: "\u2139\ufe0f",
    Severity.LOW: "🔵",
    Severity.MEDIUM: "🟡",
    Severity.HIGH: "🟠",
    Severity.CRITICAL: "🔴",
}
RESOLVED_COLOR = "#2eb886"


def _severity(value: object) -> Severity | None:
    if isinstance(value, Severity):
        return value
    if isinstance(value, str):
        return Severity.__members__.get(value.upper())
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return Severity(value)
        except ValueError:
            return None
    return None


def severity_color(severity: object) -> str:
    """A hex colour for a severity (``Severity``, its name or its number); grey if unknown.

    >>> severity_color("critical")
    '#d00000'
    """
    sev = _severity(severity)
    return _COLORS[sev] if sev is not None else "#808080"


def severity_emoji(severity: object) -> str:
    """An emoji for a severity; ``❔`` if unknown."""
    sev = _severity(severity)
    return _EMOJI[sev] if sev is not None else "❔"


def text_key(part: str, fmt: str) -> str:
    """Where a rendered text is stored in ``Notification.texts``.

    >>> text_key("title", "plain"), text_key("body", "plain"), text_key("body", "html")
    ('title', 'body', 'body.html')
    """
    return part if fmt == "plain" or part == "title" else f"{part}.{fmt}"


def _iso(ts: object) -> str:
    if not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts):
        return ""
    dt = datetime.fromtimestamp(float(ts), tz=UTC)
    text = dt.isoformat(timespec="milliseconds" if ts % 1 else "seconds")
    return text.replace("+00:00", "Z")


@jinja2.pass_context
def _since(ctx: jinja2.runtime.Context, ts: object) -> str:
    now = ctx.get("now")
    if not isinstance(ts, int | float) or not isinstance(now, int | float):
        return ""
    return humanize_duration(max(0.0, float(now) - float(ts)))


def _labels_text(labels: object) -> str:
    if not isinstance(labels, Mapping):
        return ""
    return ", ".join(f"{k}={v}" for k, v in labels.items())


def _slack_escape(text: object) -> str:
    # Slack's mrkdwn: only these three are control characters.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>"})


def _md_escape(text: object) -> str:
    return str(text).translate(_MD_SPECIAL)


def _environment(*, html: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        autoescape=html, undefined=jinja2.Undefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        humanize=humanize,
        humanize_duration=humanize_duration,
        humanize_percentage=humanize_percentage,
        format_value=format_value,
        iso=_iso,
        since=_since,
        labels_text=_labels_text,
        severity_emoji=severity_emoji,
        severity_color=severity_color,
        slack_escape=_slack_escape,
        md_escape=_md_escape,
    )
    env.globals.update(severity_emoji=severity_emoji, severity_color=severity_color)
    return env


_TEXT_ENV = _environment(html=False)
_HTML_ENV = _environment(html=True)


def _env(fmt: str) -> SandboxedEnvironment:
    return _HTML_ENV if fmt == "html" else _TEXT_ENV


DEFAULT_TITLE = (
    "[{{ status|upper }}{% if status == 'firing' %}:{{ alerts.firing|length }}{% endif %}] "
    "{{ (group_labels.values()|join(' ')) or common_labels.get('alertname') or receiver }}"
)

_PLAIN_BODY = """\
{% for a in alerts.firing %}
{{ a.severity|severity_emoji }} FIRING {{ a.rule }} {{ a.labels|labels_text }}
  value {{ a.value }}, active since {{ a.active_at|iso }} ({{ a.active_at|since }})
{% for k, v in a.annotations.items() %}
  {{ k }}: {{ v }}
{% endfor %}
{% endfor %}
{% for a in alerts.resolved %}
✅ RESOLVED {{ a.rule }} {{ a.labels|labels_text }}
{% endfor %}
{% if truncated %}
… and {{ truncated }} more alert(s) not shown
{% endif %}
{% for name, url in links.items() %}
{{ name }}: {{ url }}
{% endfor %}
"""

_MARKDOWN_BODY = """\
{% for a in alerts.firing %}
- {{ a.severity|severity_emoji }} **FIRING** `{{ a.rule }}` {{ a.labels|labels_text|md_escape }} \
(value {{ a.value }}, since {{ a.active_at|iso }})
{% for k, v in a.annotations.items() %}
  - *{{ k }}*: {{ v|md_escape }}
{% endfor %}
{% endfor %}
{% for a in alerts.resolved %}
- ✅ **RESOLVED** `{{ a.rule }}` {{ a.labels|labels_text|md_escape }}
{% endfor %}
{% if truncated %}
- … and {{ truncated }} more alert(s) not shown
{% endif %}
{% for name, url in links.items() %}
[{{ name|md_escape }}]({{ url }})
{% endfor %}
"""

_HTML_BODY = """\
<ul>
{% for a in alerts.firing %}
<li><span style="color:{{ a.severity|severity_color }}">&#9679;</span> <b>FIRING</b> \
<code>{{ a.rule }}</code> {{ a.labels|labels_text }} (value {{ a.value }}, \
since {{ a.active_at|iso }})
{% if a.annotations %}<ul>{% for k, v in a.annotations.items() %}\
<li><i>{{ k }}</i>: {{ v }}</li>{% endfor %}</ul>{% endif %}
</li>
{% endfor %}
{% for a in alerts.resolved %}
<li><b>RESOLVED</b> <code>{{ a.rule }}</code> {{ a.labels|labels_text }}</li>
{% endfor %}
</ul>
{% if truncated %}
<p>… and {{ truncated }} more alert(s) not shown</p>
{% endif %}
{% for name, url in links.items() %}
<a href="{{ url }}">{{ name }}</a>
{% endfor %}
"""

_SLACK_BODY = """\
{% for a in alerts.firing %}
{{ a.severity|severity_emoji }} *FIRING* `{{ a.rule|slack_escape }}` \
{{ a.labels|labels_text|slack_escape }} (value {{ a.value }})
{% for k, v in a.annotations.items() %}
>*{{ k|slack_escape }}*: {{ v|slack_escape }}
{% endfor %}
{% endfor %}
{% for a in alerts.resolved %}
✅ *RESOLVED* `{{ a.rule|slack_escape }}` {{ a.labels|labels_text|slack_escape }}
{% endfor %}
{% if truncated %}
… and {{ truncated }} more alert(s) not shown
{% endif %}
{% for name, url in links.items() %}
<{{ url|slack_escape }}|{{ name|slack_escape }}>
{% endfor %}
"""

DEFAULT_BODIES = {
    "plain": _PLAIN_BODY,
    "markdown": _MARKDOWN_BODY,
    "html": _HTML_BODY,
    "slack": _SLACK_BODY,
}


def _compile(source: str, slot: str, fmt: str, origin: str) -> jinja2.Template:
    try:
        return _env(fmt).from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"notification template {slot!r}{origin}, line {exc.lineno}: {exc.message}"
        ) from None


def _source(value: str | Path, slot: str) -> tuple[str, str]:
    if isinstance(value, Path):
        try:
            return value.read_text(encoding="utf-8"), f" ({value})"
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise TemplateError(
                f"notification template {slot!r}: cannot read {value}: {reason}"
            ) from None
    if not isinstance(value, str):
        raise TemplateError(
            f"notification template {slot!r}: expected a string or a pathlib.Path, "
            f"got {type(value).__name__}"
        )
    return value, ""


_DEFAULTS: dict[str, jinja2.Template] = {}


def _default(slot: str) -> jinja2.Template:
    template = _DEFAULTS.get(slot)
    if template is None:
        fmt = "plain" if slot == "title" else slot
        source = DEFAULT_TITLE if slot == "title" else DEFAULT_BODIES[fmt]
        template = _DEFAULTS[slot] = _compile(source, slot, fmt, " (default)")
    return template


class _AlertList(list[dict[str, Any]]):
    """The ``alerts`` template variable: a list with ``firing`` and ``resolved`` views."""

    firing: list[dict[str, Any]]
    resolved: list[dict[str, Any]]


def _alert_view(a: Alert, status: str) -> dict[str, Any]:
    return {
        "status": status,
        "rule": a.rule,
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "severity": a.severity,
        "value": GoFloat(a.value),
        "active_at": a.active_at,
        "fired_at": a.fired_at,
        "resolved_at": a.resolved_at,
        "fingerprint": a.fingerprint,
        "no_data": a.no_data,
    }


def _minimal(n: Notification) -> str:
    """The text of last resort: needs no template, cannot fail."""
    names = sorted({a.rule for a in n.alerts})
    return (
        f"[{n.status.upper()}] {len(n.firing)} firing, {len(n.resolved)} resolved "
        f"({', '.join(names)}) for {n.receiver}"
    )


class NotificationTemplates:
    """A title template and body templates per format, compiled once.

    Values are template sources (``str``) or files (:class:`pathlib.Path`);
    anything left out uses the default. Syntax errors and unreadable files
    raise :class:`~alertkit.TemplateError` here, naming the template and the
    line; errors while rendering never raise (see :meth:`render`).

    >>> from pathlib import Path
    >>> t = NotificationTemplates(title="{{ alerts|length }} alert(s) for {{ receiver }}",
    ...                           links={"dashboard": "https://grafana.example/d/1"})
    >>> t.formats()
    ('plain', 'markdown', 'html', 'slack')
    """

    __slots__ = ("_links", "_sources", "_templates")

    def __init__(
        self,
        *,
        title: str | Path | None = None,
        body: str | Path | None = None,
        bodies: Mapping[str, str | Path] | None = None,
        links: Mapping[str, str] | None = None,
    ) -> None:
        merged: dict[str, str | Path] = dict(bodies or {})
        if body is not None:
            merged["plain"] = body
        for fmt in merged:
            if fmt not in FORMATS:
                raise TemplateError(
                    f"notification template format {fmt!r} is not one of {', '.join(FORMATS)}"
                )
        self._templates: dict[str, jinja2.Template] = {}
        self._sources: dict[str, str] = {}
        if title is not None:
            source, origin = _source(title, "title")
            self._templates["title"] = _compile(source, "title", "plain", origin)
            self._sources["title"] = source
        for fmt, value in merged.items():
            slot = text_key("body", fmt)
            source, origin = _source(value, slot)
            self._templates[fmt] = _compile(source, slot, fmt, origin)
            self._sources[fmt] = source
        if links is not None and not (
            isinstance(links, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in links.items())
        ):
            raise TemplateError("notification template links must map names to URL strings")
        self._links = dict(links or {})

    @staticmethod
    def formats() -> tuple[str, ...]:
        return FORMATS

    def context(self, n: Notification) -> dict[str, Any]:
        """The variables templates see for ``n``."""
        alerts = _AlertList(
            [_alert_view(a, "firing") for a in n.firing]
            + [_alert_view(a, "resolved") for a in n.resolved]
        )
        alerts.firing = alerts[: len(n.firing)]
        alerts.resolved = alerts[len(n.firing):]
        return {
            "status": n.status,
            "receiver": n.receiver,
            "group_key": n.group_key,
            "idempotency_key": n.idempotency_key,
            "truncated": n.truncated,
            "now": n.created_at,
            "links": self._links,
            "alerts": alerts,
            "group_labels": dict(n.group_labels),
            "common_labels": n.common_labels,
            "common_annotations": n.common_annotations,
        }

    def render(
        self, n: Notification, formats: Iterable[str] = ("plain",)
    ) -> tuple[dict[str, str], tuple[str, ...]]:
        """Render the title and a body per format: ``(texts, errors)``.

        Never raises for a template problem: a failing text falls back to
        the default template, then to a minimal built-in text, and its error
        is listed (``"template 'body.html': UndefinedError: ..."``).
        """
        context = self.context(n)
        texts: dict[str, str] = {}
        errors: list[str] = []
        slots = [("title", "plain")]
        for fmt in formats:
            if fmt not in FORMATS:
                errors.append(f"template format {fmt!r} is unknown; rendered as plain")
                fmt = "plain"
            slots.append(("body", fmt))
        for part, fmt in slots:
            key = text_key(part, fmt)
            if key in texts:
                continue
            slot = "title" if part == "title" else fmt
            template = self._templates.get(slot)
            text = None
            if template is not None:
                try:
                    text = template.render(context).strip()
                except Exception as exc:  # user code must not lose the notification
                    errors.append(f"template {key!r}: {type(exc).__name__}: {exc}")
            if text is None:
                try:
                    text = _default(slot).render(context).strip()
                except Exception as exc:  # pragma: no cover - the defaults are tested
                    errors.append(f"default template {key!r}: {type(exc).__name__}: {exc}")
                    text = _minimal(n)
            texts[key] = text
        return texts, tuple(errors)

    def __repr__(self) -> str:
        custom = ", ".join(sorted(self._templates)) or "defaults"
        return f"NotificationTemplates({custom})"
