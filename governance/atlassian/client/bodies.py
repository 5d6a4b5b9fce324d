"""Reading response bodies: JSON on success, the four error shapes on failure.

Nothing here trusts the body. Error bodies are parsed defensively because each API family uses its
own shape and gateways answer with plain text or nothing at all; shape problems in a 2xx body are
raised as :class:`ShapeError` and turned into ``MalformedResponse`` by :func:`shape_guard`, which
knows the method and path to name.
"""

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests

from governance.atlassian.errors import MalformedResponse

MESSAGE_LIMIT = 300


class ShapeError(ValueError):
    """A 2xx body that is not the documented shape. The message describes the shape, never data."""


def json_body(response: requests.Response) -> Any:
    """The decoded JSON of a response, or ShapeError when it is empty or not JSON."""
    if not response.content:
        raise ShapeError("empty body where JSON was expected")
    try:
        return json.loads(response.content)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise ShapeError("body is not valid JSON") from exc


@contextmanager
def shape_guard(method: str, path: str, status: int | None = None) -> Iterator[None]:
    """Turn ShapeError raised inside the block into MalformedResponse naming method and path."""
    try:
        yield
    except ShapeError as exc:
        raise MalformedResponse(str(exc), status=status, method=method, path=path, retryable=False) from None


def error_details(response: requests.Response) -> tuple[str | None, str]:
    """Atlassian's error code (if any) and a human message from an error response.

    Handles, in order: v1/v2 ``{"errors": [{"code", "title", "detail"}]}``, Jira
    ``{"errorMessages": [...], "errors": {field: text}}``, the gateway ``ProxyError``
    ``{"code": 401, "message": ...}`` (numeric code), user management ``{"key", "context"}``, and
    anything else (plain text, HTML, empty), for which only the status reason is used: a
    non-JSON body can be an HTML page from a proxy and is not worth echoing into logs. The message
    is not shortened here: the transport first scrubs secrets, then shortens.
    """
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    code, message = _details_from_json(body) if isinstance(body, Mapping) else (None, "")
    if not message:
        message = response.reason or f"HTTP {response.status_code}"
    return code, message


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """One line, at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _details_from_json(body: Mapping[str, Any]) -> tuple[str | None, str]:
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return _from_error_list(errors)
    if "errorMessages" in body or isinstance(errors, Mapping):
        return None, _from_jira_collection(body)
    if "key" in body and isinstance(body["key"], str):
        return body["key"], _context_message(body.get("context")) or body["key"]
    code = body.get("code")
    message = body.get("message")
    return (_text(code) or None), (_text(message) or "")


def _from_error_list(errors: list[Any]) -> tuple[str | None, str]:
    first = errors[0] if isinstance(errors[0], Mapping) else {}
    code = _text(first.get("code")) or None
    title, detail = _text(first.get("title")), _text(first.get("detail"))
    message = f"{title}: {detail}" if title and detail and detail != title else (detail or title)
    if len(errors) > 1:
        message = f"{message} (+{len(errors) - 1} more)"
    return code, message


def _from_jira_collection(body: Mapping[str, Any]) -> str:
    messages = [_text(m) for m in body.get("errorMessages") or [] if _text(m)]
    fields = body.get("errors")
    if isinstance(fields, Mapping):
        messages.extend(f"{_text(name)}: {_text(text)}" for name, text in fields.items())
    return "; ".join(messages)


def _context_message(context: Any) -> str:
    if isinstance(context, Mapping):
        return _text(context.get("message"))
    return _text(context)


def _text(value: Any) -> str:
    if value is None or isinstance(value, Mapping | list):
        return ""
    return str(value).strip()
