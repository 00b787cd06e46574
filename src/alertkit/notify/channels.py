"""Imports every built-in channel module, so that each registers its URL schemes."""

from alertkit.notify import dingtalk  # noqa: F401
from alertkit.notify import opsgenie  # noqa: F401
from alertkit.notify import pagerduty  # noqa: F401
from alertkit.notify import telegram  # noqa: F401
