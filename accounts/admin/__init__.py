"""Admin for the mirror: accounts (lists, page, bulk actions), groups, organizations, products,
and the accounts panel of the admin index. Importing the modules registers their admins."""

from django.contrib import admin

from accounts.admin import accounts, groups, organizations, products  # noqa: F401  (registers the admins)
from accounts.admin.dashboard import PANEL

admin.site.register_index_panel(PANEL)
