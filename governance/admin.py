from governance.api import admin as api_admin  # noqa: F401  (registers ApiToken)
from governance.audit import admin as audit_admin  # noqa: F401  (registers AuditEvent)
from governance.runs import admin as runs_admin  # noqa: F401  (registers TaskRun)
from governance.signin import admin as signin_admin  # noqa: F401  (registers AccessAttempt, AccessLog)
