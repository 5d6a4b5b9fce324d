"""The link in the email telling someone an access review removed their access: which item it
stands for, and the request it records (policies/services/review_give_back.py)."""

from django.core import signing

from governance.audit.models import ActorKind
from governance.audit.record import Actor
from policies.links import read_give_back_token
from policies.models import GiveBackStatus, ItemOutcome, ReviewItem
from policies.services.review_give_back import item_give_back_request


def resolve_give_back_link(token: str) -> ReviewItem | None:
    """The removed item a link stands for, or None (tampered, expired, used, or no longer removed)."""
    try:
        payload = read_give_back_token(token)
        pk, nonce = int(payload["r"]), str(payload["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    if not nonce:
        return None
    return (
        ReviewItem.objects.select_related("campaign__organization", "account__organization", "group", "product")
        .filter(pk=pk, give_back_nonce=nonce, outcome=ItemOutcome.REVOKED, give_back_status=GiveBackStatus.NONE)
        .first()
    )


def give_back_request_create(
    *, item: ReviewItem, nonce: str, justification: str, client_ip: str | None = None
) -> ReviewItem:
    """The request, made by the person the item is about (the requester, as on the other pages)."""
    account = item.account
    requester = Actor(kind=ActorKind.REQUESTER, name=account.email or str(account), client_ip=client_ip)
    return item_give_back_request(item=item, nonce=nonce, justification=justification, actor=requester)
