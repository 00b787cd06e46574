"""alertkit: embeddable alerting for Python.

Push samples in, get alert events and notifications out, in your own
process. This module is the whole public API; everything else is private.
"""

from __future__ import annotations

from ._core.anomaly import EWMA, RobustZScore, Seasonal, ZScore
from ._core.arith import BinOp, Present
from ._core.change import Change
from ._core.conditions import (
    Absent,
    All,
    Any,
    Condition,
    Consecutive,
    Instant,
    Not,
    Threshold,
    ValueExpr,
    Window,
    avg_over_time,
    count_over_time,
    delta,
    increase,
    last_over_time,
    max_over_time,
    min_over_time,
    quantile_over_time,
    rate,
    sum_over_time,
)
from ._core.evaluator import Evaluator, IngestReport, Rejection, SeriesHandle
from ._core.expr import parse_condition, parse_value
from ._core.labels import Labels, Matcher, Selector
from ._core.model import (
    Alert,
    AlertEvent,
    AlertState,
    EvalMode,
    EventKind,
    NoDataPolicy,
    Sample,
    Severity,
)
from ._core.occurrences import Cardinality, CountMatching, Flatline, PercentMatching
from ._core.rules import Rule
from ._core.state import State
from ._core.templates import format_value, humanize, humanize_duration
from ._core.timeutil import format_duration, parse_duration, to_timestamp
from ._core.trends import Deriv, PredictLinear
from ._core.windows import Agg
from ._dispatch.dispatcher import AlertStatus, Dispatcher
from ._dispatch.inhibition import InhibitRule
from ._dispatch.intervals import TimeInterval
from ._dispatch.notification import (
    Delivered,
    DeliveryResult,
    Failed,
    Notification,
    Retry,
    idempotency_key,
)
from ._dispatch.ratelimit import RateLimit
from ._dispatch.retry import (
    BreakerState,
    CircuitBreaker,
    GiveUp,
    RetryAt,
    RetryPolicy,
    parse_retry_after,
)
from ._dispatch.routes import ReceiverConfig, Route
from ._dispatch.silences import Silence, SilenceState
from ._dispatch.state import DispatchState
from ._errors import (
    AlertkitError,
    AlertmanagerPayloadError,
    AlertNotFoundError,
    ConfigError,
    DeliveryError,
    DurationError,
    ExpressionError,
    InvalidSampleError,
    InvalidTransitionError,
    LabelError,
    LifecycleError,
    NotifierConfigError,
    OutboxError,
    OutOfOrderSampleError,
    PermanentDeliveryError,
    PermissionDenied,
    RetryableDeliveryError,
    RuleError,
    RuleFileError,
    RuleTestFileError,
    SeriesNotationError,
    SilenceError,
    SnapshotError,
    StoreConflictError,
    StoreError,
    TemplateError,
    TimeWentBackwardsError,
    WebhookSignatureError,
)
from ._lifecycle.audit import AuditRecord
from ._lifecycle.audit import export_jsonl as export_audit_jsonl
from ._lifecycle.commands import (
    Acknowledge,
    Actor,
    Assign,
    Comment,
    EscalateNow,
    Resolve,
    SkipToLevel,
    Snooze,
    Unacknowledge,
)
from ._lifecycle.escalation import EscalationLevel, EscalationPolicy
from ._lifecycle.lifecycle import Lifecycle, LifecycleNotification
from ._lifecycle.model import AlertRecord, LifecycleState, LifecycleStatus
from ._lifecycle.queries import RuleStats
from ._lifecycle.queries import find as find_alert_records
from ._lifecycle.queries import stats as lifecycle_stats
from .config._rules import RuleFileIssue, load_rules, rule_file_schema, rules_from_dict
from .notify._base import CallbackNotifier, ConsoleNotifier, LogNotifier, Notifier, event_record
from .notify.alertmanager import (
    AlertmanagerConfig,
    AlertmanagerNotifier,
    alertmanager_webhook_payload,
)
from .notify.dingtalk import DingTalkConfig, DingTalkNotifier
from .notify.discord import DiscordConfig, DiscordNotifier
from .notify.email import EmailConfig, EmailNotifier
from .notify.feishu import FeishuConfig, FeishuNotifier
from .notify.googlechat import GoogleChatConfig, GoogleChatNotifier
from .notify.http import classify_http_status
from .notify.ingest import (
    AlertmanagerPayload,
    AlertmanagerReceiver,
    EngineFeed,
    ReceivedAlert,
    parse_alertmanager_payload,
)
from .notify.local import CallbackSender, ConsoleSender, LogSender
from .notify.mattermost import MattermostConfig, MattermostNotifier
from .notify.ntfy import NtfyConfig, NtfyNotifier
from .notify.opsgenie import OpsgenieConfig, OpsgenieNotifier
from .notify.pagerduty import PagerDutyConfig, PagerDutyNotifier
from .notify.pushover import PushoverConfig, PushoverNotifier
from .notify.redact import Redactor, redact_url
from .notify.registry import NotifierRegistry, notifier_from_url, register_notifier
from .notify.schema import (
    notification_from_dict,
    notification_from_json,
    notification_to_dict,
    notification_to_json,
)
from .notify.sender import DeliveryContext, NotificationSender
from .notify.slack import SlackConfig, SlackNotifier
from .notify.teams import TeamsConfig, TeamsNotifier
from .notify.telegram import TelegramConfig, TelegramNotifier
from .notify.templates import NotificationTemplates, severity_color, severity_emoji
from .notify.transport import LeanTransport, default_http_client
from .notify.twilio import TwilioCallNotifier, TwilioConfig, TwilioSmsNotifier
from .notify.webhook import WebhookNotifier, verify_webhook_signature
from .notify.wecom import WeComConfig, WeComNotifier
from .rulepacks import default_rules, default_rules_path
from .runtime.clock import Clock, FakeClock, SystemClock
from .runtime.delivery import DeliveryOutcome, DeliveryWorker, Receiver
from .runtime.delivery_log import AttemptOutcome, AttemptRecord, DeliveryLog, DeliveryStats
from .runtime.engine import BoundSeries, Engine, EventSubscription
from .stores.base import ClaimingOutbox, GenerationStore, StateStore, Versioned
from .stores.memory import MemoryOutbox
from .stores.memory_store import MemoryStore
from .stores.outbox import CorruptEntry, LoadResult, Outbox, OutboxEntry
from .stores.redis_store import RedisStore
from .stores.sqlite import SqliteOutbox
from .stores.sqlite_store import SqliteStore

__all__ = [
    "EWMA",
    "Absent",
    "Acknowledge",
    "Actor",
    "Agg",
    "Alert",
    "AlertEvent",
    "AlertNotFoundError",
    "AlertRecord",
    "AlertState",
    "AlertStatus",
    "AlertkitError",
    "AlertmanagerConfig",
    "AlertmanagerNotifier",
    "AlertmanagerPayload",
    "AlertmanagerPayloadError",
    "AlertmanagerReceiver",
    "All",
    "Any",
    "Assign",
    "AttemptOutcome",
    "AttemptRecord",
    "AuditRecord",
    "BinOp",
    "BoundSeries",
    "BreakerState",
    "CallbackNotifier",
    "CallbackSender",
    "Cardinality",
    "Change",
    "CircuitBreaker",
    "ClaimingOutbox",
    "Clock",
    "Comment",
    "Condition",
    "ConfigError",
    "Consecutive",
    "ConsoleNotifier",
    "ConsoleSender",
    "CorruptEntry",
    "CountMatching",
    "Delivered",
    "DeliveryContext",
    "DeliveryError",
    "DeliveryLog",
    "DeliveryOutcome",
    "DeliveryResult",
    "DeliveryStats",
    "DeliveryWorker",
    "Deriv",
    "DingTalkConfig",
    "DingTalkNotifier",
    "DiscordConfig",
    "DiscordNotifier",
    "DispatchState",
    "Dispatcher",
    "DurationError",
    "EmailConfig",
    "EmailNotifier",
    "Engine",
    "EngineFeed",
    "EscalateNow",
    "EscalationLevel",
    "EscalationPolicy",
    "EvalMode",
    "Evaluator",
    "EventKind",
    "EventSubscription",
    "ExpressionError",
    "Failed",
    "FakeClock",
    "FeishuConfig",
    "FeishuNotifier",
    "Flatline",
    "GenerationStore",
    "GiveUp",
    "GoogleChatConfig",
    "GoogleChatNotifier",
    "IngestReport",
    "InhibitRule",
    "Instant",
    "InvalidSampleError",
    "InvalidTransitionError",
    "LabelError",
    "Labels",
    "LeanTransport",
    "Lifecycle",
    "LifecycleError",
    "LifecycleNotification",
    "LifecycleState",
    "LifecycleStatus",
    "LoadResult",
    "LogNotifier",
    "LogSender",
    "Matcher",
    "MattermostConfig",
    "MattermostNotifier",
    "MemoryOutbox",
    "MemoryStore",
    "NoDataPolicy",
    "Not",
    "Notification",
    "NotificationSender",
    "NotificationTemplates",
    "Notifier",
    "NotifierConfigError",
    "NotifierRegistry",
    "NtfyConfig",
    "NtfyNotifier",
    "OpsgenieConfig",
    "OpsgenieNotifier",
    "OutOfOrderSampleError",
    "Outbox",
    "OutboxEntry",
    "OutboxError",
    "PagerDutyConfig",
    "PagerDutyNotifier",
    "PercentMatching",
    "PermanentDeliveryError",
    "PermissionDenied",
    "PredictLinear",
    "Present",
    "PushoverConfig",
    "PushoverNotifier",
    "RateLimit",
    "ReceivedAlert",
    "Receiver",
    "ReceiverConfig",
    "Redactor",
    "RedisStore",
    "Rejection",
    "Resolve",
    "Retry",
    "RetryAt",
    "RetryPolicy",
    "RetryableDeliveryError",
    "RobustZScore",
    "Route",
    "Rule",
    "RuleError",
    "RuleFileError",
    "RuleFileIssue",
    "RuleStats",
    "RuleTestFileError",
    "Sample",
    "Seasonal",
    "Selector",
    "SeriesHandle",
    "SeriesNotationError",
    "Severity",
    "Silence",
    "SilenceError",
    "SilenceState",
    "SkipToLevel",
    "SlackConfig",
    "SlackNotifier",
    "SnapshotError",
    "Snooze",
    "SqliteOutbox",
    "SqliteStore",
    "State",
    "StateStore",
    "StoreConflictError",
    "StoreError",
    "SystemClock",
    "TeamsConfig",
    "TeamsNotifier",
    "TelegramConfig",
    "TelegramNotifier",
    "TemplateError",
    "Threshold",
    "TimeInterval",
    "TimeWentBackwardsError",
    "TwilioCallNotifier",
    "TwilioConfig",
    "TwilioSmsNotifier",
    "Unacknowledge",
    "ValueExpr",
    "Versioned",
    "WeComConfig",
    "WeComNotifier",
    "WebhookNotifier",
    "WebhookSignatureError",
    "Window",
    "ZScore",
    "alertmanager_webhook_payload",
    "avg_over_time",
    "classify_http_status",
    "count_over_time",
    "default_http_client",
    "default_rules",
    "default_rules_path",
    "delta",
    "event_record",
    "export_audit_jsonl",
    "find_alert_records",
    "format_duration",
    "format_value",
    "humanize",
    "humanize_duration",
    "idempotency_key",
    "increase",
    "last_over_time",
    "lifecycle_stats",
    "load_rules",
    "max_over_time",
    "min_over_time",
    "notification_from_dict",
    "notification_from_json",
    "notification_to_dict",
    "notification_to_json",
    "notifier_from_url",
    "parse_alertmanager_payload",
    "parse_condition",
    "parse_duration",
    "parse_retry_after",
    "parse_value",
    "quantile_over_time",
    "rate",
    "redact_url",
    "register_notifier",
    "rule_file_schema",
    "rules_from_dict",
    "severity_color",
    "severity_emoji",
    "sum_over_time",
    "to_timestamp",
    "verify_webhook_signature",
]
