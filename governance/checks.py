"""System checks for deployment mistakes the settings alone cannot refuse."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def proxy_hops_for_client_addresses(app_configs, **kwargs):
    """Behind a TLS proxy with no trusted X-Forwarded-For hop, every request comes from the proxy's
    address: the sign-in lockout per address (and every per-address rate limit) then counts all
    users as one, and a few failed sign-ins lock everybody out."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and settings.PORTAL_TRUSTED_PROXY_COUNT == 0:
        return [
            checks.Warning(
                "DJANGO_BEHIND_TLS_PROXY is on but PORTAL_TRUSTED_PROXY_COUNT is 0: every client shares the "
                "proxy's address, so per-address sign-in lockouts and rate limits count all users together.",
                hint="Set PORTAL_TRUSTED_PROXY_COUNT to the number of proxies that append to X-Forwarded-For.",
                id="governance.W001",
            )
        ]
    return []
