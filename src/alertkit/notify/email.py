"""E-mail over SMTP: one ``multipart/alternative`` message (plain text, then HTML) per notification.

Connection security is one of ``"starttls"`` (port 587: connect, then
upgrade with STARTTLS), ``"tls"`` (port 465: TLS from the first byte) or
``"none"`` (port 25, for a local relay; credentials are refused over it
unless the relay is on the loopback interface). Certificates are verified
against the system's trust store, or a ``cafile`` / an
:class:`ssl.SSLContext` of yours. Authentication is ``LOGIN`` or ``PLAIN``
(or whatever the server prefers of those and ``CRAM-MD5``, with ``"auto"``).

The message carries ``From``, ``To`` (every recipient), ``Subject`` (a
per-severity prefix such as ``[CRITICAL]`` before the rendered title),
``Date``, and a ``Message-ID`` derived from the notification's idempotency
key and creation time, so a redelivery of the same notification has the same
id (receivers that drop duplicate ids drop it) while a later reminder about
the same alerts gets a new one. ``References`` names one id per alert group,
so mail clients thread a group's messages, and ``Auto-Submitted:
auto-generated`` keeps vacation responders quiet.

smtplib is blocking, so each delivery runs in a worker thread
(:func:`anyio.to_thread.run_sync`), bounded by the attempt's timeout. SMTP
replies map to results by their class: 4xx → :class:`~alertkit.Retry`,
5xx → :class:`~alertkit.Failed`; connection errors and timeouts are
retried; a certificate that fails verification, or a server without
STARTTLS or AUTH when they are needed, fails (retrying cannot fix it). If
the server accepts some recipients and refuses others, the notification
counts as delivered and the refusals are in the result's detail (a retry
would mail the accepted recipients twice). The password never appears in
``repr``, results or logs.
"""

from __future__ import annotations

import hashlib
import html
import ipaddress
import os
import smtplib
import ssl
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, getaddresses, parseaddr
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import unquote

import anyio.to_thread
import attrs

from alertkit._dispatch.notification import Delivered, DeliveryResult, Failed, Notification, Retry
from alertkit._errors import NotifierConfigError

from ._channel import highest_severity
from ._robots import make_config, reject_unknown, rendered, split_robot_url
from .redact import Redactor
from .registry import default_registry
from .sender import DeliveryContext

__all__ = ["DEFAULT_SUBJECT_PREFIXES", "EmailConfig", "EmailNotifier"]

DEFAULT_SUBJECT_PREFIXES: Mapping[str, str] = MappingProxyType({
    "critical": "[CRITICAL]",
    "high": "[HIGH]",
    "medium": "[MEDIUM]",
    "low": "[LOW]",
    "info": "[INFO]",
    "resolved": "[RESOLVED]",
})
_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_SCHEMES = ("smtp", "smtps")
_MAX_SUBJECT = 250


def _address(value: object, what: str) -> str:
    if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
        raise NotifierConfigError(f"email {what} must be a string without line breaks")
    _, addr = parseaddr(value)
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or " " in addr:
        raise NotifierConfigError(f"email {what} {value!r} is not an e-mail address")
    return value


def _recipients(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, Iterable):
        raise NotifierConfigError("email recipients must be a list of e-mail addresses")
    return tuple(value)


def _prefixes(value: object) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise NotifierConfigError("email subject_prefixes must map severities to prefixes")
    merged = dict(DEFAULT_SUBJECT_PREFIXES)
    for key, prefix in value.items():
        if key not in DEFAULT_SUBJECT_PREFIXES:
            raise NotifierConfigError(
                f"email subject_prefixes: {key!r} is not one of "
                f"{', '.join(DEFAULT_SUBJECT_PREFIXES)}"
            )
        if not isinstance(prefix, str) or any(c in prefix for c in "\r\n\0"):
            raise NotifierConfigError(
                f"email subject_prefixes[{key!r}] must be a string without line breaks"
            )
        merged[key] = prefix
    return MappingProxyType(merged)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check(c: EmailConfig) -> None:
    if not isinstance(c.host, str) or not c.host or any(
        ch.isspace() or ch in "/?#@" for ch in c.host
    ):
        raise NotifierConfigError("email host must be a host name or an IP address")
    if c.tls not in _PORTS:
        raise NotifierConfigError(f"email tls must be 'starttls', 'tls' or 'none', not {c.tls!r}")
    if c.port is not None and (
        isinstance(c.port, bool) or not isinstance(c.port, int) or not 0 < c.port < 65536
    ):
        raise NotifierConfigError("email port must be an int in 1..65535")
    _address(c.sender, "sender")
    if not c.recipients:
        raise NotifierConfigError("email recipients must name at least one address")
    for recipient in c.recipients:
        _address(recipient, "recipient")
    if c.auth not in ("auto", "login", "plain"):
        raise NotifierConfigError(f"email auth must be 'auto', 'login' or 'plain', not {c.auth!r}")
    if (c.username is None) != (c.password is None):
        raise NotifierConfigError("email username and password go together")
    if c.username is not None and (not isinstance(c.username, str) or not c.username):
        raise NotifierConfigError("email username must be a non-empty string")
    if c.password is not None and not isinstance(c.password, str):
        raise NotifierConfigError("email password must be a string")
    if c.username is not None and c.tls == "none" and not _is_loopback(c.host):
        raise NotifierConfigError(
            "email: refusing to send a password over an unencrypted connection to a remote "
            "host (use tls='starttls' or 'tls')"
        )
    if c.cafile is not None and c.ssl_context is not None:
        raise NotifierConfigError("email: give cafile or ssl_context, not both")
    if c.cafile is not None and (not isinstance(c.cafile, str) or not os.path.isfile(c.cafile)):
        raise NotifierConfigError(f"email cafile {c.cafile!r} is not a readable file")
    if c.ssl_context is not None and not isinstance(c.ssl_context, ssl.SSLContext):
        raise NotifierConfigError("email ssl_context must be an ssl.SSLContext")
    if c.local_hostname is not None and (
        not isinstance(c.local_hostname, str) or not c.local_hostname
        or any(ch.isspace() for ch in c.local_hostname)
    ):
        raise NotifierConfigError("email local_hostname must be a host name")


@attrs.frozen(kw_only=True)
class EmailConfig:
    """How an :class:`EmailNotifier` reaches its SMTP server and whom it mails.

    - ``host``, ``port``: the SMTP server (port default by ``tls``: 587,
      465 or 25).
    - ``tls``: ``"starttls"`` (default), ``"tls"`` (implicit TLS) or ``"none"``.
    - ``sender``: the ``From`` address (``"Alerts <alerts@example.com>"`` is fine).
    - ``recipients``: the ``To`` addresses (a list, or one comma-separated string).
    - ``username``, ``password``: SMTP AUTH credentials (the password is secret).
    - ``auth``: ``"auto"``, ``"login"`` or ``"plain"``.
    - ``cafile`` or ``ssl_context``: trust a private CA instead of the system store.
    - ``subject_prefixes``: prefixes by severity name and ``"resolved"``,
      merged over :data:`DEFAULT_SUBJECT_PREFIXES`.
    - ``local_hostname``: the name to greet the server with (EHLO).
    """

    host: str
    sender: str
    recipients: tuple[str, ...] = attrs.field(converter=_recipients)
    port: int | None = None
    tls: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    auth: Literal["auto", "login", "plain"] = "auto"
    cafile: str | None = None
    ssl_context: ssl.SSLContext | None = attrs.field(default=None, repr=False, eq=False)
    subject_prefixes: Mapping[str, str] = attrs.field(
        factory=dict, converter=_prefixes, hash=False
    )
    local_hostname: str | None = None

    def __attrs_post_init__(self) -> None:
        _check(self)

    @property
    def effective_port(self) -> int:
        """``port``, or the usual port for ``tls``."""
        return self.port if self.port is not None else _PORTS[self.tls]


def _reply_text(raw: object) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())


class EmailNotifier:
    """Sends notifications as e-mail through an SMTP server.

    URL form: ``smtp://[USER:PASSWORD@]HOST[:PORT]?from=ADDR&to=ADDR,ADDR``
    (STARTTLS; add ``tls=none`` for a plain local relay) or
    ``smtps://…`` (implicit TLS), with options ``auth=login|plain`` and
    ``cafile=PATH``; percent-encode ``@`` and ``:`` in the user name and
    password. Keyword options of :meth:`from_url` are :class:`EmailConfig`
    fields.

    >>> mail = EmailNotifier.from_url(
    ...     "smtp://alerts:pa55@mail.example.com:587?from=alerts@example.com&to=ops@example.com")
    >>> mail.config.port, mail.config.tls, mail.config.recipients
    (587, 'starttls', ('ops@example.com',))
    """

    kind = "email"
    formats: tuple[str, ...] = ("plain", "html")

    def __init__(self, config: EmailConfig) -> None:
        if not isinstance(config, EmailConfig):
            raise NotifierConfigError(
                f"EmailNotifier needs an EmailConfig, got {type(config).__name__}"
            )
        self.config = config
        self._redactor = Redactor([config.password])
        self._ssl: ssl.SSLContext | None = None
        if config.tls != "none":
            self._ssl = config.ssl_context or ssl.create_default_context(cafile=config.cafile)
        envelope = parseaddr(config.sender)[1]
        self._envelope_from = envelope
        self._domain = envelope.rpartition("@")[2]

    @classmethod
    def from_url(cls, url: str, **options: Any) -> EmailNotifier:
        """A notifier from ``smtp://…`` or ``smtps://…`` (see the class docstring)."""
        scheme, userinfo, segments, query = split_robot_url(url, _SCHEMES, "email")
        if len(segments) != 1:
            raise NotifierConfigError(
                f"{scheme}://*** URL must be {scheme}://[USER:PASSWORD@]HOST[:PORT]?from=…&to=…"
            )
        known = ("auth", "cafile", "from", "to") + (("tls",) if scheme == "smtp" else ())
        reject_unknown(query, known, scheme)
        host, port = _host_port(segments[0], scheme)
        fields: dict[str, Any] = {"host": host, "port": port,
                                  "tls": "tls" if scheme == "smtps" else "starttls"}
        if userinfo is not None:
            user, colon, password = userinfo.partition(":")
            if not colon:
                raise NotifierConfigError(
                    f"{scheme}://*** URL: give USER:PASSWORD, not a user only")
            fields["username"], fields["password"] = unquote(user), unquote(password)
        if "from" in query:
            fields["sender"] = query["from"]
        if "to" in query:
            fields["recipients"] = [r.strip() for r in query["to"].split(",") if r.strip()]
        for key in ("tls", "auth", "cafile"):
            if key in query:
                fields[key] = query[key]
        fields.update(options)
        for required in ("sender", "recipients"):
            if required not in fields:
                option = "from" if required == "sender" else "to"
                raise NotifierConfigError(f"{scheme}://*** URL needs the {option}= option")
        return cls(make_config(EmailConfig, fields, "email"))

    def subject(self, notification: Notification) -> str:
        """The prefix for the highest severity (or ``resolved``), then the rendered title."""
        title = " ".join(rendered(notification, "title").split())
        if notification.status == "resolved":
            key = "resolved"
        else:
            severity = highest_severity(notification)
            key = str(severity) if severity is not None else "info"
        prefix = self.config.subject_prefixes.get(key, "")
        subject = title if not prefix or title.startswith(prefix) else f"{prefix} {title}"
        return subject[:_MAX_SUBJECT]

    def message_id(self, notification: Notification) -> str:
        """``<key.millis@domain>``: the same for every delivery attempt of one notification."""
        millis = int(notification.created_at * 1000)
        return f"<{notification.idempotency_key}.{millis}@{self._domain}>"

    def message(self, notification: Notification, *, now: float | None = None) -> EmailMessage:
        """The MIME message for ``notification`` (``Date`` is ``now``, default its creation)."""
        plain = rendered(notification, "body")
        fragment = rendered(notification, "body.html", "html")
        subject = self.subject(notification)
        page = (
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(subject)}</title></head>\n<body>\n"
            f"<h2>{html.escape(subject)}</h2>\n{fragment}\n</body></html>\n"
        )
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["Subject"] = subject
        msg["From"] = self.config.sender
        msg["To"] = ", ".join(self.config.recipients)
        msg["Date"] = formatdate(notification.created_at if now is None else now, usegmt=True)
        msg["Message-ID"] = self.message_id(notification)
        group = hashlib.blake2b(notification.group_key.encode(), digest_size=12).hexdigest()
        msg["References"] = f"<group.{group}@{self._domain}>"
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(plain + "\n")
        msg.add_alternative(page, subtype="html")
        return msg

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        message = self.message(notification, now=context.now)
        return await anyio.to_thread.run_sync(
            self._deliver, message, context.timeout, abandon_on_cancel=True
        )

    def _deliver(self, message: EmailMessage, timeout: float) -> DeliveryResult:
        c = self.config
        recipients = [addr for _, addr in getaddresses(list(c.recipients))]
        try:
            smtp: smtplib.SMTP
            if c.tls == "tls":
                smtp = smtplib.SMTP_SSL(c.host, c.effective_port, timeout=timeout,
                                        local_hostname=c.local_hostname, context=self._ssl)
            else:
                smtp = smtplib.SMTP(c.host, c.effective_port, timeout=timeout,
                                    local_hostname=c.local_hostname)
            with smtp:
                smtp.ehlo()
                if c.tls == "starttls":
                    smtp.starttls(context=self._ssl)
                    smtp.ehlo()
                if c.username is not None and c.password is not None:
                    self._login(smtp, c.username, c.password)
                refused = smtp.send_message(message, from_addr=self._envelope_from,
                                            to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            return self._refused_all(exc.recipients)
        except smtplib.SMTPResponseException as exc:
            return self._reply(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPNotSupportedError as exc:
            return Failed(self.scrub(f"SMTP: {exc}"))
        except ssl.SSLCertVerificationError as exc:
            return Failed(self.scrub(f"TLS certificate verification failed: {exc.verify_message}"))
        except TimeoutError:
            return Retry(f"timeout connecting to or talking with {c.host}:{c.effective_port}")
        except (smtplib.SMTPException, OSError) as exc:
            message_text = self.scrub(str(exc)).strip()
            name = type(exc).__name__
            return Retry(f"{name}: {message_text}" if message_text else name)
        if refused:
            listed = "; ".join(
                f"{addr} ({code} {_reply_text(text)})" for addr, (code, text) in refused.items()
            )
            return Delivered(detail=self.scrub(f"refused recipients: {listed}"[:500]))
        return Delivered()

    def _login(self, smtp: smtplib.SMTP, username: str, password: str) -> None:
        if not smtp.has_extn("auth"):
            raise smtplib.SMTPNotSupportedError("the server offers no AUTH")
        if self.config.auth == "auto":
            smtp.login(username, password)
            return
        mechanism = self.config.auth.upper()
        if mechanism not in smtp.esmtp_features["auth"].upper().split():
            raise smtplib.SMTPNotSupportedError(f"the server does not offer AUTH {mechanism}")
        smtp.user, smtp.password = username, password
        method = smtp.auth_login if mechanism == "LOGIN" else smtp.auth_plain
        smtp.auth(mechanism, method, initial_response_ok=mechanism == "PLAIN")

    def _reply(self, code: int, text: object) -> DeliveryResult:
        reason = self.scrub(f"SMTP {code}: {_reply_text(text)}")[:300]
        if 400 <= code < 500:
            return Retry(reason, status_code=code)
        return Failed(reason, status_code=code)

    def _refused_all(self, refused: Mapping[str, tuple[int, bytes]]) -> DeliveryResult:
        codes = [code for code, _ in refused.values()]
        listed = "; ".join(
            f"{addr} ({code} {_reply_text(text)})" for addr, (code, text) in refused.items()
        )
        reason = self.scrub(f"SMTP: every recipient refused: {listed}")[:300]
        if any(400 <= code < 500 for code in codes):
            return Retry(reason, status_code=min(codes))
        return Failed(reason, status_code=min(codes) if codes else None)

    def scrub(self, text: str) -> str:
        """``text`` without the password."""
        return self._redactor.scrub(text)

    def __repr__(self) -> str:
        c = self.config
        return (f"EmailNotifier(host={c.host!r}, port={c.effective_port}, tls={c.tls!r}, "
                f"recipients={c.recipients!r})")


def _host_port(location: str, scheme: str) -> tuple[str, int | None]:
    if location.startswith("["):
        host, bracket, rest = location[1:].partition("]")
        if not bracket:
            raise NotifierConfigError(f"{scheme}://*** URL: unclosed [ in the host")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise NotifierConfigError(f"{scheme}://*** URL: bad host")
    else:
        host, _, port_text = location.partition(":")
    if not port_text:
        return host, None
    if not port_text.isdigit():
        raise NotifierConfigError(f"{scheme}://*** URL: the port must be a number")
    return host, int(port_text)


default_registry.register("email", EmailNotifier.from_url, schemes=list(_SCHEMES))
