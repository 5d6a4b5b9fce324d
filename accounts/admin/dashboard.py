"""Puts the accounts dashboard on the admin index page.

Django's admin index takes ``extra_context``; this wraps the site's ``index`` view to add the
dashboard numbers for users who may see accounts. Another app (policies) can wrap it again the same
way and pass ``policy_seat_savings``: the template renders that block only when it is given.
"""

from functools import wraps

from django.utils import timezone

from accounts.dashboard import dashboard_context


def install_dashboard(site) -> None:
    original = site.index

    @wraps(original)
    def index(request, extra_context=None):
        context = {}
        if request.user.has_perm("accounts.view_account"):
            context["dashboard"] = dashboard_context(now=timezone.now())
        context.update(extra_context or {})
        return original(request, extra_context=context)

    site.index = index
