"""Models of the bottom layer: the audit trail, background run records and run locks."""

from governance.audit.models import ActorKind, AuditAction, AuditEvent
from governance.runs.models import RunLock, RunStatus, RunTrigger, TaskRun

__all__ = ["ActorKind", "AuditAction", "AuditEvent", "RunLock", "RunStatus", "RunTrigger", "TaskRun"]
