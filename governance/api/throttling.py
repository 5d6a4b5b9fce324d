"""Rate limits per API token (or per user with a session), counted in the shared cache.

The cache is the database table or Redis (settings: never LocMemCache), so every web process and
host counts against the same budget. Rates are read from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``
when each request is checked, not when this module is imported.
"""

from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from governance.api.models import ApiToken


class ApiRateThrottle(SimpleRateThrottle):
    """Every request: ``api`` rate per token, per session user, or per client address."""

    scope = "api"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        auth = getattr(request, "auth", None)
        if isinstance(auth, ApiToken):
            ident = f"token-{auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = "ip-" + (getattr(request._request, "client_ip", None) or self.get_ident(request))
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ApiWriteRateThrottle(ApiRateThrottle):
    """Writes only (POST ...), on a tighter ``api_write`` budget: each may change Atlassian."""

    scope = "api_write"

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)
