"""The generic webhook: POST alertkit's notification JSON to a URL.

The body is, by ``payload=``: ``"alertkit"`` (default)
:func:`~alertkit.notification_to_dict` (schema version 1) with the rendered
texts; ``"alertmanager"``, Alertmanager's webhook body (version 4), for
receivers written for Alertmanager; or ``"template"``, a user's jinja2
template (sandboxed) rendered with the notification. Every request carries ``Idempotency-Key`` (the
notification's key, the same on every retry and after a restart), so a
receiver can drop the duplicates that at-least-once delivery may produce.
Requests carry exactly the notifier's headers (plus ``Host``,
``Content-Length`` and ``User-Agent: alertkit``): the shared client's
default headers and cookies are not added.
Optional request signing follows the Standard Webhooks convention
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).

Answers are classified by the common retry rule
(:func:`~alertkit.notify.http.classify_http_status`): 2xx delivered;
connection errors, timeouts, 408, 429, 500, 502, 503, 504 retried (honouring
``Retry-After``); anything else permanent. The URL, tokens and passwords
never appear in ``repr``, results or logs.

Receivers check signatures with :func:`verify_webhook_signature`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
import jinja2
from jinja2.sandbox import SandboxedEnvironment

from alertkit._dispatch.notification import DeliveryResult, Failed, Notification, Retry
from alertkit._errors import NotifierConfigError, WebhookSignatureError

from . import templates as _templates
from .alertmanager import alertmanager_webhook_payload
from .http import classify_http_status, post_request
from .redact import Redactor, redact_url
from .registry import default_registry
from .schema import notification_to_dict
from .sender import DeliveryContext
from .templates import NotificationTemplates

__all__ = ["PAYLOADS", "WebhookNotifier", "verify_webhook_signature"]

PAYLOADS = ("alertkit", "alertmanager", "template")
"""The body kinds of :class:`WebhookNotifier` (its ``payload=`` option)."""

_SCHEMES = {"http": "http", "https": "https", "webhook": "http", "webhooks": "https"}
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_RESERVED = {"content-type", "content-length", "idempotency-key", "host",
             "webhook-id", "webhook-timestamp", "webhook-signature"}
_DETAIL_LIMIT = 200


def _signing_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_"):], validate=True)
        except (binascii.Error, ValueError):
            raise NotifierConfigError(
                "webhook signing_secret starts with whsec_ but is not valid base64"
            ) from None
    return secret.encode()


def _template_env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=False, undefined=jinja2.StrictUndefined,
                               keep_trailing_newline=False)
    env.filters.update({k: v for k, v in _TEMPLATE_FILTERS.items() if k not in env.filters})
    return env


_TEMPLATE_FILTERS = dict(_templates._TEXT_ENV.filters)  # humanize, iso, labels_text...
_ENV = _template_env()
_CONTEXT = NotificationTemplates()  # only its context(): the variables templates see


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class WebhookNotifier:
    """POSTs each notification to ``url``.

    - ``url``: ``http(s)://…``, or ``webhook://…`` / ``webhooks://…`` (plain
      HTTP / HTTPS); ``user:password@`` in it becomes HTTP Basic auth.
    - ``headers``: extra request headers (values are treated as secrets).
    - ``bearer_token`` or ``basic_auth=(user, password)``: authentication.
    - ``signing_secret``: sign requests (Standard Webhooks; ``whsec_…`` secrets
      are base64-decoded, others used as UTF-8 bytes).
    - ``formats``: the body formats to render into ``texts`` (default plain).
    - ``payload``: ``"alertkit"`` (default), ``"alertmanager"`` (webhook body
      version 4; ``external_url`` and ``generator_url`` fill the fields of
      that name) or ``"template"`` (give ``template``, a jinja2 source; giving
      ``template`` alone implies it). The template sees the notification
      template variables (``status``, ``receiver``, ``alerts``,
      ``common_labels``, ``texts``...) plus ``alertkit`` and ``alertmanager``,
      the two built-in bodies as dicts, so ``{{ alertmanager|tojson }}`` or
      ``{"text": {{ texts.title|tojson }}}`` work. Undefined variables are
      errors.
    - ``content_type``: of a template body (default ``application/json``).
      With a JSON content type the rendered text must be valid JSON, or the
      delivery fails permanently with the parser's message (re-rendering
      the same template cannot fix it); with any other content type the text
      is sent as it is.

    >>> hook = WebhookNotifier("https://user:pw@hooks.example.com/T000/B000/XXXX",
    ...                        headers={"X-Api-Key": "k3y"})
    >>> hook
    WebhookNotifier('https://hooks.example.com/***', headers=['X-Api-Key'], auth='basic')
    """

    kind: ClassVar[str] = "webhook"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> WebhookNotifier:
        """The same as ``WebhookNotifier(url, **options)`` (the URL is the target itself)."""
        return cls(url, **options)

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        signing_secret: str | None = None,
        formats: tuple[str, ...] = ("plain",),
        payload: str | None = None,
        template: str | None = None,
        content_type: str | None = None,
        external_url: str = "",
        generator_url: str = "",
    ) -> None:
        secrets: list[str | None] = []
        self._url, user, password = self._parse_url(url)
        secrets += [url, self._url, user, password]
        if user is not None and basic_auth is None:
            basic_auth = (user, password or "")
        self._headers: dict[str, str] = {"content-type": "application/json"}
        for name, value in (headers or {}).items():
            if not isinstance(name, str) or not _HEADER_NAME.match(name):
                raise NotifierConfigError(f"webhook header name {name!r} is not valid")
            if name.lower() in _RESERVED:
                raise NotifierConfigError(f"webhook header {name!r} is set by alertkit itself")
            if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
                raise NotifierConfigError(
                    f"webhook header {name!r}: the value must be a string without line breaks"
                )
            self._headers[name] = value
            secrets.append(value)
        self._header_names = [n for n in self._headers if n != "content-type"]
        self._auth = ""
        if bearer_token is not None and basic_auth is not None:
            raise NotifierConfigError("webhook: give bearer_token or basic_auth, not both")
        if any(n.lower() == "authorization" for n in self._headers) and (
            bearer_token is not None or basic_auth is not None
        ):
            raise NotifierConfigError(
                "webhook: an Authorization header and bearer_token/basic_auth conflict"
            )
        if bearer_token is not None:
            if not isinstance(bearer_token, str) or not bearer_token or any(
                c in bearer_token for c in "\r\n\0 "
            ):
                raise NotifierConfigError("webhook: bearer_token must be a non-empty token")
            self._headers["authorization"] = f"Bearer {bearer_token}"
            self._auth = "bearer"
            secrets.append(bearer_token)
        elif basic_auth is not None:
            if not (isinstance(basic_auth, tuple) and len(basic_auth) == 2
                    and all(isinstance(x, str) for x in basic_auth)):
                raise NotifierConfigError("webhook: basic_auth must be a (user, password) tuple")
            token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
            self._headers["authorization"] = f"Basic {token}"
            self._auth = "basic"
            secrets += [basic_auth[0], basic_auth[1], token]
        self._signing_key: bytes | None = None
        if signing_secret is not None:
            if not isinstance(signing_secret, str) or not signing_secret:
                raise NotifierConfigError("webhook: signing_secret must be a non-empty string")
            self._signing_key = _signing_key(signing_secret)
            secrets.append(signing_secret)
        self.formats = tuple(formats)
        self._redactor = Redactor(secrets)
        self._init_payload(payload, template, content_type, external_url, generator_url)

    def _init_payload(self, payload: str | None, template: str | None,
                      content_type: str | None, external_url: str, generator_url: str) -> None:
        if payload is None:
            payload = "template" if template is not None else "alertkit"
        if payload not in PAYLOADS:
            raise NotifierConfigError(
                f"webhook payload {payload!r} is not one of {', '.join(PAYLOADS)}")
        self.payload_kind = payload
        self._template: jinja2.Template | None = None
        if payload == "template":
            if not isinstance(template, str) or not template.strip():
                raise NotifierConfigError(
                    "webhook payload 'template' needs template=, a non-empty jinja2 source")
            try:
                self._template = _ENV.from_string(template)
            except jinja2.TemplateSyntaxError as exc:
                raise NotifierConfigError(
                    f"webhook template, line {exc.lineno}: {exc.message}") from None
        elif template is not None:
            raise NotifierConfigError(
                f"webhook template= is only used with payload='template', not {payload!r}")
        if content_type is not None and payload != "template":
            raise NotifierConfigError("webhook content_type= is only used with a template")
        content_type = content_type or "application/json"
        if not isinstance(content_type, str) or not re.fullmatch(
            r"[\w.+-]+/[\w.+-]+(\s*;[ -~]*)?", content_type, flags=re.ASCII
        ):
            raise NotifierConfigError(
                f"webhook content_type {content_type!r} is not a media type like "
                f"application/json")
        self._headers["content-type"] = content_type
        for name, value in (("external_url", external_url), ("generator_url", generator_url)):
            if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
                raise NotifierConfigError(f"webhook {name} must be a one-line string")
        self._external_url = external_url
        self._generator_url = generator_url

    @staticmethod
    def _parse_url(url: object) -> tuple[str, str | None, str | None]:
        if not isinstance(url, str):
            raise NotifierConfigError(f"webhook URL must be a string, got {type(url).__name__}")
        shown = redact_url(url)
        if any(c in url for c in "\r\n\t\0 "):
            raise NotifierConfigError(f"webhook URL {shown} contains whitespace")
        try:
            parts = urlsplit(url)
            port = parts.port
            host = parts.hostname
        except ValueError as exc:
            # urllib's messages quote no part of the URL beyond the port number.
            raise NotifierConfigError(f"webhook URL {shown} is not valid: {exc}") from None
        scheme = _SCHEMES.get(parts.scheme.lower())
        if scheme is None:
            raise NotifierConfigError(
                f"webhook URL {shown}: scheme {parts.scheme!r} is not one of "
                f"{', '.join(sorted(_SCHEMES))}"
            )
        if not host:
            raise NotifierConfigError(f"webhook URL {shown} has no host")
        netloc = f"[{host}]" if ":" in host else host
        if port is not None:
            netloc += f":{port}"
        clean = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
        user = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        try:
            httpx.URL(clean)
        except (httpx.InvalidURL, ValueError):
            raise NotifierConfigError(f"webhook URL {shown} is not valid") from None
        return clean, user, password

    def payload(self, notification: Notification) -> Any:
        """The JSON value posted for ``notification`` (a template's text, parsed).

        Raises :class:`~alertkit.NotifierConfigError` if a template fails to
        render or, with a JSON content type, does not render valid JSON; a
        non-JSON template body has no JSON value (use :meth:`body`).
        """
        if self.payload_kind == "alertkit":
            return notification_to_dict(notification)
        if self.payload_kind == "alertmanager":
            return alertmanager_webhook_payload(
                notification, external_url=self._external_url,
                generator_url=self._generator_url)
        text = self._render(notification)
        if not _is_json(self._headers["content-type"]):
            raise NotifierConfigError(
                f"webhook template body is {self._headers['content-type']}, not JSON")
        return self._parse(text)

    def _render(self, notification: Notification) -> str:
        assert self._template is not None
        context = _CONTEXT.context(notification)
        context["texts"] = dict(notification.texts)
        context["alertkit"] = notification_to_dict(notification)
        context["alertmanager"] = alertmanager_webhook_payload(
            notification, external_url=self._external_url, generator_url=self._generator_url)
        try:
            return self._template.render(context)
        except Exception as exc:  # user code: report, never crash the worker
            message = self._redactor.scrub(str(exc))
            raise NotifierConfigError(
                f"webhook template failed: {type(exc).__name__}: {message}") from None

    def _parse(self, text: str) -> Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise NotifierConfigError(
                f"webhook template did not render valid JSON ({exc.msg} at line {exc.lineno}, "
                f"column {exc.colno}); set content_type to send other text"
            ) from None

    def body(self, notification: Notification) -> bytes:
        """The request body for ``notification``: compact JSON, or a non-JSON template's text."""
        if self.payload_kind == "template" and not _is_json(self._headers["content-type"]):
            return self._render(notification).encode()
        return json.dumps(
            self.payload(notification), separators=(",", ":"), allow_nan=False,
            ensure_ascii=False,
        ).encode()

    def _sign(self, key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
        signed = f"{msg_id}.{timestamp}.".encode() + body
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode()

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        try:
            body = self.body(notification)
        except NotifierConfigError as exc:  # a template problem: retrying cannot help
            return Failed(str(exc))
        headers = dict(self._headers)
        headers["idempotency-key"] = notification.idempotency_key
        if self._signing_key is not None:
            timestamp = int(context.now)
            headers["webhook-id"] = notification.idempotency_key
            headers["webhook-timestamp"] = str(timestamp)
            headers["webhook-signature"] = self._sign(
                self._signing_key, notification.idempotency_key, timestamp, body
            )
        try:
            response = await context.http.send(
                post_request(self._url, body, headers, timeout=context.timeout)
            )
        except httpx.TimeoutException as exc:
            return Retry(f"timeout ({type(exc).__name__})")
        except httpx.TransportError as exc:
            message = self._redactor.scrub(str(exc)).strip()
            return Retry(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)
        detail = ""
        if not response.is_success:
            text = " ".join(response.text.split())[:_DETAIL_LIMIT]
            detail = self._redactor.scrub(text)
        return classify_http_status(
            response.status_code, response.headers, now=context.now, detail=detail
        )

    def __repr__(self) -> str:
        parts = [repr(redact_url(self._url))]
        if self._header_names:
            parts.append(f"headers={self._header_names!r}")
        if self._auth:
            parts.append(f"auth={self._auth!r}")
        if self._signing_key is not None:
            parts.append("signed=True")
        if self.payload_kind != "alertkit":
            parts.append(f"payload={self.payload_kind!r}")
        return f"WebhookNotifier({', '.join(parts)})"


def _header(headers: Mapping[str, str] | Iterable[tuple[Any, Any]], name: str) -> str | None:
    items = headers.items() if isinstance(headers, Mapping) else headers
    found: list[str] = []
    for key, value in items:
        key = key.decode("latin-1") if isinstance(key, bytes) else key
        if isinstance(key, str) and key.lower() == name:
            found.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    if len(found) > 1:
        raise WebhookSignatureError(f"the {name} header is given {len(found)} times")
    return found[0] if found else None


def verify_webhook_signature(
    secret: str,
    headers: Mapping[str, str] | Iterable[tuple[Any, Any]],
    body: bytes | str,
    *,
    tolerance: float = 300,
    now: float | None = None,
) -> str:
    """Check a Standard Webhooks signature; return the message id (``webhook-id``).

    For receivers of :class:`WebhookNotifier` requests signed with
    ``signing_secret``: ``secret`` is that secret (``whsec_…`` base64 or
    plain), ``headers`` the request headers (a mapping, case-insensitive, or
    ASGI-style ``(name, value)`` pairs), ``body`` the raw body as received.
    The timestamp must be within ``tolerance`` seconds of ``now`` (default:
    the system clock), either way, which bounds replays; ``webhook-signature``
    may hold several space-separated ``v1,<base64>`` signatures (during a
    secret rotation), one matching is enough. Comparisons are constant-time.
    Raises :class:`~alertkit.WebhookSignatureError` saying what is wrong
    (never quoting the secret or the expected signature).

    >>> import base64, hashlib, hmac
    >>> sig = base64.b64encode(hmac.new(b"k", b"msg_1.1700000000.{}", hashlib.sha256).digest())
    >>> verify_webhook_signature("k", {"webhook-id": "msg_1", "webhook-timestamp": "1700000000",
    ...     "webhook-signature": "v1," + sig.decode()}, b"{}", now=1_700_000_100)
    'msg_1'
    """
    if not isinstance(secret, str) or not secret:
        raise WebhookSignatureError("the webhook secret must be a non-empty string")
    try:
        key = _signing_key(secret)
    except NotifierConfigError as exc:
        raise WebhookSignatureError(str(exc)) from None
    if isinstance(body, str):
        body = body.encode()
    if not isinstance(body, bytes | bytearray):
        raise WebhookSignatureError(f"the body must be bytes, got {type(body).__name__}")
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    missing = [n for n, v in (("webhook-id", msg_id), ("webhook-timestamp", stamp),
                              ("webhook-signature", signatures)) if not v]
    if missing:
        raise WebhookSignatureError(f"missing header(s): {', '.join(missing)}")
    assert msg_id is not None
    assert stamp is not None
    assert signatures is not None
    if not re.fullmatch(r"[0-9]{1,12}", stamp.strip()):
        raise WebhookSignatureError(f"webhook-timestamp {stamp[:40]!r} is not Unix seconds")
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
        raise WebhookSignatureError(f"tolerance must be a non-negative number, got {tolerance!r}")
    if abs(current - timestamp) > tolerance:
        raise WebhookSignatureError(
            f"webhook-timestamp {timestamp} is {current - timestamp:+.0f} s from now, outside "
            f"the tolerance of {tolerance:g} s")
    expected = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + bytes(body),
                        hashlib.sha256).digest()
    seen_v1 = False
    for candidate in signatures.split():
        version, sep, value = candidate.partition(",")
        if version != "v1" or not sep:
            continue
        seen_v1 = True
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(given, expected):
            return msg_id
    if not seen_v1:
        raise WebhookSignatureError("webhook-signature holds no v1 signature")
    raise WebhookSignatureError("no webhook signature matches (wrong secret or altered body)")


default_registry.register("webhook", WebhookNotifier, schemes=sorted(_SCHEMES))
