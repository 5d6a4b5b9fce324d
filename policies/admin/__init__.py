"""Admin for inactivity policies: policies (with their preview, email preview and "Run now"),
exemptions, the enforcement review queue, run history and access requests. Importing the modules
registers their admins, and policies' contributions to other pages on the portal's admin site:
the index panel, the account list's "exempted" filter and the account page's sections."""

from accounts.models import Account
from governance.admin_site import portal_site
from policies.admin import (  # noqa: F401
    access_requests,
    enforcements,
    exemptions,
    onboarding,
    policies,
    review_items,
    reviews,
    runs,
)
from policies.admin.account_page import ACCOUNT_PAGE_SECTIONS, ExemptedListFilter
from policies.admin.dashboard import PANEL, REVIEWS_PANEL, WAITING_PANEL
from policies.models import AccessRequest
from policies.selectors.dashboard import pending_access_requests

site = portal_site()
site.register_index_panel(WAITING_PANEL)
site.register_index_panel(REVIEWS_PANEL)
site.register_index_panel(PANEL)
site.register_menu_count(AccessRequest, pending_access_requests, word="pending")
site.register_list_filter(Account, ExemptedListFilter)
for section in ACCOUNT_PAGE_SECTIONS:
    site.register_page_section(Account, section)
