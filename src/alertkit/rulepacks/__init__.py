"""Ready-made rule packs: load them as they are, or copy the TOML and adapt it."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alertkit._core.rules import Rule

__all__ = ["default_rules", "default_rules_path"]


def default_rules_path() -> Path:
    """The path of the default pack's TOML file (copy it to start your own)."""
    return Path(str(files(__name__) / "default.toml"))


def default_rules() -> list[Rule]:
    """The default pack: high CPU, high memory, low cache hit rate, error rate, heartbeat.

    Metric names it expects: ``cpu_usage_percent``, ``memory_usage_percent``,
    ``cache_hit_percent``, ``http_requests_total`` / ``http_request_errors_total``
    (counters) and ``heartbeat``.
    """
    from alertkit.config._rules import load_rules

    return load_rules(default_rules_path())
