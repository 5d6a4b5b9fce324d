"""Adds "seats current policies would free" to the admin index (rendered by the accounts dashboard)."""

from functools import wraps

from django.core.cache import cache

from policies.dashboard import policy_seat_savings

CACHE_KEY = "policies:dashboard:seat-savings"
CACHE_SECONDS = 600  # one evaluation per enabled policy: too costly for every page view


def install_seat_savings(site) -> None:
    original = site.index

    @wraps(original)
    def index(request, extra_context=None):
        context = dict(extra_context or {})
        if request.user.has_perm("policies.view_inactivitypolicy"):
            savings = cache.get(CACHE_KEY)
            if savings is None:
                savings = [{**row, "organization": str(row["organization"])} for row in policy_seat_savings()]
                cache.set(CACHE_KEY, savings, CACHE_SECONDS)
            context.setdefault("policy_seat_savings", savings)
        return original(request, extra_context=context)

    site.index = index
