"""Responses and the error body of each API family.

- Admin v2 ``Errors`` and v1 ``ApplicationErrors``: ``{"errors":[{"id","status","code","title","detail"}]}``
- Gateway ``ProxyError``: ``{"code": 401, "message": "Unauthorized"}`` (numeric code)
- User management: ``{"key": "...", "context"?: {...}}``
- Jira ``ErrorCollection``: ``{"errorMessages": [...], "errors": {}}``
"""

import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

ADMIN, USER_MGMT, JIRA = "admin", "um", "jira"


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
        code = "ADMIN-429-1" if status == 429 else f"ADMIN-{status}-1"
        return admin_error(status, code, detail)
    if family == USER_MGMT:
        keys = {401: "unauthorized", 403: "forbidden", 404: "notFound", 429: "tooManyRequests"}
        return um_error(status, keys.get(status, "internalServerError" if status == 500 else "serviceUnavailable"))
    if family == JIRA:
        return jira_error(status, detail)
    return proxy_error(status, detail)
