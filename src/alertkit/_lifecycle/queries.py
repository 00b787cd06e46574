"""Queries over alert records, and the statistics teams report on.

:func:`find` filters records (status, severity, labels, assignee, rule, tenant,
firing time range); :func:`stats` computes, per (rule, severity), the number of
alerts and occurrences, MTTA (mean time from firing to the first
acknowledgement) and MTTR (mean time from firing to resolution), and the time
spent in each status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from alertkit._core.labels import Matcher
from alertkit._core.model import Severity
from alertkit._dispatch.matchers import MatchersLike, matches_all, to_matchers
from alertkit._errors import LifecycleError

from .model import AlertRecord, LifecycleStatus

__all__ = ["RuleStats", "find", "stats"]


def _statuses(value: LifecycleStatus | str | Iterable[LifecycleStatus | str] | None
              ) -> frozenset[LifecycleStatus] | None:
    if value is None:
        return None
    items = (value,) if isinstance(value, LifecycleStatus | str) else tuple(value)
    out = set()
    for s in items:
        try:
            out.add(s if isinstance(s, LifecycleStatus) else LifecycleStatus(s))
        except ValueError:
            raise LifecycleError(f"status: {s!r} is not a status "
                                 f"({', '.join(x.value for x in LifecycleStatus)})") from None
    return frozenset(out)


def _severities(value: Severity | str | Iterable[Severity | str] | None
                ) -> frozenset[Severity] | None:
    if value is None:
        return None
    items = (value,) if isinstance(value, Severity | str) else tuple(value)
    out = set()
    for s in items:
        if isinstance(s, Severity):
            out.add(s)
        elif isinstance(s, str) and s.upper() in Severity.__members__:
            out.add(Severity[s.upper()])
        else:
            raise LifecycleError(f"severity: {s!r} is not a severity "
                                 f"({', '.join(str(x) for x in Severity)})")
    return frozenset(out)


def find(
    records: Iterable[AlertRecord], *,
    status: LifecycleStatus | str | Iterable[LifecycleStatus | str] | None = None,
    severity: Severity | str | Iterable[Severity | str] | None = None,
    labels: MatchersLike | None = None,
    assignee: str | None = None,
    rule: str | None = None,
    tenant: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[AlertRecord]:
    """The records matching every given filter, oldest firing first.

    ``labels`` takes matchers as routes do (``{"team": "db"}``, ``['host=~"db.*"']``);
    ``since``/``until`` bound the current occurrence's firing time (``since <= fired_at <
    until``). Bad filters raise :class:`~alertkit.LifecycleError`.
    """
    statuses = _statuses(status)
    sevs = _severities(severity)
    try:
        matchers: tuple[Matcher, ...] = to_matchers(labels, field="labels",
                                                    error=LifecycleError)
    except LifecycleError:
        raise
    out = []
    for r in records:
        if statuses is not None and r.status not in statuses:
            continue
        if sevs is not None and r.severity not in sevs:
            continue
        if assignee is not None and r.assignee != assignee:
            continue
        if rule is not None and r.rule != rule:
            continue
        if tenant is not None and r.tenant != tenant:
            continue
        if since is not None and r.fired_at < since:
            continue
        if until is not None and r.fired_at >= until:
            continue
        if matchers and not matches_all(matchers, r.alert.labels):
            continue
        out.append(r)
    out.sort(key=lambda r: (r.fired_at, r.fingerprint))
    return out


@attrs.frozen
class RuleStats:
    """Statistics of one (rule, severity) over the records given to :func:`stats`.

    ``mtta``/``mttr`` are None when nothing was acknowledged/resolved yet;
    ``time_in`` is seconds per status, summed over the alerts.
    """

    rule: str
    severity: Severity
    alerts: int
    occurrences: int
    acknowledged: int
    resolved: int
    mtta: float | None
    mttr: float | None
    time_in: Mapping[str, float]


def stats(records: Iterable[AlertRecord], now: float) -> list[RuleStats]:
    """Per (rule, severity) statistics, sorted by rule then severity (highest first)."""
    acc: dict[tuple[str, Severity], list[AlertRecord]] = {}
    for r in records:
        acc.setdefault((r.rule, r.severity), []).append(r)
    out = []
    for (rule, sev), recs in sorted(acc.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        acks = sum(r.acks for r in recs)
        resolves = sum(r.resolves for r in recs)
        time_in: dict[str, float] = {}
        for r in recs:
            for k, v in r.time_in_status(now).items():
                time_in[k] = time_in.get(k, 0.0) + v
        out.append(RuleStats(
            rule=rule, severity=sev, alerts=len(recs),
            occurrences=sum(r.occurrence for r in recs), acknowledged=acks,
            resolved=resolves,
            mtta=sum(r.ack_total for r in recs) / acks if acks else None,
            mttr=sum(r.resolve_total for r in recs) / resolves if resolves else None,
            time_in=time_in))
    return out
