"""``{% sync_status %}``: last sync, its outcome, the next one and a "Sync now" button per
organization, for the dashboard and the accounts list (templates/admin/accounts/sync_status.html)."""

from django import template
from django.urls import NoReverseMatch, reverse

from accounts.sync.status import sync_overview

register = template.Library()


@register.inclusion_tag("admin/accounts/sync_status.html", takes_context=True)
def sync_status(context):
    request = context["request"]
    try:  # a page served by another admin site (a test's) has no organization pages to link to
        reverse("admin:accounts_organization_sync_run", args=[0])
    except NoReverseMatch:
        return {"statuses": []}
    return {
        "statuses": sync_overview(),
        "can_sync": request.user.has_perm("accounts.change_organization"),
        "csrf_token": context.get("csrf_token"),
    }
