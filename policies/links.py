"""Personal restore links in emails: signed, expiring, bound to the enforcement's current state.

The token carries the enforcement id and its nonce. The nonce changes whenever the enforcement
changes state, so a link stops working once used or once the case moves on.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing

_SALT = "policies.restore-link"


def make_token(enforcement) -> str:
    return signing.dumps({"e": enforcement.pk, "n": enforcement.nonce}, salt=_SALT, compress=True)


def read_token(token: str, *, max_age: timedelta | None = None) -> dict:
    """Raises signing.SignatureExpired or signing.BadSignature."""
    age = max_age or timedelta(days=settings.ACCESS_LINK_MAX_AGE_DAYS)
    return signing.loads(token, salt=_SALT, max_age=age)


def restore_link(enforcement) -> str:
    # The path is a stable interface (DESIGN.md section 6): emails already sent must keep working.
    return f"{settings.PORTAL_BASE_URL}/access/restore/{make_token(enforcement)}/"


_EXTEND_SALT = "policies.extend-link"


def make_extension_token(end) -> str:
    """The link in an access-ending warning: bound to the end's nonce, which rotates once a request
    is made or the date moves, so a link asks once."""
    return signing.dumps({"m": end.pk, "n": end.nonce}, salt=_EXTEND_SALT, compress=True)


def read_extension_token(token: str, *, max_age: timedelta | None = None) -> dict:
    """Raises signing.SignatureExpired or signing.BadSignature."""
    age = max_age or timedelta(days=settings.ACCESS_LINK_MAX_AGE_DAYS)
    return signing.loads(token, salt=_EXTEND_SALT, max_age=age)


def extension_link(end) -> str:
    return f"{settings.PORTAL_BASE_URL}/access/extend/{make_extension_token(end)}/"


_GIVE_BACK_SALT = "policies.review-give-back-link"


def make_give_back_token(item) -> str:
    """The link in the email telling someone an access review removed their access: bound to the
    item's give-back nonce, which rotates once a request is made, so a link asks once."""
    return signing.dumps({"r": item.pk, "n": item.give_back_nonce}, salt=_GIVE_BACK_SALT, compress=True)


def read_give_back_token(token: str, *, max_age: timedelta | None = None) -> dict:
    """Raises signing.SignatureExpired or signing.BadSignature."""
    age = max_age or timedelta(days=settings.ACCESS_LINK_MAX_AGE_DAYS)
    return signing.loads(token, salt=_GIVE_BACK_SALT, max_age=age)


def give_back_link(item) -> str:
    return f"{settings.PORTAL_BASE_URL}/access/review/{make_give_back_token(item)}/"
