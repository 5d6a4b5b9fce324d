"""The one error type the Atlassian client raises."""

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class AtlassianError(Exception):
    """A failed call to an Atlassian API.

    ``status`` is the HTTP status (None when no response came back: timeout, dropped
    connection), ``code`` Atlassian's error code when the body carried one (``ADMIN-404-8``,
    ``conflict.lifecycleErrors`` ...), ``retryable`` whether the same call may succeed later.
    The message never contains a credential: it names the method and the path only.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        method: str = "",
        path: str = "",
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retryable = retryable
        self.method = method
        self.path = path

    @property
    def permanent(self) -> bool:
        return not self.retryable

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(self.code)
        return f"{' · '.join(parts)} ({where})" if where else " · ".join(parts)


class MalformedResponse(AtlassianError):
    """A 2xx response whose body is not the documented JSON shape."""
