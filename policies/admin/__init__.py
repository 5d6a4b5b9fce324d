"""Admin for inactivity policies: policies (with their preview, email preview and "Run now"),
exemptions, the enforcement review queue, run history and access requests. Importing the modules
registers their admins; the account list and page get policies' filter and sections."""

from django.contrib import admin

from policies.admin import access_requests, enforcements, exemptions, policies, runs  # noqa: F401
from policies.admin.account_page import install_account_admin_extensions
from policies.admin.dashboard import install_seat_savings

install_seat_savings(admin.site)
install_account_admin_extensions()
