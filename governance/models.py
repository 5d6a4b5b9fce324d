"""Models of the bottom layer: the audit trail, background run records and run locks."""

from governance.api.models import ApiToken  # noqa: F401  (API tokens: governance.api)
from governance.audit.models import ActorKind, AuditAction, AuditEvent
from governance.notifications.models import WebhookDelivery, WebhookSubscription  # noqa: F401  (webhooks)
from governance.ratelimit_models import RateLimitCounter  # noqa: F401  (the rate limiter's table)
from governance.runs.models import RunLock, RunStatus, RunTrigger, TaskRun

__all__ = ["ActorKind", "AuditAction", "AuditEvent", "RunLock", "RunStatus", "RunTrigger", "TaskRun"]
