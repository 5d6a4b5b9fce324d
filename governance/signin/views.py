"""The page a locked-out sign-in gets (``AXES_LOCKOUT_CALLABLE``)."""

from django.conf import settings
from django.contrib import admin
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers


def locked_out(request, original_response=None, credentials=None):
    """429 with Retry-After: the lockout ends at most ``PORTAL_LOGIN_LOCKOUT_MINUTES`` from now
    (refused attempts do not extend it), or sooner when a Portal admin lifts it."""
    minutes = settings.PORTAL_LOGIN_LOCKOUT_MINUTES
    context = {**admin.site.each_context(request), "title": "Sign-in locked", "lockout_minutes": minutes}
    response = render(request, "admin/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
    response["Retry-After"] = str(minutes * 60)
    add_never_cache_headers(response)
    return response
