"""Request-level helpers."""

import ipaddress
import time

from django.conf import settings
from django.contrib.auth import SESSION_KEY


def client_ip(request) -> str:
    """The caller's address, trusting X-Forwarded-For only as far as the configured proxies.

    With N trusted proxies, the client is the Nth entry from the right of X-Forwarded-For;
    anything further left was written by the client and can be forged. An entry that is not an IP
    address (a misconfigured hop count reading a forged value) falls back to REMOTE_ADDR: the address
    goes into the audit log's and the sign-in lockout's IP columns, which refuse anything else.
    """
    hops = settings.PORTAL_TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR", "") or ""
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) >= hops and _is_ip(forwarded[-hops]):
        return forwarded[-hops]
    return remote


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


class ClientIPMiddleware:
    """Sets ``request.client_ip`` once, for audit events and rate limits."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.client_ip = client_ip(request)
        return self.get_response(request)


class SessionIdleMiddleware:
    """Ends a signed-in session after ``SESSION_COOKIE_AGE`` seconds without a request.

    Saving a session sets its expiry to now + SESSION_COOKIE_AGE (in the database and on the cookie),
    so a session saved on each request expires only when idle. Saving at most once every
    ``SESSION_REFRESH_SECONDS`` gives the same idle timeout, to within that interval, for one write a
    minute per person instead of one per request (settings: SESSION_SAVE_EVERY_REQUEST's cost).
    Visitors without a signed-in session are left alone: no session is created for them. Signing in
    saves the session anyway, so it counts as the first refresh (:func:`session_fresh_at_sign_in`).
    """

    KEY = "_portal_refreshed_at"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = request.session
        # SESSION_KEY is in a session only while someone is signed in; one past its expiry loads empty.
        if session.session_key is not None and SESSION_KEY in session:
            now = int(time.time())
            if now - session.get(self.KEY, 0) >= settings.SESSION_REFRESH_SECONDS:
                session[self.KEY] = now  # marks the session modified: SessionMiddleware saves it
        return self.get_response(request)


def session_fresh_at_sign_in(sender, request, user, **kwargs):
    """``user_logged_in`` receiver: the sign-in's own session save is a refresh, so the next request
    need not write the session again."""
    if request is not None and hasattr(request, "session"):
        request.session[SessionIdleMiddleware.KEY] = int(time.time())
