"""Repeated bad API tokens from one client address: refused with 429 once past a limit.

Counted in the database (``governance.ratelimit``, one fixed window of
``PORTAL_API_TOKEN_FAILURE_WINDOW_MINUTES``), so every web process and host shares the count. Only
failures count; a locked address is refused before its token is looked up, whether the token is
good or not, until the window ends. A lockout is one audit event (the failure that reaches the
limit), never one per failure, so bad tokens cannot flood the audit log.
"""

from django.conf import settings

from governance.audit.models import ActorKind, AuditAction
from governance.audit.record import Actor, record_event
from governance.ratelimit import hit, peek

SCOPE = "api:token-failures:ip"


def _window_seconds() -> int:
    return settings.PORTAL_API_TOKEN_FAILURE_WINDOW_MINUTES * 60


def retry_after(client_ip: str) -> int | None:
    """Seconds until ``client_ip`` may try a token again, or None when it is not locked out."""
    count, seconds = peek(SCOPE, client_ip, window_seconds=_window_seconds())
    return seconds if count >= settings.PORTAL_API_TOKEN_FAILURE_LIMIT else None


def token_failure_record(*, client_ip: str) -> None:
    """Count one failed token authentication from ``client_ip``; audit the one that locks it out."""
    limit = settings.PORTAL_API_TOKEN_FAILURE_LIMIT
    counted = hit(SCOPE, client_ip, limit=limit, window_seconds=_window_seconds())
    if counted.count == limit:  # exactly one request per window sees this count
        record_event(
            actor=Actor(kind=ActorKind.ANONYMOUS, client_ip=client_ip or None),
            action=AuditAction.API_AUTH_LOCKED_OUT,
            target_type="ip_address",
            target_id=client_ip,
            target_repr=f"address {client_ip}",
            after={
                "failures": limit,
                "window_minutes": settings.PORTAL_API_TOKEN_FAILURE_WINDOW_MINUTES,
                "retry_after_seconds": counted.retry_after,
            },
        )
