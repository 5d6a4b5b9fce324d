"""Admin for the mirror: accounts (lists, page, bulk actions), groups, organizations, products,
and the accounts panel of the admin index. Importing the modules registers their admins."""

from accounts.admin import access_ends, accounts, groups, organizations, products  # noqa: F401  (registers the admins)
from accounts.admin.access_ends_panel import PANEL as ACCESS_ENDS_PANEL
from accounts.admin.dashboard import PANEL
from governance.admin_site import portal_site

portal_site().register_index_panel(PANEL)
portal_site().register_index_panel(ACCESS_ENDS_PANEL)
