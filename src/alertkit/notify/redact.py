"""Keep secrets out of ``repr``, logs and error messages.

Webhook URLs often *are* the credential (Slack, Discord, Teams, DingTalk put
the token in the path or the query), so a URL is shown only as scheme, host
and port, with every other part masked.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["MASK", "Redactor", "redact_url"]

MASK = "***"


def redact_url(url: object) -> str:
    """``url`` with user info, path, query and fragment masked.

    Only ``http``/``https`` URLs keep their host and port; for any other
    scheme everything after it is masked, since notifier URLs such as
    ``telegram://TOKEN/CHAT`` hold the credential where the host would be.

    >>> redact_url("https://user:pw@hooks.example.com:8443/services/T0/B0/XYZ?token=abc#f")
    'https://***@hooks.example.com:8443/***?***'
    >>> redact_url("http://127.0.0.1:9000/")
    'http://127.0.0.1:9000/'
    >>> redact_url("not a url at all")
    '***'
    >>> redact_url("telegram://123456:AAE-token/987")
    'telegram://***'
    """
    if not isinstance(url, str):
        return MASK
    scheme, sep, _ = url.partition("://")
    if sep and scheme.lower() not in ("http", "https"):
        # Notifier URLs (telegram://TOKEN/…, pagerduty://KEY) often keep the secret
        # where a web URL keeps its host: show the scheme only.
        plain = scheme.isascii() and all(c.isalnum() or c in "+-." for c in scheme)
        return f"{scheme}://{MASK}" if plain else MASK
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return MASK
    if not parts.scheme or not host or any(c in url for c in "\r\n\t "):
        return MASK
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    text = f"{parts.scheme}://"
    if parts.username is not None or parts.password is not None:
        text += f"{MASK}@"
    text += host
    if port is not None:
        text += f":{port}"
    if parts.path not in ("", "/"):
        text += f"/{MASK}"
    elif parts.path == "/":
        text += "/"
    if parts.query:
        text += f"?{MASK}"
    return text


class Redactor:
    """Replaces known secret strings (tokens, passwords, whole URLs) in text.

    Notifiers build one from their secrets and pass every message that may
    quote them (exception texts from HTTP libraries, response bodies) through
    :meth:`scrub` before it reaches a log or a result.

    >>> Redactor(["s3cret"]).scrub("auth failed for s3cret")
    'auth failed for ***'
    """

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret containing another is masked whole; tiny strings
        # would mask innocent text and are not secrets worth the name.
        unique = {s for s in secrets if s and len(s) >= 4}
        self._secrets = tuple(sorted(unique, key=len, reverse=True))

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"
