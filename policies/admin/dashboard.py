"""The policies panels of the admin index: what waits for a decision, the seats current
policies would free, access review progress (registered on the site in ``policies/admin/__init__.py``)."""

from django.core.cache import cache

from governance.admin_site import IndexPanel
from policies.selectors.dashboard import policy_seat_savings, savings_totals, waiting_for_a_decision
from policies.selectors.reviews import dashboard_progress
from policies.services.review_items import items_of

CACHE_KEY = "policies:dashboard:seat-savings:v2"  # v2: with prices and totals
CACHE_SECONDS = 600  # one evaluation per enabled policy: too costly for every page view


def seat_savings_panel(request) -> dict | None:
    """``{"rows": [...], "totals": {...}}`` (policy_seat_savings, savings_totals), or None for
    those who may not see policies."""
    if not request.user.has_perm("policies.view_inactivitypolicy"):
        return None
    savings = cache.get(CACHE_KEY)
    if savings is None:
        rows = [{**row, "organization": str(row["organization"])} for row in policy_seat_savings()]
        savings = {"rows": rows, "totals": savings_totals(rows)}
        cache.set(CACHE_KEY, savings, CACHE_SECONDS)
    return savings


PANEL = IndexPanel(
    name="policy-seat-savings", template="admin/policies/dashboard_savings.html", context=seat_savings_panel
)

WAITING_PANEL = IndexPanel(
    name="policy-waiting", template="admin/policies/dashboard_waiting.html", context=waiting_for_a_decision
)


def review_progress_panel(request) -> dict | None:
    """Campaigns not closed yet, with how many items are decided: all of them for those who see
    every campaign, a reviewer's own items otherwise; None for those who may see no review item."""
    user = request.user
    if not user.has_perm("policies.view_reviewitem"):
        return None
    mine = not user.has_perm("policies.view_reviewcampaign")
    return {"rows": dashboard_progress(items_of(user)), "mine": mine}


REVIEWS_PANEL = IndexPanel(
    name="access-reviews", template="admin/policies/dashboard_reviews.html", context=review_progress_panel
)
