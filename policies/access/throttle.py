"""Rate limits of the public access pages, per client IP, per email address and per link token.

Counted in the database (``governance.ratelimit``) so every web process shares them. Each call
counts the request against every limit given, in one statement, and answers 429 with a friendly
page once any of them is passed. The same limits apply whether an address is known or not, so a
429 reveals nothing.
"""

from django.conf import settings
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from governance.middleware import client_ip
from governance.ratelimit import hit_many

PRIVATE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    # Plain pages: no script at all, styles inline, forms post back to this site only.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def private(response):
    """Headers every access page sends: no referrer (the URL may hold a token), never cached."""
    for name, value in PRIVATE_HEADERS.items():
        response[name] = value
    add_never_cache_headers(response)
    return response


def limited(request, page: str, *, email: str | None = None, token: str | None = None):
    """None when the request may go on, else the 429 response to send."""
    window = settings.ACCESS_RATE_LIMIT_WINDOW_SECONDS
    ip = getattr(request, "client_ip", None) or client_ip(request)
    checks = [(f"access:{page}:ip", ip, settings.ACCESS_RATE_LIMIT_PER_IP)]
    if email:
        checks.append((f"access:{page}:email", email.strip().lower(), settings.ACCESS_RATE_LIMIT_PER_EMAIL))
    if token:
        checks.append((f"access:{page}:token", token, settings.ACCESS_RATE_LIMIT_PER_TOKEN))
    hits = hit_many(checks, window_seconds=window)  # one statement (one commit) for every limit
    refused = [h for h in hits if not h.allowed]
    if not refused:
        return None
    retry_after = max(h.retry_after for h in refused)
    response = render(
        request, "access/rate_limited.html", {"retry_minutes": max(1, round(retry_after / 60))}, status=429
    )
    response["Retry-After"] = str(retry_after)
    return private(response)
