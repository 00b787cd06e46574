"""The generic webhook: POST alertkit's notification JSON to a URL.

The body is :func:`~alertkit.notification_to_dict` (schema version 1),
with the rendered texts. Every request carries ``Idempotency-Key`` (the
notification's key, the same on every retry and after a restart), so a
receiver can drop the duplicates that at-least-once delivery may produce.
Optional request signing follows the Standard Webhooks convention
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).

Answers are classified by the common retry rule
(:func:`~alertkit.notify.http.classify_http_status`): 2xx delivered;
connection errors, timeouts, 408, 429, 500, 502, 503, 504 retried (honouring
``Retry-After``); anything else permanent. The URL, tokens and passwords
never appear in ``repr``, results or logs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from alertkit._dispatch.notification import DeliveryResult, Notification, Retry
from alertkit._errors import NotifierConfigError

from .http import classify_http_status
from .redact import Redactor, redact_url
from .registry import default_registry
from .schema import notification_to_dict
from .sender import DeliveryContext

__all__ = ["WebhookNotifier"]

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


class WebhookNotifier:
    """POSTs each notification as JSON to ``url``.

    - ``url``: ``http(s)://…``, or ``webhook://…`` / ``webhooks://…`` (plain
      HTTP / HTTPS); ``user:password@`` in it becomes HTTP Basic auth.
    - ``headers``: extra request headers (values are treated as secrets).
    - ``bearer_token`` or ``basic_auth=(user, password)``: authentication.
    - ``signing_secret``: sign requests (Standard Webhooks; ``whsec_…`` secrets
      are base64-decoded, others used as UTF-8 bytes).
    - ``formats``: the body formats to render into ``texts`` (default plain).

    >>> hook = WebhookNotifier("https://user:pw@hooks.example.com/T000/B000/XXXX",
    ...                        headers={"X-Api-Key": "k3y"})
    >>> hook
    WebhookNotifier('https://hooks.example.com/***', headers=['X-Api-Key'], auth='basic')
    """

    kind: ClassVar[str] = "webhook"

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        signing_secret: str | None = None,
        formats: tuple[str, ...] = ("plain",),
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

    def body(self, notification: Notification) -> bytes:
        """The request body for ``notification`` (compact JSON, schema version 1)."""
        return json.dumps(
            notification_to_dict(notification), separators=(",", ":"), allow_nan=False,
            ensure_ascii=False,
        ).encode()

    def _sign(self, key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
        signed = f"{msg_id}.{timestamp}.".encode() + body
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode()

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        body = self.body(notification)
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
            response = await context.http.post(
                self._url, content=body, headers=headers, timeout=context.timeout
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
        return f"WebhookNotifier({', '.join(parts)})"


default_registry.register("webhook", WebhookNotifier, schemes=sorted(_SCHEMES))
