"""``{% sync_status %}``: last sync, its outcome, the next one and a "Sync now" button per
organization, for the dashboard and the accounts list (templates/admin/accounts/sync_status.html)."""

from django import template

from accounts.sync.status import sync_overview

register = template.Library()


@register.inclusion_tag("admin/accounts/sync_status.html", takes_context=True)
def sync_status(context):
    request = context["request"]
    return {
        "statuses": sync_overview(),
        "can_sync": request.user.has_perm("accounts.change_organization"),
        "csrf_token": context.get("csrf_token"),
    }
