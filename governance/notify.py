"""Email to the portal admins (the active members of the Portal admins role) about something they
must look at: a policy run halted by its cap, a task the cluster refused. Sending never raises:
the caller's work (a run, a worker) must not fail because mail is down."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from governance.logging import redact
from governance.roles import PORTAL_ADMINS

log = logging.getLogger(__name__)


def portal_admin_emails() -> list[str]:
    users = get_user_model().objects.filter(groups__name=PORTAL_ADMINS, is_active=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def portal_admins_notify(*, subject: str, lines: list[str]) -> None:
    recipients = portal_admin_emails()
    if not recipients:
        return
    try:
        send_mail(f"[Governance portal] {subject}", "\n".join(lines), settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception as exc:
        log.warning("Email to the portal admins failed: %s", redact(str(exc)))
