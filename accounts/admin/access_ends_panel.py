"""The "access ending soon" panel of the admin index (registered in ``accounts/admin/__init__.py``)."""

from datetime import timedelta

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessEndStatus, MembershipEnd
from accounts.models.ends import ExtensionStatus
from governance.admin_site import IndexPanel

PANEL_DAYS = 7


def access_ends_panel(request) -> dict | None:
    if not request.user.has_perm("accounts.view_membershipend"):
        return None
    now = timezone.now()
    scheduled = Q(status=AccessEndStatus.SCHEDULED)
    # One query for the three figures: the dashboard's query count is pinned.
    figures = MembershipEnd.objects.filter(status__in=(AccessEndStatus.SCHEDULED, AccessEndStatus.FAILED)).aggregate(
        ending=Count("pk", filter=scheduled & Q(expires_at__gt=now, expires_at__lte=now + timedelta(days=PANEL_DAYS))),
        pending=Count("pk", filter=scheduled & Q(extension_status=ExtensionStatus.PENDING)),
        failed=Count("pk", filter=Q(status=AccessEndStatus.FAILED)),
    )
    accounts_url = reverse("admin:accounts_account_changelist")
    ends_url = reverse("admin:accounts_membershipend_changelist")
    return {
        "days": PANEL_DAYS,
        **figures,
        "accounts_url": f"{accounts_url}?access_ending_within={PANEL_DAYS}",
        "pending_url": f"{ends_url}?extension_status=pending",
        "failed_url": f"{ends_url}?status=failed",
    }


PANEL = IndexPanel(name="access-ends", template="admin/accounts/access_ends_panel.html", context=access_ends_panel)
