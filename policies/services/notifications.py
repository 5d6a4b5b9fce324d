"""Warning and action emails from the policy's templates, and the run digest to portal admins.

Sending never blocks a run: a failed email is recorded on the enforcement and retried by the
next run or the notification sweep.
"""

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.html import escape, linebreaks

from governance.logging import redact
from governance.notify import portal_admins_notify
from governance.runs.models import TaskRun
from policies.email_templates import fill
from policies.engine import days_inactive
from policies.links import restore_link
from policies.models import Enforcement, InactivityPolicy

log = logging.getLogger(__name__)

_ACTION_PHRASES = {
    "notify": "reviewed",
    "remove_product_access": "removed",
    "suspend": "suspended",
    "deactivate": "deactivated",
    "delete": "deleted",
}


def context_for(enforcement: Enforcement, kind: str, *, now: datetime) -> dict[str, Any]:
    """The placeholders' values for a ``warning`` or ``action`` email sent at ``now``.

    A warning (and each reminder) counts the days inactive at ``now``, the moment it goes out, and
    names the day the action is planned for: its due date. An action email names the day the
    action happened (``executed_at``; ``now`` for one not recorded yet) and the days inactive at
    that moment, however late it is sent. Both count days with the engine's ``days_inactive``, so
    an email says what the policy preview and the decision's reason said at the same moment.
    """
    account, policy = enforcement.account, enforcement.policy
    product = ", ".join(p.name or p.key for p in policy.products.all()) or "Atlassian products"
    if kind == "action":
        moment = enforcement.executed_at or now
        action_day = moment
    else:
        moment, action_day = now, enforcement.due_at
    since = enforcement.inactive_since
    return {
        "name": account.name or account.email or "there",
        "days_inactive": days_inactive(since, moment) if since else "",
        "product": product,
        "action": _ACTION_PHRASES.get(policy.action, policy.action),
        # The day in the portal's time zone, as the admin pages show it.
        "action_date": timezone.localtime(action_day).strftime("%d %B %Y"),
        "restore_link": restore_link(enforcement),
    }


def render(enforcement: Enforcement, kind: str, *, now: datetime) -> tuple[str, str, str]:
    """Subject, plain text and HTML for a ``warning`` or ``action`` email sent at ``now``."""
    policy = enforcement.policy
    subject_t, body_t = (
        (policy.warning_subject, policy.warning_body)
        if kind == "warning"
        else (policy.action_subject, policy.action_body)
    )
    values = context_for(enforcement, kind, now=now)
    # fill(), not str.format: only plain placeholders are replaced, so an old template with a
    # format spec cannot build a huge string or reach an attribute (policies/email_templates.py).
    subject = fill(subject_t, values).replace("\n", " ")
    text = fill(body_t, values)
    html_values: dict[str, str] = {k: escape(str(v)) for k, v in values.items()}
    html_values["restore_link"] = f'<a href="{escape(values["restore_link"])}">{escape(values["restore_link"])}</a>'
    # The template's text is escaped, the values are escaped, and they are put together in one
    # pass: no HTML injection through a name or a template, and no second round of replacing.
    html = linebreaks(fill(body_t, html_values, literal=escape))
    return subject, text, html


def send_pending(*, enforcements: QuerySet[Enforcement], now: datetime | None = None) -> dict[str, Any]:
    """Send every pending notice among ``enforcements`` at ``now`` (the run's moment; the sweep's
    clock by default); returns counts of sent and failed."""
    now = now or timezone.now()
    counts = {"sent": 0, "failed": 0, "unreachable": 0}
    for enforcement in enforcements.filter(notice_pending__in=["warning", "action"]).select_related(
        "account", "policy"
    ):
        email = enforcement.account.email
        if not email:
            # Nothing to retry: the person hides their address. Recorded, and the case goes on.
            Enforcement.objects.filter(pk=enforcement.pk).update(
                notice_pending="", notice_error="Not notified: the account has no visible email address."
            )
            counts["unreachable"] += 1
            continue
        try:
            subject, text, html = render(enforcement, enforcement.notice_pending, now=now)
            message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [email])
            message.attach_alternative(html, "text/html")
            message.send()
        except Exception as exc:  # any mail failure is recorded and retried, never raised into the run
            log.warning("Notice for enforcement %s failed: %s", enforcement.pk, redact(str(exc)))
            _mark(enforcement, error=redact(f"{type(exc).__name__}: {exc}"))
            counts["failed"] += 1
            continue
        _mark(enforcement, error="", sent=True)
        counts["sent"] += 1
    return counts


def _mark(enforcement: Enforcement, *, error: str, sent: bool = False) -> None:
    with transaction.atomic():
        if sent:
            Enforcement.objects.filter(pk=enforcement.pk).update(notice_pending="", notice_error="")
        else:
            Enforcement.objects.filter(pk=enforcement.pk).update(
                notice_error=error[:1000], notice_failures=enforcement.notice_failures + 1
            )


def send_idp_digest(*, policy: InactivityPolicy, run: TaskRun) -> bool:
    """The identity team's list (policies/idp.py) as a CSV attachment to ``IDP_TEAM_EMAIL``, when
    set; False when not sent. A failure is logged, never raised: the run is done."""
    from policies.idp import idp_csv_text, idp_enforcements

    to = settings.IDP_TEAM_EMAIL
    if not to:
        return False
    cases = list(idp_enforcements(policy.pk))
    body = (
        f"The policy {policy.name} would {policy.action.replace('_', ' ')} {len(cases)} account(s) provisioned by an "
        "identity provider. Atlassian refuses this for such accounts, so the portal did nothing: please do it in the "
        f"identity provider. The list is attached (policy run {run.pk}).\n"
    )
    message = EmailMultiAlternatives(
        subject=f"Action needed in the identity provider: {policy.name}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach(f"idp-action-needed-policy-{policy.pk}.csv", idp_csv_text(cases), "text/csv")
    try:
        message.send()
    except Exception as exc:
        log.warning("Sending the identity team's list failed: %s", redact(str(exc)))
        return False
    return True


def send_digest(*, subject: str, lines: list[str]) -> None:
    """The run digest goes to the portal admins (governance.notify, shared with the task guard)."""
    portal_admins_notify(subject=subject, lines=lines)
