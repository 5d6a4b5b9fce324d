"""Responses and the error body of each API family.

- Admin v2 ``Errors`` and v1 ``ApplicationErrors``: ``{"errors":[{"id","status","code","title","detail"}]}``
- Gateway ``ProxyError``: ``{"code": 401, "message": "Unauthorized"}`` (numeric code)
- User management: ``{"key": "...", "context"?: {...}}``
- Jira ``ErrorCollection``: ``{"errorMessages": [...], "errors": {}}``

Admin error codes are those of the documents' code list (ORG26 ``ApplicationError.code``), with
their documented meaning; where the list has nothing for a case the nearest general code is used
(``ADMIN-404-1`` "Unknown resource" for an unknown directory, ``ADMIN-409-28`` "Conflict" for an
existing membership), and gateway-level failures (401, 502, 503, 504) carry the ``ProxyError`` shape.
"""

import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

ADMIN, USER_MGMT, JIRA = "admin", "um", "jira"

# The documents' code list (ORG26 ApplicationError.code): every ADMIN-xxx code the simulator sends.
INVALID_CURSOR = "ADMIN-400-1"  # Invalid page cursor
INVALID_RESOURCE = "ADMIN-400-4"  # Invalid resource
INVALID_SYNTAX = "ADMIN-400-19"  # Request syntax is not valid (query parameters)
INVALID_BODY = "ADMIN-400-24"  # Invalid request body
NOT_ALLOWED_ORG = "ADMIN-403-3"  # Not allowed to manage the org
NOT_ALLOWED_GROUP = "ADMIN-403-5"  # Not allowed to manage the group (IdP-synced)
UNKNOWN_RESOURCE = "ADMIN-404-1"  # Unknown resource (an unknown directory: the list has no code of its own)
ORG_NOT_FOUND = "ADMIN-404-2"  # Organization not found
USER_NOT_FOUND = "ADMIN-404-8"  # User not found
GROUP_NOT_FOUND = "ADMIN-404-10"  # Group not found
METHOD_NOT_SUPPORTED = "ADMIN-405-1"  # Method not supported
LICENCE_LIMIT = "ADMIN-409-3"  # License limit exceeded
CONFLICT = "ADMIN-409-28"  # Conflict (already a member)
RATE_LIMITED = "ADMIN-429-1"  # Rate limit exceeded
INTERNAL_ERROR = "ADMIN-500-1"  # Internal error
# The v1 user-role endpoints document codes of the ADMIN-UAM list instead.
UAM_BAD_REQUEST = "ADMIN-UAM-400-1"  # Bad Request
UAM_INVALID_ROLE = "ADMIN-UAM-400-3"  # Invalid Role for Resource
UAM_NOT_FOUND = "ADMIN-UAM-404-3"  # what the role endpoints document for an unknown org or user
ROLE_LICENCE_LIMIT = "ADMIN-UAM-409-3"  # Product License Limit Exceeded
DOCUMENTED_CODES = frozenset(
    {
        INVALID_CURSOR,
        INVALID_RESOURCE,
        INVALID_SYNTAX,
        INVALID_BODY,
        NOT_ALLOWED_ORG,
        NOT_ALLOWED_GROUP,
        UNKNOWN_RESOURCE,
        ORG_NOT_FOUND,
        USER_NOT_FOUND,
        GROUP_NOT_FOUND,
        METHOD_NOT_SUPPORTED,
        LICENCE_LIMIT,
        CONFLICT,
        RATE_LIMITED,
        INTERNAL_ERROR,
        UAM_BAD_REQUEST,
        UAM_INVALID_ROLE,
        UAM_NOT_FOUND,
        ROLE_LICENCE_LIMIT,
    }
)
# The general code of each status, for injected faults and unrouted paths.
_GENERAL_CODES = {
    400: INVALID_BODY,
    403: NOT_ALLOWED_ORG,
    404: UNKNOWN_RESOURCE,
    405: METHOD_NOT_SUPPORTED,
    409: CONFLICT,
    429: RATE_LIMITED,
    500: INTERNAL_ERROR,
}


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """Raised by handlers to answer with an error response."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def admin_error(status: int, code: str, detail: str, title: str | None = None) -> ApiError:
    body = {
        "errors": [
            {
                "id": str(uuid.uuid4()),
                "status": str(status),
                "code": code,
                "title": title or reason(status),
                "detail": detail,
            }
        ]
    }
    return ApiError(Response(status, body))


def proxy_error(status: int, message: str | None = None) -> ApiError:
    return ApiError(Response(status, {"code": status, "message": message or reason(status)}))


def um_error(status: int, key: str, context: dict[str, Any] | None = None) -> ApiError:
    body: dict[str, Any] = {"key": key}
    if context is not None:
        body["context"] = context
    return ApiError(Response(status, body))


def jira_error(status: int, message: str, errors: dict[str, str] | None = None) -> ApiError:
    return ApiError(Response(status, {"errorMessages": [message] if message else [], "errors": errors or {}}))


def family_error(family: str | None, status: int, detail: str) -> ApiError:
    """A generic error of the right shape for a family (used by injected faults and 404 routes)."""
    if family == ADMIN:
        code = _GENERAL_CODES.get(status)
        return admin_error(status, code, detail) if code else proxy_error(status, detail)
    if family == USER_MGMT:
        keys = {401: "unauthorized", 403: "forbidden", 404: "notFound", 429: "tooManyRequests"}
        return um_error(status, keys.get(status, "internalServerError" if status == 500 else "serviceUnavailable"))
    if family == JIRA:
        return jira_error(status, detail)
    return proxy_error(status, detail)
