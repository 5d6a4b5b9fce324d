"""The accounts panel of the admin index (registered on the site in ``accounts/admin/__init__.py``)."""

from django.utils import timezone

from accounts.selectors.dashboard import dashboard_context
from governance.admin_site import IndexPanel


def accounts_panel(request) -> dict | None:
    """Status, inactivity, seats and the trend, for users who may see accounts."""
    if not request.user.has_perm("accounts.view_account"):
        return None
    return dashboard_context(now=timezone.now())


PANEL = IndexPanel(name="accounts", template="admin/accounts/dashboard.html", context=accounts_panel)
