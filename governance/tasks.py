"""django-q2 entry points of the bottom layer."""

import logging

from django.conf import settings
from django.core.mail import mail_admins

from governance.audit.anchors import AnchorError, anchor_email, audit_verify_and_anchor
from governance.notifications import notify_event
from governance.notifications.events import AUDIT_VERIFICATION_FAILED
from governance.runs.models import RunStatus, TaskRun
from governance.runs.services import task_run_finish, task_run_start

log = logging.getLogger(__name__)


def verify_audit_log() -> bool:
    """Daily: the whole chain against every anchor, then a new anchor, mailed to ``AUDIT_ANCHOR_EMAIL``.
    A failure mails the admins every time."""
    return _verify_and_anchor("verify_audit_log", email_auditors=True, alert_every_time=True)


def anchor_audit_log() -> bool:
    """Hourly: the same check, then a new anchor in ``AUDIT_ANCHOR_DIR`` (not mailed). Events deleted
    after this anchor are found by every later check. A failure mails the admins when it is new (the
    previous run of this task did not fail), not every hour."""
    return _verify_and_anchor("anchor_audit_log", email_auditors=False, alert_every_time=False)


def _verify_and_anchor(name: str, *, email_auditors: bool, alert_every_time: bool) -> bool:
    run = task_run_start(name=name)
    try:
        check = audit_verify_and_anchor(by=name)
    except AnchorError as exc:
        check, message = None, f"The audit chain verified, but its new anchor was not written: {exc}."
    else:
        message = check.message if check and not check.ok else ""
    counts = {"checked": check.chain.checked, "anchors": check.anchors.anchors} if check else {}
    if check and check.ok:
        assert check.written is not None  # a check that passed wrote its anchor
        counts["anchor_seq"] = check.written["seq"]
        if email_auditors and settings.AUDIT_ANCHOR_EMAIL:
            try:
                anchor_email(check.written, recipients=settings.AUDIT_ANCHOR_EMAIL)
                counts["emailed"] = len(settings.AUDIT_ANCHOR_EMAIL)
            except Exception as exc:  # the anchor is on disk; a mail outage must not fail the check
                log.warning("Audit anchor #%s not mailed to the auditors: %s", check.written["seq"], exc)
        task_run_finish(run=run, counts=counts)
        return True
    previous = TaskRun.objects.filter(name=name).exclude(pk=run.pk).order_by("-started_at", "-id").first()
    task_run_finish(run=run, status=RunStatus.FAILED, counts=counts, error=message)
    log.error(message)
    if alert_every_time or previous is None or previous.status != RunStatus.FAILED:
        mail_admins("Audit log check failed", message, fail_silently=True)
        notify_event(AUDIT_VERIFICATION_FAILED, {"task": name, "message": message, "run": run.pk})
    return False
