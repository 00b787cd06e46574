"""``alertkit notify-test URL_OR_CONFIG``: send a sample firing, then resolved, notification.

The target is a notifier URL (``slack://…``, ``https://…``, ``console://``)
or a TOML / YAML / JSON file describing receivers::

    # receivers.toml
    [receivers.ops]
    url = "https://hooks.example.com/alertkit"   # or kind = "webhook" + url
    [receivers.ops.options]                       # keyword options of the notifier
    payload = "alertmanager"

    [receivers.pager]
    url = "pagerduty://ROUTING_KEY"

Each receiver gets the sample notifications (``--receiver NAME`` picks
one). The messages are rendered with the default templates and go straight
to the notifier with one shared HTTP client, without retries, so what you see
is the service's first answer. Exit status: 0 if every notification was
delivered, 1 if any was not, 2 if the target or the file is invalid.
Secrets in URLs are never printed.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import sys
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import anyio
import attrs
import httpx

import alertkit.notify.channels  # noqa: F401 - registers every built-in channel
from alertkit._core.labels import Labels
from alertkit._core.model import Alert, AlertState, Severity
from alertkit._dispatch.notification import (
    Delivered,
    DeliveryResult,
    Failed,
    Notification,
    Retry,
    idempotency_key,
)
from alertkit._errors import AlertkitError, ConfigError
from alertkit.notify.redact import MASK, redact_url
from alertkit.notify.registry import NotifierRegistry, default_registry
from alertkit.notify.sender import DeliveryContext, NotificationSender, result_from_exception
from alertkit.notify.templates import NotificationTemplates

__all__ = ["load_receivers", "register", "run", "sample_notifications"]

_SUFFIXES = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``notify-test`` command to an ``argparse`` sub-parsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "notify-test",
        help="send a sample firing and resolved notification to a notifier",
        description="Send a sample firing, then resolved, notification to a notifier URL "
                    "or to the receivers of a TOML/YAML/JSON file, and print each answer.",
    )
    parser.add_argument("target", metavar="URL_OR_CONFIG",
                        help="a notifier URL (slack://…, https://…) or a receivers file")
    parser.add_argument("--receiver", action="append", default=[], metavar="NAME",
                        help="only this receiver of the file (repeatable)")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a notifier option for a URL target (value parsed as JSON "
                             "if it can be, else taken as text; repeatable)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds per request (default 10)")
    parser.add_argument("--no-resolved", action="store_true",
                        help="send the firing notification only")
    parser.set_defaults(func=run)
    return parser


def sample_notifications(now: float, receiver: str = "notify-test") -> tuple[Notification,
                                                                            Notification]:
    """The sample firing notification and its resolution, ``now`` as their time."""
    host = socket.gethostname() or "localhost"
    labels = Labels(alertname="AlertkitNotifyTest", severity="warning", instance=host)
    firing = Alert(
        fingerprint=labels.fingerprint, rule="AlertkitNotifyTest", labels=labels,
        annotations={"summary": f"alertkit notify-test from {host}",
                     "description": "A test notification sent by `alertkit notify-test`. "
                                    "It can be ignored."},
        state=AlertState.FIRING, severity=Severity.MEDIUM, value=42.0, active_at=now - 60,
        fired_at=now)
    resolved = attrs.evolve(firing, state=AlertState.INACTIVE, resolved_at=now + 1)
    group = f"{receiver}/notify-test"
    notes = []
    for f, r, at in (((firing,), (), now), ((), (resolved,), now + 1)):
        notes.append(Notification(
            receiver=receiver, group_key=group, group_labels=Labels(alertname=firing.rule),
            firing=f, resolved=r, created_at=at, idempotency_key=idempotency_key(group, f, r)))
    return notes[0], notes[1]


def _read_file(path: Path) -> Any:
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{path}: unknown file type (use .toml, .yaml, .yml or .json)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({type(exc).__name__})") from None
    try:
        if kind == "toml":
            return tomllib.loads(text)
        if kind == "json":
            return json.loads(text)
        import yaml

        return yaml.safe_load(text)
    except Exception as exc:  # each parser has its own error class; all say where
        raise ConfigError(f"{path}: not valid {kind.upper()}: {exc}") from None


def load_receivers(path: Path, *, registry: NotifierRegistry | None = None
                   ) -> dict[str, NotificationSender]:
    """The notifiers of a receivers file, by name (see the module doc for the format)."""
    reg = registry or default_registry
    data = _read_file(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("receivers"), Mapping):
        raise ConfigError(f"{path}: expected a 'receivers' table of named receivers")
    receivers: dict[str, NotificationSender] = {}
    if not data["receivers"]:
        raise ConfigError(f"{path}: receivers: the table is empty")
    for name, spec in data["receivers"].items():
        where = f"{path}: receivers.{name}"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: expected a table with url (and kind, options)")
        unknown = sorted(set(spec) - {"url", "kind", "options"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} "
                              f"(known: kind, url, options)")
        url = spec.get("url")
        if not isinstance(url, str) or not url:
            raise ConfigError(f"{where}.url: missing or not a string")
        options = spec.get("options", {})
        if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
            raise ConfigError(f"{where}.options: expected a table of notifier options")
        kind = spec.get("kind")
        try:
            if kind is None:
                sender = reg.from_url(url, **options)
            elif isinstance(kind, str):
                sender = reg.create(kind, url, **options)
            else:
                raise ConfigError(f"{where}.kind: expected a notifier name, got {kind!r}")
        except ConfigError:
            raise
        except AlertkitError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        receivers[str(name)] = sender
    return receivers


def _options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"--option {pair.split('=')[0]!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


def _describe(result: DeliveryResult) -> str:
    code = f" (HTTP {result.status_code})" if result.status_code is not None else ""
    if isinstance(result, Delivered):
        return f"delivered{code}" + (f": {result.detail}" if result.detail else "")
    if isinstance(result, Retry):
        when = ""
        if result.retry_at is not None and math.isfinite(result.retry_at):
            when = f", retry after {max(0.0, result.retry_at - time.time()):.0f} s"
        return f"temporary failure{code}{when}: {result.reason}"
    assert isinstance(result, Failed)
    return f"permanent failure{code}: {result.reason}"


async def _send_all(targets: dict[str, NotificationSender], *, timeout: float,
                    resolved: bool, out: IO[str]) -> bool:
    templates = NotificationTemplates()
    ok = True
    async with httpx.AsyncClient(timeout=timeout) as http:
        for name, sender in targets.items():
            out.write(f"{name}: {sender!r}\n")
            firing, resolution = sample_notifications(time.time(), receiver=name)
            for label, n in (("firing", firing), ("resolved", resolution))[: 2 if resolved
                                                                             else 1]:
                formats = tuple(getattr(sender, "formats", ("plain",)))
                texts, _ = templates.render(n, formats)
                n = attrs.evolve(n, texts=texts)
                context = DeliveryContext(http=http, now=time.time(), timeout=timeout)
                try:
                    with anyio.fail_after(timeout):
                        result = await sender.send(n, context)
                except TimeoutError:
                    result = Retry(f"no answer within {timeout:g} s")
                except Exception as exc:  # mapped as the delivery worker maps it
                    result = result_from_exception(exc)
                ok = ok and isinstance(result, Delivered)
                out.write(f"  {label:8} {_describe(result)}\n")
    return ok


def run(args: argparse.Namespace, *, out: IO[str] | None = None,
        err: IO[str] | None = None) -> int:
    """Run ``notify-test`` with parsed ``args``; the exit status (0, 1 or 2)."""
    out = out or sys.stdout
    err = err or sys.stderr
    target: str = args.target
    try:
        if not (isinstance(args.timeout, float | int) and args.timeout > 0
                and math.isfinite(args.timeout)):
            raise ConfigError(f"--timeout must be a positive number of seconds, "
                              f"got {args.timeout!r}")
        path = Path(target)
        if "://" not in target:
            if not path.is_file():
                raise ConfigError(f"{target}: no such file, and not a notifier URL "
                                  f"(scheme://…)")
            if args.option:
                raise ConfigError("--option is for a URL target; put options in the file")
            targets = load_receivers(path)
            if args.receiver:
                missing = sorted(set(args.receiver) - set(targets))
                if missing:
                    raise ConfigError(f"{target}: no receiver named {', '.join(missing)} "
                                      f"(known: {', '.join(sorted(targets))})")
                targets = {k: v for k, v in targets.items() if k in args.receiver}
        else:
            if args.receiver:
                raise ConfigError("--receiver is for a receivers file, not a URL")
            targets = {"notify-test": default_registry.from_url(target,
                                                                **_options(args.option))}
    except AlertkitError as exc:
        err.write(f"alertkit notify-test: {exc}\n")
        return 2
    shown = target
    if "://" in target:
        shown = redact_url(target)
        if shown == MASK:  # no host (console://, log://…): show the scheme only
            shown = target.partition("://")[0] + "://" + MASK
    out.write(f"alertkit notify-test: sending to {shown}\n")
    ok = anyio.run(lambda: _send_all(targets, timeout=float(args.timeout),
                                     resolved=not args.no_resolved, out=out))
    return 0 if ok else 1
