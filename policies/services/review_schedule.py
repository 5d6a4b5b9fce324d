"""The access reviews' daily job: reminders, the ``review_campaign.due`` and ``.overdue``
notifications, and closing the campaigns past their deadline.

- due: the first daily run at or after a campaign's deadline, just before it tries to close it
  (so the message says "the deadline has come; closing now").
- overdue: a daily run at least ``OVERDUE_AFTER`` past the deadline finds the campaign still not
  closed (halted by its cap, or closing failed: no API key, Atlassian down). Undecided items are
  not a condition: the scheduler closes a campaign at its deadline whatever was decided, so a
  campaign still open a day later is late whatever its items say; the payload counts them.

Each goes out at most once per campaign, however often the job runs: the campaign's
``due_notified_at``/``overdue_notified_at`` is claimed with a conditional update, and the event is
queued in that transaction (sent once it commits).
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from policies import events
from policies.models import CampaignStatus, ReviewCampaign
from policies.services.reviews import campaign_close, notify_reviewers

log = logging.getLogger(__name__)

OVERDUE_AFTER = timedelta(days=1)


def campaigns_due(*, now: datetime | None = None) -> list[ReviewCampaign]:
    """Open (or halted) campaigns whose deadline has passed."""
    now = now or timezone.now()
    return list(
        ReviewCampaign.objects.exclude(status=CampaignStatus.CLOSED)
        .filter(deadline__lte=now)
        .select_related("organization")
    )


def campaign_payload(campaign: ReviewCampaign) -> dict[str, Any]:
    """What a webhook gets about a campaign: ids, names and counts (no reviewer's email)."""
    items = campaign.items.all()
    return {
        "campaign": campaign.pk,
        "campaign_name": campaign.name,
        "organization": campaign.organization.org_id,
        "scope": campaign.scope,
        "status": campaign.status,
        "status_note": campaign.status_note,
        "deadline": campaign.deadline.isoformat(),
        "items": items.count(),
        "undecided": items.filter(decision="").count(),
        "url": f"{settings.PORTAL_BASE_URL}/admin/policies/reviewcampaign/{campaign.pk}/change/",
    }


def _announce_once(campaign: ReviewCampaign, *, field: str, event: str, now: datetime) -> bool:
    with transaction.atomic():
        claimed = ReviewCampaign.objects.filter(pk=campaign.pk, **{f"{field}__isnull": True}).update(**{field: now})
        if claimed:
            campaign.refresh_from_db()
            events.review_campaign_notice(event, campaign_payload(campaign))
    return bool(claimed)


def campaigns_daily(*, now: datetime | None = None) -> dict[str, int]:
    """The daily job: remind reviewers of campaigns nearing their deadline (once), announce and
    close the campaigns past it, announce those still not closed a day after it. A campaign that
    cannot be closed (no API key, the cap) waits for the next day or a person; one failing never
    stops the others."""
    from accounts.clients import client_for

    now = now or timezone.now()
    counts = {"reminded": 0, "closed": 0, "due": 0, "overdue": 0}
    actor = Actor.scheduler("access reviews")
    for campaign in ReviewCampaign.objects.filter(
        status=CampaignStatus.OPEN, reminded_at__isnull=True, deadline__gt=now
    ):
        if campaign.deadline - timedelta(days=campaign.remind_days_before) > now:
            continue
        with transaction.atomic():
            if not ReviewCampaign.objects.filter(pk=campaign.pk, reminded_at__isnull=True).update(reminded_at=now):
                continue
            record_event(
                actor=actor,
                action=AuditAction.REVIEW_REMINDED,
                target=campaign,
                organization=campaign.organization.org_id,
            )
        notify_reviewers(campaign, why="reminder")
        counts["reminded"] += 1
    for campaign in campaigns_due(now=now):
        counts["due"] += _announce_once(campaign, field="due_notified_at", event=events.REVIEW_CAMPAIGN_DUE, now=now)
        try:
            with client_for(campaign.organization) as client:
                closed = campaign_close(campaign=campaign, client=client, actor=actor) == CampaignStatus.CLOSED
                counts["closed"] += closed
        except Exception:  # the next campaign still closes; this one is retried tomorrow
            log.exception("closing access review %s failed", campaign.pk)
    for campaign in campaigns_due(now=now - OVERDUE_AFTER):
        counts["overdue"] += _announce_once(
            campaign, field="overdue_notified_at", event=events.REVIEW_CAMPAIGN_OVERDUE, now=now
        )
    return counts
