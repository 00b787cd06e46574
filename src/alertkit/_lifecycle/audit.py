"""The audit trail: one immutable record per state change and per command.

Records are numbered by ``seq`` (strictly increasing per
:class:`~alertkit._lifecycle.model.LifecycleState`, and per store once
persisted) and carry who did what to which alert, when, and the alert's
summary before and after. They are plain data: :meth:`AuditRecord.to_dict`
gives JSON, :func:`export_jsonl` a JSON-lines export, :func:`select` the
queries (per alert, per rule, by time range).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

import attrs

from alertkit._errors import SnapshotError

__all__ = ["SYSTEM", "AuditRecord", "export_jsonl", "select"]

SYSTEM = "system"
"""The actor of changes nobody commanded: firing, resolution by the rule, expiry,
scheduled escalation steps, the end of a snooze."""

Detail = Mapping[str, str | int | float | bool | None]


@attrs.frozen(kw_only=True)
class AuditRecord:
    """Who (``actor``) did what (``action``) to which alert, when (``at``, epoch seconds).

    ``before`` and ``after`` are the alert's summary (status, assignee, acknowledger,
    snooze end, escalation level) around the change (``before`` is None when the record
    was created by it). ``detail`` holds the command's arguments (note, reason, level,
    receivers notified...).
    """

    seq: int
    at: float
    actor: str
    action: str
    fingerprint: str
    rule: str
    tenant: str | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    detail: Detail = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reads it back. ``key`` repeats the
        fingerprint under the name the stores index."""
        return {
            "seq": self.seq, "at": self.at, "actor": self.actor, "action": self.action,
            "fingerprint": self.fingerprint, "key": self.fingerprint, "rule": self.rule,
            "tenant": self.tenant,
            "before": None if self.before is None else dict(self.before),
            "after": None if self.after is None else dict(self.after),
            "detail": dict(self.detail),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AuditRecord:
        """The record of a :meth:`to_dict` dict; :class:`~alertkit.SnapshotError` if bad."""
        try:
            seq, at = d["seq"], d["at"]
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise TypeError(f"seq {seq!r} is not an integer")
            if not isinstance(at, int | float) or isinstance(at, bool):
                raise TypeError(f"at {at!r} is not a number")
            texts = {k: d[k] for k in ("actor", "action", "fingerprint", "rule")}
            for k, v in texts.items():
                if not isinstance(v, str):
                    raise TypeError(f"{k} {v!r} is not a string")
            tenant = d.get("tenant")
            if tenant is not None and not isinstance(tenant, str):
                raise TypeError(f"tenant {tenant!r} is not a string")
            before, after, detail = d.get("before"), d.get("after"), d.get("detail", {})
            for k, v in (("before", before), ("after", after), ("detail", detail)):
                if v is not None and not isinstance(v, Mapping):
                    raise TypeError(f"{k} {v!r} is not an object")
        except (KeyError, TypeError) as exc:
            raise SnapshotError(f"audit record: {exc}") from None
        return cls(seq=seq, at=float(at), tenant=tenant,
                   before=None if before is None else dict(before),
                   after=None if after is None else dict(after),
                   detail=dict(detail or {}), **texts)


def select(
    records: Iterable[AuditRecord], *, fingerprint: str | None = None, rule: str | None = None,
    since: float | None = None, until: float | None = None, actor: str | None = None,
    action: str | None = None, tenant: str | None = None, after_seq: int | None = None,
) -> Iterator[AuditRecord]:
    """The records that match every given filter (``since <= at < until``), in order."""
    for r in records:
        if fingerprint is not None and r.fingerprint != fingerprint:
            continue
        if rule is not None and r.rule != rule:
            continue
        if since is not None and r.at < since:
            continue
        if until is not None and r.at >= until:
            continue
        if actor is not None and r.actor != actor:
            continue
        if action is not None and r.action != action:
            continue
        if tenant is not None and r.tenant != tenant:
            continue
        if after_seq is not None and r.seq <= after_seq:
            continue
        yield r


def export_jsonl(records: Iterable[AuditRecord], out: IO[str] | None = None) -> str:
    """The records as JSON lines (one object per line, ``\\n``-terminated).

    Written to ``out`` if given (and an empty string returned), else returned.
    """
    lines = (json.dumps(r.to_dict(), separators=(",", ":"), sort_keys=True, allow_nan=False)
             + "\n" for r in records)
    if out is None:
        return "".join(lines)
    for line in lines:
        out.write(line)
    return ""
