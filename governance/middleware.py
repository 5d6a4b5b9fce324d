"""Request-level helpers."""

from django.conf import settings


def client_ip(request) -> str:
    """The caller's address, trusting X-Forwarded-For only as far as the configured proxies.

    With N trusted proxies, the client is the Nth entry from the right of X-Forwarded-For;
    anything further left was written by the client and can be forged.
    """
    hops = settings.PORTAL_TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR", "") or ""
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) >= hops:
        return forwarded[-hops]
    return remote


class ClientIPMiddleware:
    """Sets ``request.client_ip`` once, for audit events and rate limits."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.client_ip = client_ip(request)
        return self.get_response(request)
