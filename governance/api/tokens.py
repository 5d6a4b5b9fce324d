"""API tokens: issue (the secret is returned once), check, touch and revoke.

A token reads ``gpt_<prefix>_<secret>``: the prefix (8 hex characters) is stored in clear to find
the row and to let people tell their tokens apart; the whole string is stored only as SHA-256. The
secret carries 256 bits of randomness, so a plain hash is enough (no salt or slow hash needed:
nobody can guess their way to a preimage).
"""

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from governance.api.models import ApiToken
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event

TOKEN_PREFIX = "gpt_"  # noqa: S105  (a label, not a secret)
_TOKEN_RE = re.compile(r"^gpt_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
# last_used_at is written at most this often per token: not one write per request.
TOUCH_INTERVAL = timedelta(minutes=1)


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def may_issue(issuer, user) -> bool:
    """Whether ``issuer`` may create a token acting as ``user``: for themselves, or for an active
    user whose every permission the issuer holds too (a token never widens what its maker can do)."""
    if not user.is_active:
        return False
    if issuer.pk == user.pk or issuer.is_superuser:
        return True
    if user.is_superuser:
        return False
    return user.get_all_permissions() <= issuer.get_all_permissions()


def api_token_create(*, token: ApiToken, actor: Actor) -> tuple[ApiToken, str]:
    """Save ``token`` (user, name, expires_at set by the caller) with a fresh secret, audited.

    Returns the token and its secret. The secret exists only in the return value: show it to the
    person once and forget it.
    """
    token.full_clean(exclude=["prefix", "secret_hash"])
    for _attempt in range(5):
        prefix = secrets.token_hex(4)
        raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        token.prefix, token.secret_hash = prefix, hash_secret(raw)
        try:
            with transaction.atomic():
                token.save()
                record_event(
                    actor=actor,
                    action=AuditAction.API_TOKEN_CREATED,
                    target=token,
                    after={
                        "user": token.user.get_username(),
                        "name": token.name,
                        "prefix": prefix,
                        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
                    },
                )
        except IntegrityError:  # a prefix collision (1 in 4 billion per pair): draw again
            token.pk = None
            continue
        return token, raw
    raise RuntimeError("Could not draw a unique token prefix.")


def api_token_revoke(*, token: ApiToken, actor: Actor, reason: str = "", now=None) -> bool:
    """Revoke ``token`` from now on. Returns False when it was already revoked (nothing recorded)."""
    now = now or timezone.now()
    with transaction.atomic():
        won = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
        if won:
            token.revoked_at = now
            record_event(
                actor=actor,
                action=AuditAction.API_TOKEN_REVOKED,
                target=token,
                reason=reason,
                after={"user": token.user.get_username(), "name": token.name, "prefix": token.prefix},
            )
    return bool(won)


def api_tokens_revoke_for_user(*, user, actor: Actor, reason: str, now=None) -> int:
    """Revoke every token of ``user`` not revoked yet (expired ones too), one audit event each.

    Used when the user is deactivated: a deactivated user's tokens are refused anyway, but
    without this they would work again the moment the user is reactivated, perhaps for someone
    else's job, long after the scripts holding them should have been cut off. Returns how many.
    """
    now = now or timezone.now()
    revoked = 0
    with transaction.atomic():
        for token in ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("pk"):
            token.user = user
            revoked += api_token_revoke(token=token, actor=actor, reason=reason, now=now)
    return revoked


def api_token_check(raw: str, *, now=None) -> ApiToken | None:
    """The usable token ``raw`` stands for (its user loaded), or None: malformed, unknown, wrong
    secret, expired, revoked, or its user deactivated."""
    match = _TOKEN_RE.match(raw or "")
    if not match:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=match.group(1)).first()
    if token is None or not hmac.compare_digest(token.secret_hash, hash_secret(raw)):
        return None
    if not token.is_usable(now) or not token.user.is_active:
        return None
    return token


def api_token_touch(token: ApiToken, *, now=None) -> None:
    """Record use, at most once per :data:`TOUCH_INTERVAL` (a conditional UPDATE, so concurrent
    requests write once between them)."""
    now = now or timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_INTERVAL:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOUCH_INTERVAL)
    ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
