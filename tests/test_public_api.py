"""The public namespace: every advertised name exists, and the built-in channels register."""

from __future__ import annotations

import subprocess
import sys

import alertkit as ak


def test_every_name_in_all_is_importable() -> None:
    missing = [name for name in ak.__all__ if not hasattr(ak, name)]
    assert missing == []
    assert len(set(ak.__all__)) == len(ak.__all__)


def test_the_default_registry_knows_every_channel_in_a_fresh_interpreter() -> None:
    code = (
        "import alertkit as ak\n"
        "n = ak.notifier_from_url('pagerduty://' + 'R' * 32)\n"
        "print(type(n).__name__, ak.notify.registry.default_registry.names())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("PagerDutyNotifier ")
    for name in ("slack", "discord", "teams", "googlechat", "mattermost", "pagerduty",
                 "opsgenie", "telegram", "dingtalk", "wecom", "feishu", "ntfy", "pushover",
                 "twilio", "twilio-voice", "email", "alertmanager", "webhook", "console",
                 "log"):
        assert f"'{name}'" in out
