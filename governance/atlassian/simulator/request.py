"""The parsed HTTP request handed to the handlers."""

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import ApiError


class Request:
    def __init__(self, method: str, target: str, headers: Any, body: bytes, host: str | None):
        parts = urlsplit(target)
        self.method = method
        self.target = target
        self.path = parts.path
        self.query: dict[str, list[str]] = parse_qs(parts.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.base = f"http://{host or 'localhost'}"
        self.site = self.base  # Jira base: the site, or the gateway /ex/jira/{cloudId}
        self.params: dict[str, str] = {}
        self.family: str | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int, on_error: Callable[[str], ApiError]) -> int:
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise on_error(f"{name} must be an integer") from None

    def json(self, on_error: Callable[[str], ApiError]) -> dict[str, Any]:
        """The body as a JSON object (an empty body is an empty object)."""
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except ValueError:
            raise on_error("The request body is not valid JSON") from None
        if not isinstance(value, dict):
            raise on_error("The request body must be a JSON object")
        return value
