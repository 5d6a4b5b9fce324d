"""Emails of the access pages: the restore link, and each request's outcome.

Sending never breaks a decision or a fulfilment: a failure is logged (without the link) and the
request keeps its state; the person can always ask again at /access/.
"""

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from governance.logging import mask_access_tokens, redact
from policies.links import extension_link, give_back_link, restore_link
from policies.models import AccessRequest, Enforcement
from policies.models.access_requests import AccessRequestKind

log = logging.getLogger(__name__)

_SUBJECTS = {
    "link": "Your link to ask for your Atlassian access back",
    "fulfilled": "Your Atlassian access is back",
    "kept": "You keep your Atlassian access",
    "rejected": "Your request for Atlassian access was declined",
    "failed": "We could not give your Atlassian access back yet",
    "expired": "Your request for Atlassian access expired",
}


def send_access_ending(end, *, days: int) -> int:
    """The warning ``days`` ahead of an end date, to the person (with the link to ask for more
    time) and to whoever granted it. Returns how many emails went out."""
    account, group = end.account, end.group
    context = {
        "name": account.name or account.email,
        "account": str(account),
        "group": group.name,
        "organization": account.organization.name or account.organization.org_id,
        "expires_at": end.expires_at,
        "days": days,
        "reason": end.reason,
    }
    subject = f"Your Atlassian access through {group.name} ends on {end.expires_at:%d %B %Y}"
    sent = 0
    if account.email:
        link = {"extension_link": extension_link(end), "max_age_days": settings.ACCESS_LINK_MAX_AGE_DAYS}
        sent += _send("access_ending", to=account.email, subject=subject, context={**context, **link})
    granter = getattr(end.granted_by, "email", "")
    if granter and granter != account.email:
        granter_subject = f"Access you granted ends on {end.expires_at:%d %B %Y}: {account} in {group.name}"
        sent += _send("access_ending_granter", to=granter, subject=granter_subject, context=context)
    return sent


def send_review_removed(item) -> bool:
    """Tell the person an access review took ``item``'s access away: what, by which review, the
    reviewer's reason if any, and the personal link to ask for it back (expiring, one use)."""
    account = item.account
    if not account.email:  # nobody to tell: the help desk can still give it back
        return False
    context = {
        "name": account.name or account.email,
        "organization": account.organization.name or account.organization.org_id,
        "access": item.access,
        "scope": item.campaign.scope,
        "campaign": item.campaign.name,
        "reason": item.reason if item.decision else "",
        "undecided": not item.decision,
        "give_back_link": give_back_link(item),
        "max_age_days": settings.ACCESS_LINK_MAX_AGE_DAYS,
    }
    subject = f"An access review removed your Atlassian access: {item.access}"
    return _send("review_removed", to=account.email, subject=subject, context=context)


def send_give_back_outcome(item, outcome: str) -> bool:
    """``fulfilled`` or ``refused``: the answer to a request made from the removal email."""
    account = item.account
    if not account.email:
        return False
    context = {
        "name": account.name or account.email,
        "access": item.access,
        "campaign": item.campaign.name,
        "reason": item.give_back_refusal,
    }
    if outcome == "fulfilled":
        return _send("review_given_back", to=account.email, subject=_SUBJECTS["fulfilled"], context=context)
    return _send("review_give_back_refused", to=account.email, subject=_SUBJECTS["rejected"], context=context)


def _send(name: str, *, to: str, context: dict, html: bool = False, subject: str = "") -> bool:
    context = {"portal_url": settings.PORTAL_BASE_URL, "access_url": f"{settings.PORTAL_BASE_URL}/access/", **context}
    try:
        text = render_to_string(f"emails/access/{name}.txt", context)
        message = EmailMultiAlternatives(subject or _SUBJECTS[name], text, settings.DEFAULT_FROM_EMAIL, [to])
        if html:
            message.attach_alternative(render_to_string(f"emails/access/{name}.html", context), "text/html")
        message.send()
    except Exception as exc:  # a mail failure is logged, never raised into the request's workflow
        log.warning("Access email %r failed: %s", name, mask_access_tokens(redact(f"{type(exc).__name__}: {exc}")))
        return False
    return True


def send_link(enforcement: Enforcement) -> bool:
    account = enforcement.account
    if not account.email:  # as in send_outcome: no address, nothing to send
        return False
    return _send(
        "link",
        to=account.email,
        html=True,
        context={
            "name": account.name or account.email,
            "organization": account.organization.name or account.organization.org_id,
            "policy": enforcement.policy.name,
            "restore_link": restore_link(enforcement),
            "max_age_days": settings.ACCESS_LINK_MAX_AGE_DAYS,
        },
    )


def send_outcome(access_request: AccessRequest, outcome: str) -> bool:
    """``fulfilled``, ``rejected``, ``failed`` or ``expired``, to the mirrored account's address."""
    if not access_request.email:
        return False
    account = access_request.account
    # Someone who asked to keep access never lost it: the subject says it is kept, not "back".
    kept = outcome == "fulfilled" and access_request.kind == AccessRequestKind.KEEP
    return _send(
        outcome,
        to=access_request.email,
        subject=_SUBJECTS["kept"] if kept else "",
        context={
            "name": account.name or access_request.email,
            "request": access_request,
            "restores": access_request.restores or {},
            "reason": access_request.decision_reason,
        },
    )
