"""Imports every built-in channel module, so that each registers its URL schemes."""

import alertkit.notify.dingtalk  # noqa: F401
import alertkit.notify.opsgenie  # noqa: F401
import alertkit.notify.pagerduty  # noqa: F401
import alertkit.notify.telegram  # noqa: F401
