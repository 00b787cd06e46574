"""Inhibition rules: a firing source alert mutes matching target alerts.

As in Alertmanager: a target alert is muted while some *firing* (not
resolved) source alert has the same values for every ``equal`` label, a
missing label counting as the empty string (so two alerts that both lack it
are equal). If the target also matches the source matchers, only sources
that do not match the target matchers count, so an alert never inhibits
itself (``excludeTwoSidedMatch``). Nothing is remembered: inhibition is
checked again at every flush of a group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from alertkit._core.labels import Matcher
from alertkit._errors import ConfigError

from .matchers import to_matchers

__all__ = ["InhibitRule"]

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def _source(value: object) -> tuple[Matcher, ...]:
    return to_matchers(value, field="InhibitRule.source_matchers")


def _target(value: object) -> tuple[Matcher, ...]:
    return to_matchers(value, field="InhibitRule.target_matchers")


def _equal(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"InhibitRule.equal: {value!r} is not a list of label names")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not _LABEL_NAME.match(name):
            raise ConfigError(f"InhibitRule.equal: {name!r} is not a valid label name")
    return names


@attrs.frozen(kw_only=True)
class InhibitRule:
    """Mute alerts matching ``target_matchers`` while an alert matching ``source_matchers``
    fires with the same ``equal`` label values.

    >>> rule = InhibitRule(source_matchers=['severity="critical"'],
    ...                    target_matchers=['severity="warning"'], equal=["cluster"])
    >>> rule.equal
    ('cluster',)
    """

    source_matchers: tuple[Matcher, ...] = attrs.field(converter=_source)
    target_matchers: tuple[Matcher, ...] = attrs.field(converter=_target)
    equal: tuple[str, ...] = attrs.field(default=(), converter=_equal)

    def __attrs_post_init__(self) -> None:
        if not self.source_matchers:
            raise ConfigError("InhibitRule.source_matchers: at least one matcher is needed")
        if not self.target_matchers:
            raise ConfigError("InhibitRule.target_matchers: at least one matcher is needed")
