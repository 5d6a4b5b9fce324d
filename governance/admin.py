from governance.api import admin as api_admin  # noqa: F401  (registers ApiToken)
from governance.audit import admin as audit_admin  # noqa: F401  (registers AuditEvent)
from governance.runs import admin as runs_admin  # noqa: F401  (registers TaskRun)
from governance.taskqueue import admin as taskqueue_admin  # noqa: F401  (replaces django-q2's pages)
