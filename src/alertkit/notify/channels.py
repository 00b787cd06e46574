"""Imports every built-in channel module, so that each registers its URL schemes."""

# ruff: noqa: F401

import alertkit.notify.alertmanager
import alertkit.notify.dingtalk
import alertkit.notify.discord
import alertkit.notify.email
import alertkit.notify.feishu
import alertkit.notify.googlechat
import alertkit.notify.local
import alertkit.notify.mattermost
import alertkit.notify.ntfy
import alertkit.notify.opsgenie
import alertkit.notify.pagerduty
import alertkit.notify.pushover
import alertkit.notify.slack
import alertkit.notify.teams
import alertkit.notify.telegram
import alertkit.notify.twilio
import alertkit.notify.webhook
import alertkit.notify.wecom
