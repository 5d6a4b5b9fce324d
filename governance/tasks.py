"""django-q2 entry points of the bottom layer."""

import logging

from django.core.mail import mail_admins

from governance.audit.verify import verify_chain
from governance.runs.models import RunStatus
from governance.runs.services import task_run_finish, task_run_start

log = logging.getLogger(__name__)


def verify_audit_log() -> bool:
    run = task_run_start(name="verify_audit_log")
    report = verify_chain()
    if report.ok:
        task_run_finish(run=run, counts={"checked": report.checked})
        return True
    message = f"Audit chain broken at #{report.first_bad_seq}: {report.problem}."
    task_run_finish(run=run, status=RunStatus.FAILED, counts={"checked": report.checked}, error=message)
    log.error(message)
    mail_admins("Audit log chain broken", message, fail_silently=True)
    return False
