"""Notifier kinds by name and by URL scheme, as apprise does (``myservice://…`` → a sender).

A *factory* builds a :class:`~alertkit.NotificationSender` from a URL and
keyword options: ``factory(url, **options)``. Register it under a name
(``"webhook"``) and any number of URL schemes (``"webhook"``, ``"https"``);
then :meth:`NotifierRegistry.from_url` picks the factory by the URL's scheme
and :meth:`NotifierRegistry.create` by name. The module-level
:data:`default_registry` is what :func:`notifier_from_url` and receivers
given URL strings use.

Errors never quote a URL whole: it may be the credential.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from typing import Any

from alertkit._errors import NotifierConfigError

from .redact import Redactor, redact_url
from .sender import NotificationSender

__all__ = [
    "NotifierFactory",
    "NotifierRegistry",
    "default_registry",
    "notifier_from_url",
    "register_notifier",
]

NotifierFactory = Callable[..., NotificationSender]
"""``factory(url, **options) -> NotificationSender``."""

_NAME = re.compile(r"[a-z][a-z0-9_.+-]*\Z")


def _scheme_of(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise NotifierConfigError(
            f"notifier URL {redact_url(url)} has no scheme (expected e.g. https://… or "
            f"webhook://…)"
        )
    return scheme.lower()


class NotifierRegistry:
    """Notifier factories by kind name and by URL scheme.

    >>> reg = NotifierRegistry()
    >>> class Echo:
    ...     def __init__(self, url, **options): self.url = url
    ...     async def send(self, notification, context): ...
    >>> reg.register("echo", Echo, schemes=["echo", "echos"])
    >>> type(reg.from_url("echo://anything")).__name__
    'Echo'
    >>> reg.schemes()
    ['echo', 'echos']
    """

    def __init__(self, *, builtins: str | None = None) -> None:
        self._by_name: dict[str, NotifierFactory] = {}
        self._by_scheme: dict[str, str] = {}
        # A module whose import registers more kinds, imported at the first lookup
        # (the default registry's built-in channels: importing alertkit stays cheap).
        self._builtins = builtins

    def _load_builtins(self) -> None:
        if self._builtins is not None:
            module, self._builtins = self._builtins, None
            importlib.import_module(module)

    def register(
        self,
        name: str,
        factory: NotifierFactory,
        *,
        schemes: Iterable[str] = (),
        replace: bool = False,
    ) -> None:
        """Add a notifier kind. Re-registering a name or scheme needs ``replace=True``."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise NotifierConfigError(
                f"notifier name {name!r} is not valid (lowercase letters, digits, _ . + -)"
            )
        if not callable(factory):
            raise NotifierConfigError(f"notifier {name!r}: factory {factory!r} is not callable")
        scheme_list = [s.lower() if isinstance(s, str) else s for s in schemes]
        for scheme in scheme_list:
            if not isinstance(scheme, str) or not _NAME.match(scheme):
                raise NotifierConfigError(f"notifier {name!r}: URL scheme {scheme!r} is not valid")
            owner = self._by_scheme.get(scheme)
            if owner is not None and owner != name and not replace:
                raise NotifierConfigError(
                    f"URL scheme {scheme!r} already belongs to notifier {owner!r} "
                    f"(pass replace=True to take it over)"
                )
        if name in self._by_name and not replace:
            raise NotifierConfigError(
                f"notifier {name!r} is already registered (pass replace=True to replace it)"
            )
        self._by_name[name] = factory
        for scheme in scheme_list:
            self._by_scheme[scheme] = name

    def unregister(self, name: str) -> None:
        """Remove a notifier kind and its schemes (no error if it is unknown)."""
        self._by_name.pop(name, None)
        for scheme in [s for s, n in self._by_scheme.items() if n == name]:
            del self._by_scheme[scheme]

    def factory(self, name: str) -> NotifierFactory:
        """The factory registered under ``name``."""
        if name not in self._by_name:
            self._load_builtins()
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise NotifierConfigError(
                f"unknown notifier kind {name!r} (known: {known})"
            ) from None

    def create(self, name: str, url: str, **options: Any) -> NotificationSender:
        """A sender of kind ``name`` for ``url``: ``factory(url, **options)``."""
        return self._build(name, self.factory(name), url, options)

    def from_url(self, url: str, **options: Any) -> NotificationSender:
        """A sender for ``url``, chosen by its scheme."""
        if not isinstance(url, str):
            raise NotifierConfigError(f"a notifier URL must be a string, got {type(url).__name__}")
        scheme = _scheme_of(url)
        if scheme not in self._by_scheme:
            self._load_builtins()
        name = self._by_scheme.get(scheme)
        if name is None:
            known = ", ".join(sorted(self._by_scheme)) or "none"
            raise NotifierConfigError(
                f"unknown notifier URL scheme {scheme!r} in {redact_url(url)} (known: {known})"
            )
        return self._build(name, self._by_name[name], url, options)

    def _build(
        self, name: str, factory: NotifierFactory, url: str, options: dict[str, Any]
    ) -> NotificationSender:
        try:
            sender = factory(url, **options)
        except NotifierConfigError:
            raise
        except TypeError as exc:  # an unknown option: the message names it
            message = Redactor([url]).scrub(str(exc))
            raise NotifierConfigError(f"notifier {name!r}: {message}") from None
        except Exception as exc:
            raise NotifierConfigError(
                f"notifier {name!r} for {redact_url(url)} could not be created: "
                f"{type(exc).__name__}"
            ) from None
        if not isinstance(sender, NotificationSender):
            raise NotifierConfigError(
                f"notifier {name!r}: factory returned {type(sender).__name__}, which has no "
                f"async send(notification, context)"
            )
        return sender

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._by_name)

    def schemes(self) -> list[str]:
        self._load_builtins()
        return sorted(self._by_scheme)

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._by_name

    def __repr__(self) -> str:
        return f"NotifierRegistry(names={self.names()}, schemes={self.schemes()})"


default_registry = NotifierRegistry(builtins="alertkit.notify.channels")
"""The registry URL strings resolve through unless told otherwise; it knows every
built-in channel (``slack://``, ``pagerduty://``, ``smtp://``…)."""


def register_notifier(
    name: str, factory: NotifierFactory, *, schemes: Iterable[str] = (), replace: bool = False
) -> None:
    """Register a notifier kind in :data:`default_registry`."""
    default_registry.register(name, factory, schemes=schemes, replace=replace)


def notifier_from_url(
    url: str, *, registry: NotifierRegistry | None = None, **options: Any
) -> NotificationSender:
    """A sender for ``url`` from :data:`default_registry` (or ``registry``)."""
    return (registry or default_registry).from_url(url, **options)
