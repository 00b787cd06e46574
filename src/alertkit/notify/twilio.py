"""Twilio: alerts as SMS (Messages API) and as phone calls read out by text-to-speech.

Wire format: https://www.twilio.com/docs/messaging/api/message-resource and
https://www.twilio.com/docs/voice/api/call-resource. Both POST form fields to
``/2010-04-01/Accounts/{AccountSid}/Messages.json`` or ``…/Calls.json`` with
HTTP Basic auth ``AccountSid:AuthToken`` and answer 201. An SMS ``Body`` is
at most 1,600 characters (Twilio splits it into 160-character GSM-7 or
70-character UCS-2 segments, each billed); a call's ``Twiml`` parameter is
at most 4,000 characters. Errors carry a Twilio error code
(``{"code": 21211, "message": …}``): 429 (code 20429) and 5xx are retried,
other 4xx (invalid number, unverified caller ID, bad credentials) are
permanent.

Each recipient is one request. Recipients that already accepted a
notification are remembered (in memory, per notifier) and skipped when the
notification is retried, so a retry after one failed number does not text
or call the others twice (after a restart it may).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import attrs
import httpx

from alertkit._core.model import Alert
from alertkit._dispatch.notification import (
    Delivered,
    DeliveryResult,
    Failed,
    Notification,
    Retry,
)
from alertkit._errors import NotifierConfigError

from ._channel import HttpChannel, alert_lines, retry_at, truncate
from ._checks import (
    check_base_url,
    check_int,
    check_str,
    check_strings,
    check_token,
    combine,
    default_title,
    fit,
    parse_bool,
    parse_service_url,
    summary_of,
    to_int,
    url_options,
)
from .registry import default_registry
from .sender import DeliveryContext

__all__ = ["TwilioCallNotifier", "TwilioConfig", "TwilioSmsNotifier"]

SMS_LIMIT = 1600
TWIML_LIMIT = 4000
LINE_LIMIT = 300
_REMEMBERED = 1024  # notifications whose accepted recipients are kept for retries

_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_API_KEY_SID = re.compile(r"SK[0-9a-fA-F]{32}")
_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_AUTH_TOKEN = re.compile(r"[A-Za-z0-9]{32}")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_VOICE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


@attrs.frozen(kw_only=True)
class TwilioConfig:
    """Settings of :class:`TwilioSmsNotifier` and :class:`TwilioCallNotifier`.

    - ``account_sid`` (``AC…``) and ``auth_token``: the credentials (the
      token is a secret; neither is shown). With ``api_key_sid`` (``SK…``,
      an API key, which Twilio recommends for production), ``auth_token``
      is that key's secret and the key authenticates instead of the account.
    - ``to``: recipients, E.164 numbers (``+15558675310``); one request each.
    - ``from_number`` (E.164, a Twilio number) or, for SMS only,
      ``messaging_service_sid`` (``MG…``).
    - ``max_length``: the SMS body cap (≤ 1,600; 160 keeps GSM-7 texts to
      one segment).
    - Calls: ``voice`` and ``language`` of ``<Say>``, ``loop`` (times the
      text is read, 1-10), ``max_speech`` (characters read, ≤ 3,000) and
      ``call_on_resolved`` (call when alerts resolve too; default no).
    - ``base_url``: the API root (default ``https://api.twilio.com``).
    """

    account_sid: str = attrs.field(repr=False)
    auth_token: str = attrs.field(repr=False)
    api_key_sid: str | None = attrs.field(default=None, repr=False)
    to: tuple[str, ...] = attrs.field(converter=_tuple)
    from_number: str | None = None
    messaging_service_sid: str | None = None
    max_length: int = SMS_LIMIT
    voice: str | None = None
    language: str | None = None
    loop: int = 1
    max_speech: int = 1000
    call_on_resolved: bool = False
    base_url: str = "https://api.twilio.com"

    def __attrs_post_init__(self) -> None:
        check_token("twilio", "account_sid", self.account_sid, pattern=_ACCOUNT_SID,
                    hint="AC followed by 32 hex digits")
        check_token("twilio", "auth_token", self.auth_token, pattern=_AUTH_TOKEN,
                    hint="32 letters and digits")
        if self.api_key_sid is not None:
            check_token("twilio", "api_key_sid", self.api_key_sid, pattern=_API_KEY_SID,
                        hint="SK followed by 32 hex digits")
        check_strings("twilio", "to", self.to, pattern=_E164,
                      hint="an E.164 number such as +15558675310")
        if not self.to:
            raise NotifierConfigError("twilio: give at least one recipient in to")
        if len(set(self.to)) != len(self.to):
            raise NotifierConfigError("twilio: a recipient is listed twice in to")
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise NotifierConfigError(
                "twilio: give exactly one of from_number and messaging_service_sid"
            )
        if self.from_number is not None:
            check_strings("twilio", "from_number", [self.from_number], pattern=_E164,
                          hint="an E.164 number such as +15017122661")
        if self.messaging_service_sid is not None:
            check_token("twilio", "messaging_service_sid", self.messaging_service_sid,
                        pattern=_SERVICE_SID, hint="MG followed by 32 hex digits")
        check_int("twilio", "max_length", self.max_length, 20, SMS_LIMIT)
        if self.voice is not None:
            check_str("twilio", "voice", self.voice)
            if not _VOICE.fullmatch(self.voice):
                raise NotifierConfigError("twilio: voice must be a voice name such as "
                                          "'alice' or 'Polly.Joanna'")
        if self.language is not None and not (
            isinstance(self.language, str) and _LANGUAGE.fullmatch(self.language)
        ):
            raise NotifierConfigError("twilio: language must be a tag such as 'en-US'")
        check_int("twilio", "loop", self.loop, 1, 10)
        check_int("twilio", "max_speech", self.max_speech, 20, 3000)
        if not isinstance(self.call_on_resolved, bool):
            raise NotifierConfigError("twilio: call_on_resolved must be True or False")
        object.__setattr__(self, "base_url", check_base_url("twilio", self.base_url))

    @property
    def account_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}"

    @property
    def auth(self) -> tuple[str, str]:
        """The HTTP Basic credentials: ``(api_key_sid or account_sid, auth_token)``."""
        return (self.api_key_sid or self.account_sid, self.auth_token)


def _from_url(scheme: str, url: str, options: dict[str, Any], voice: bool) -> TwilioConfig:
    parts = parse_service_url("twilio", url, [scheme])
    if parts.user is None or parts.password is None or not parts.path or parts.port:
        raise NotifierConfigError(
            f"twilio URL must be {scheme}://ACCOUNT_SID:AUTH_TOKEN@FROM/TO[/TO…]"
        )
    converters: dict[str, Any] = {"base_url": str, "api_key_sid": str}
    if voice:
        converters.update(voice=str, language=str, loop=to_int("twilio", "loop"),
                          max_speech=to_int("twilio", "max_speech"),
                          call_on_resolved=lambda v: parse_bool("twilio", "call_on_resolved", v))
    else:
        converters.update(max_length=to_int("twilio", "max_length"))
    fields = url_options("twilio", parts.query, converters)
    sender = parts.host
    if sender.upper().startswith("MG"):
        fields["messaging_service_sid"] = sender
    else:
        fields["from_number"] = sender if sender.startswith("+") else f"+{sender}"
    fields.update(options)
    try:
        return TwilioConfig(account_sid=parts.user, auth_token=parts.password,
                            to=tuple(p if p.startswith("+") else f"+{p}" for p in parts.path),
                            **fields)
    except TypeError as exc:
        raise NotifierConfigError(f"twilio: {exc}") from None


class _TwilioChannel(HttpChannel):
    _resource = ""

    def __init__(self, config: TwilioConfig) -> None:
        if not isinstance(config, TwilioConfig):
            raise NotifierConfigError(
                f"{type(self).__name__} needs a TwilioConfig, got {type(config).__name__}"
            )
        super().__init__([config.auth_token, config.account_sid, config.api_key_sid])
        self.config = config
        self._accepted: OrderedDict[str, set[str]] = OrderedDict()

    @property
    def endpoint(self) -> str:
        return f"{self.config.account_url}/{self._resource}"

    def fields(self, notification: Notification, to: str) -> dict[str, str]:
        raise NotImplementedError

    def _classify(self, response: httpx.Response, now: float) -> DeliveryResult:
        status = response.status_code
        if 200 <= status < 300:
            try:
                sid = response.json().get("sid")
            except (ValueError, AttributeError):
                sid = None
            return Delivered(status_code=status,
                             detail=f"sid {sid}" if isinstance(sid, str) else "")
        try:
            body = response.json()
        except ValueError:
            body = None
        detail = ""
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            code = body.get("code")
            prefix = f"Twilio error {code}: " if isinstance(code, int) else ""
            detail = self.scrub(prefix + " ".join(body["message"].split()))[:200]
        detail = detail or self.detail(response)
        reason = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
        if status in (408, 429) or status >= 500:
            return Retry(reason, status_code=status,
                         retry_at=retry_at(response.headers.get("retry-after"), now))
        return Failed(reason, status_code=status)

    async def _deliver(self, notification: Notification, context: DeliveryContext
                       ) -> DeliveryResult:
        key = notification.idempotency_key
        accepted = self._accepted.get(key, set())
        recipients = self.config.to
        results: list[tuple[str, DeliveryResult]] = []
        for to in recipients:
            if to in accepted:
                continue
            result, _ = await self.post(
                context, self.endpoint, data=self.fields(notification, to),
                auth=self.config.auth,
                classify=self._classify,
            )
            results.append((f"to {to}", result))
            if isinstance(result, Delivered):
                accepted.add(to)
        if accepted:
            self._accepted[key] = accepted
            self._accepted.move_to_end(key)
            while len(self._accepted) > _REMEMBERED:
                self._accepted.popitem(last=False)
        if not results:
            return Delivered(detail="every recipient already accepted it")
        return combine(results, len(recipients))


class TwilioSmsNotifier(_TwilioChannel):
    """Texts each notification to every recipient (one Messages API request each).

    URL form: ``twilio://ACCOUNT_SID:AUTH_TOKEN@FROM/TO[/TO…]`` where FROM is a
    number or a Messaging Service SID (``MG…``); query options
    ``max_length`` and ``base_url``::

        twilio://AC…:token@+15017122661/+15558675310/+15558675311?max_length=480

    The body is the title, then one line per alert (``CRITICAL HighCPU:
    web1 is busy``, ``RESOLVED …``), as many as fit in ``max_length``, then
    how many were left out. Plain ASCII words rather than emoji keep texts
    in the cheaper GSM-7 encoding.

    >>> cfg = TwilioConfig(account_sid="AC" + "0" * 32, auth_token="t" * 32,
    ...                    from_number="+15017122661", to=["+15558675310"])
    >>> TwilioSmsNotifier(cfg)
    TwilioSmsNotifier(recipients=1, auth='***')
    """

    kind = "twilio"
    formats: tuple[str, ...] = ("plain",)
    _resource = "Messages.json"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> TwilioSmsNotifier:
        """A notifier from ``twilio://ACCOUNT_SID:AUTH_TOKEN@FROM/TO…`` (see the class doc)."""
        return cls(_from_url("twilio", url, options, voice=False))

    def body(self, notification: Notification) -> str:
        """The SMS text, at most ``max_length`` characters."""
        limit = self.config.max_length
        title = default_title(notification, max(1, limit // 3))

        def render(alert: Alert, status: str) -> str:
            word = str(alert.severity).upper() if status == "firing" else "RESOLVED"
            return f"{word} {truncate(summary_of(alert), LINE_LIMIT)}"

        lines = alert_lines(notification, render, max_chars=limit - len(title) - 1)
        return f"{title}\n{lines}" if lines else title

    def fields(self, notification: Notification, to: str) -> dict[str, str]:
        """The form fields of the request to ``to``."""
        cfg = self.config
        out = {"To": to}
        if cfg.messaging_service_sid is not None:
            out["MessagingServiceSid"] = cfg.messaging_service_sid
        else:
            out["From"] = cfg.from_number or ""
        out["Body"] = self.body(notification)
        return out

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        """One SMS per recipient (see the module doc for retries)."""
        return await self._deliver(notification, context)

    def __repr__(self) -> str:
        return f"TwilioSmsNotifier(recipients={len(self.config.to)}, auth='***')"


class TwilioCallNotifier(_TwilioChannel):
    """Calls every recipient and reads the firing alerts out (``<Say>`` TwiML).

    URL form: ``twilio+voice://ACCOUNT_SID:AUTH_TOKEN@FROM/TO[/TO…]`` with
    query options ``voice``, ``language``, ``loop``, ``max_speech``,
    ``call_on_resolved`` (yes/no), ``api_key_sid`` and ``base_url``.

    The speech is "Alert from alertkit. 2 alerts firing." then one sentence
    per alert (``Critical. HighCPU: web1 is busy.``), at most
    ``max_speech`` characters, then "And 3 more alerts."; it is XML-escaped
    into ``<Response><Say>…</Say></Response>``, never over Twilio's 4,000
    characters. A notification of resolved alerts only makes no call unless
    ``call_on_resolved`` is set.

    >>> cfg = TwilioConfig(account_sid="AC" + "0" * 32, auth_token="t" * 32,
    ...                    from_number="+15017122661", to=["+15558675310"])
    >>> TwilioCallNotifier(cfg)
    TwilioCallNotifier(recipients=1, auth='***')
    """

    kind = "twilio-voice"
    formats: tuple[str, ...] = ("plain",)
    _resource = "Calls.json"

    def __init__(self, config: TwilioConfig) -> None:
        super().__init__(config)
        if config.from_number is None:
            raise NotifierConfigError(
                "twilio: calls need from_number (a Messaging Service SID cannot call)"
            )

    @classmethod
    def from_url(cls, url: str, **options: Any) -> TwilioCallNotifier:
        """A notifier from ``twilio+voice://ACCOUNT_SID:AUTH_TOKEN@FROM/TO…``."""
        return cls(_from_url("twilio+voice", url, options, voice=True))

    def speech(self, notification: Notification) -> str:
        """The text read out, at most ``max_speech`` characters."""
        firing = len(notification.firing)
        if firing:
            intro = f"Alert from alertkit. {firing} alert{'s' if firing != 1 else ''} firing."
        else:
            intro = "Alertkit: alerts resolved."

        def render(alert: Alert, status: str) -> str:
            word = str(alert.severity).capitalize() if status == "firing" else "Resolved"
            return f"{word}. {truncate(summary_of(alert), LINE_LIMIT).rstrip('.')}."

        def more(k: int) -> str:
            return f"And {k} more alert{'s' if k != 1 else ''}."

        budget = self.config.max_speech - len(intro) - 1
        lines = alert_lines(notification, render, max_chars=max(1, budget), separator=" ",
                            more=more)
        return f"{intro} {lines}"[: self.config.max_speech]

    def twiml(self, notification: Notification) -> str:
        """The ``Twiml`` parameter: the speech in ``<Say>``, at most 4,000 characters."""
        attrs_text = ""
        if self.config.voice is not None:
            attrs_text += f" voice={quoteattr(self.config.voice)}"
        if self.config.language is not None:
            attrs_text += f" language={quoteattr(self.config.language)}"
        if self.config.loop != 1:
            attrs_text += f' loop="{self.config.loop}"'
        head, tail = f"<Response><Say{attrs_text}>", "</Say></Response>"
        room = TWIML_LIMIT - len(head) - len(tail)
        speech = self.speech(notification)
        text = fit(lambda chars: speech[:chars], room, lambda t: len(escape(t)))
        return f"{head}{escape(text)}{tail}"

    def fields(self, notification: Notification, to: str) -> dict[str, str]:
        """The form fields of the call to ``to``."""
        return {"To": to, "From": self.config.from_number or "",
                "Twiml": self.twiml(notification)}

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        """One call per recipient; none for resolved-only notifications by default."""
        if not notification.firing and not self.config.call_on_resolved:
            return Delivered(detail="no firing alert: no call")
        return await self._deliver(notification, context)

    def __repr__(self) -> str:
        return f"TwilioCallNotifier(recipients={len(self.config.to)}, auth='***')"


default_registry.register("twilio", TwilioSmsNotifier.from_url, schemes=["twilio"])
default_registry.register("twilio-voice", TwilioCallNotifier.from_url,
                          schemes=["twilio+voice"])
