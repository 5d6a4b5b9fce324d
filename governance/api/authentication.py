"""``Authorization: Token <secret>`` (or ``Bearer <secret>``) for scripts."""

from typing import NoReturn

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from governance.api import lockout
from governance.api.tokens import api_token_check, api_token_touch
from governance.middleware import client_ip

KEYWORDS = ("token", "bearer")


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """Authenticates as the token's user; ``request.auth`` is the :class:`ApiToken`.

    No header, or another scheme: not this class's business (None), so session authentication
    may still apply. A token that is malformed, unknown, expired or revoked is a 401 with one and
    the same message, whichever check failed, and counts against the caller's address; past
    ``PORTAL_API_TOKEN_FAILURE_LIMIT`` such failures the address gets 429 (governance.api.lockout).
    """

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() not in KEYWORDS:
            return None
        address = getattr(request._request, "client_ip", None) or client_ip(request._request)
        wait = lockout.retry_after(address)
        if wait is not None:
            raise exceptions.Throttled(wait=wait, detail="Too many failed token authentications from this address.")
        if len(header) != 2:
            self._failed(address, "Invalid token header: give exactly one token after the keyword.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raw = ""
        token = api_token_check(raw)
        if token is None:
            self._failed(address, "Invalid, expired or revoked token.")
        api_token_touch(token)
        return token.user, token

    @staticmethod
    def _failed(address: str, message: str) -> NoReturn:
        lockout.token_failure_record(client_ip=address)
        raise exceptions.AuthenticationFailed(message)

    def authenticate_header(self, request):
        # Makes unauthenticated requests 401 (with this challenge) rather than 403.
        return f'{self.keyword} realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "governance.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <secret>` or `Bearer <secret>`: an API token created in the admin.",
        }
