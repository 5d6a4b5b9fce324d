"""Reads behind the access pages and decisions: which enforcement a link stands for, what it took
away, whether it can still be given back, and whether a request may be approved without a person."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core import signing
from django.db.models import Q

from accounts.models import Account, AccountStatus, Group, Membership, Product
from governance.audit.models import ActorKind, AuditAction, AuditEvent
from policies.links import read_token
from policies.models import Enforcement, EnforcementStatus, ExemptionKind, PolicyAction
from policies.models.access_requests import AccessRequestKind
from policies.selectors.snapshots import account_snapshot, active_exemptions

# Atlassian keeps a deleted managed account for 14 days; after that it is gone for good.
DELETE_GRACE = timedelta(days=14)

# A link stands for a case that was acted on (give it back) or is about to be (keep access).
RESTORABLE = (EnforcementStatus.DONE,)
KEEPABLE = (
    EnforcementStatus.WARNED,
    EnforcementStatus.DUE,
    EnforcementStatus.AWAITING_REVIEW,
    EnforcementStatus.APPROVED,
    EnforcementStatus.EXECUTING,
)
LINKABLE = RESTORABLE + KEEPABLE

# What the account's status is right after each action, if nobody else touched it since.
# Keyed by str: an enforcement's action is read back from the database as a plain string.
_STATUS_AFTER: dict[str, AccountStatus] = {
    PolicyAction.NOTIFY: AccountStatus.ACTIVE,
    PolicyAction.REMOVE_PRODUCT_ACCESS: AccountStatus.ACTIVE,
    PolicyAction.SUSPEND: AccountStatus.SUSPENDED,
    PolicyAction.DEACTIVATE: AccountStatus.DEACTIVATED,
    PolicyAction.DELETE: AccountStatus.PENDING_DELETION,
}
_PEOPLE = (ActorKind.ADMIN, ActorKind.HELP_DESK, ActorKind.API)
_ACTION_PHRASES: dict[str, str] = {
    PolicyAction.NOTIFY: "reviewed",
    PolicyAction.REMOVE_PRODUCT_ACCESS: "removed from products",
    PolicyAction.SUSPEND: "suspended",
    PolicyAction.DEACTIVATE: "deactivated",
    PolicyAction.DELETE: "scheduled for deletion",
}
_ACCOUNT_STATES: dict[str, str] = {
    PolicyAction.SUSPEND: "suspended",
    PolicyAction.DEACTIVATE: "deactivated",
    PolicyAction.DELETE: "scheduled for deletion",
}


def resolve_link(token: str) -> Enforcement | None:
    """The enforcement a restore link stands for, or None for a tampered, expired or used link.

    The caller shows the same page for every None: nothing tells a visitor which check failed.
    """
    try:
        payload = read_token(token)
        pk, nonce = int(payload["e"]), str(payload["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):  # SignatureExpired is a BadSignature
        return None
    return (
        Enforcement.objects.select_related("policy__organization", "account__organization")
        .filter(pk=pk, nonce=nonce, status__in=LINKABLE)
        .first()
    )


def action_of(enforcement: Enforcement) -> str:
    """The action the case is about (recorded when it was opened; the policy may change later)."""
    return enforcement.action or enforcement.policy.action


def kind_of(enforcement: Enforcement) -> str:
    return AccessRequestKind.RESTORE if enforcement.status in RESTORABLE else AccessRequestKind.KEEP


def describe(enforcement: Enforcement) -> dict:
    """What the case took (or will take) away, in words for the requester and for the admin."""
    policy, removed, action = enforcement.policy, enforcement.removed or {}, action_of(enforcement)
    org = enforcement.account.organization_id
    if action == PolicyAction.REMOVE_PRODUCT_ACCESS and removed.get("products"):
        keys = list(removed["products"])
        named = dict(Product.objects.filter(organization_id=org, key__in=keys).values_list("key", "name"))
        products = [named.get(key) or key for key in keys]
    else:
        products = [p.name or p.key for p in policy.products.all()]
    groups = list(
        Group.objects.filter(organization_id=org, group_id__in=removed.get("groups", []))
        .order_by("name")
        .values_list("name", flat=True)
    )
    state = _ACCOUNT_STATES.get(action, "")
    when = enforcement.executed_at if enforcement.status in RESTORABLE else enforcement.due_at
    return {
        "kind": kind_of(enforcement),
        "action": str(action),
        "action_phrase": _ACTION_PHRASES.get(action, str(action)),
        "account_state": state,
        "products": products,
        "groups": groups,
        "roles": len(removed.get("roles", [])),
        "when": when.isoformat() if when else "",
        "when_text": f"{when:%d %B %Y}" if when else "",
        "policy": policy.name,
    }


def too_late(enforcement: Enforcement, account: Account, now: datetime) -> str:
    """Why the account can no longer be given back (empty when it can)."""
    if account.status == AccountStatus.REMOVED:
        return (
            "This account no longer exists in your organization's Atlassian directory, so it cannot be "
            "brought back. Ask your IT team for a new invitation."
        )
    deleted = action_of(enforcement) == PolicyAction.DELETE and enforcement.status in RESTORABLE
    if deleted and enforcement.executed_at and now >= enforcement.executed_at + DELETE_GRACE:
        ended = enforcement.executed_at + DELETE_GRACE
        return (
            f"This account was deleted on {enforcement.executed_at:%d %B %Y}. Atlassian keeps a deleted "
            f"account for {DELETE_GRACE.days} days and that time ended on {ended:%d %B %Y}, so it cannot be "
            "restored any more. Ask your IT team for a new invitation: you will get a fresh account."
        )
    return ""


@dataclass
class Decision:
    """Whether a request may be approved without a person, and why (or why not)."""

    automatic: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "; ".join(self.reasons)


def auto_decision(enforcement: Enforcement, account: Account, now: datetime) -> Decision:
    """Approve automatically only when the policy allows self-service restore, this policy (not a
    person) is what changed the account, it can still be given back, and no deny rule applies."""
    policy = enforcement.policy
    blockers = []
    if not policy.self_service_restore:
        blockers.append(f"policy {policy.name!r} does not allow self-service restore")
    late = too_late(enforcement, account, now)
    if late:
        blockers.append(late)
    blockers += _changed_by_someone_else(enforcement, account)
    deny = _deny_rule(enforcement, account, now)
    if deny:
        blockers.append(f"a never-restore rule applies: {deny}")
    if blockers:
        return Decision(False, blockers)
    what = "give back" if kind_of(enforcement) == AccessRequestKind.RESTORE else "keep"
    return Decision(True, [f"self-service: policy {policy.name!r} lets people {what} their access on request"])


def _changed_by_someone_else(enforcement: Enforcement, account: Account) -> list[str]:
    action = action_of(enforcement)
    if enforcement.status in KEEPABLE:
        if account.status != AccountStatus.ACTIVE:
            return [f"the account is {account.get_status_display().lower()}, not by this policy"]
        return []
    expected = _STATUS_AFTER.get(action)
    if expected and account.status != expected:
        return [f"the account is now {account.get_status_display().lower()}; it was changed after the policy acted"]
    if people_changed_after(enforcement, account):
        return ["an administrator changed this account after the policy acted"]
    return []


def people_changed_after(enforcement: Enforcement, account: Account) -> bool:
    """Whether a person (admin, help desk, API) changed the account or its memberships after the
    policy's own action. Setting a return date changes nothing in Atlassian and does not count."""
    executed = (
        AuditEvent.objects.filter(
            action=AuditAction.ENFORCEMENT_EXECUTED, target_type="policies.enforcement", target_id=str(enforcement.pk)
        )
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    later = (
        AuditEvent.objects.filter(actor_kind__in=_PEOPLE)
        .filter(
            Q(target_type="accounts.account", target_id=str(account.pk))
            | Q(target_type="accounts.membership", target_id__startswith=f"{account.account_id}:")
        )
        .exclude(action=AuditAction.ACCOUNT_RETURN_DATE_SET)
    )
    later = later.filter(seq__gt=executed) if executed else later.filter(created_at__gt=enforcement.executed_at)
    return later.exists()


def return_decision(enforcement: Enforcement, account: Account, now: datetime, *, dated: bool) -> Decision:
    """Whether what a done enforcement took may be given back to a returning account without a
    person: the policy restores returning staff (or an operator set the account's return date,
    ``dated``), it can still be given back, nobody changed the account since the policy acted, and
    no never-restore rule applies. Otherwise the help desk decides."""
    policy = enforcement.policy
    blockers = []
    if not dated and not policy.restore_returning:
        blockers.append(f"policy {policy.name!r} does not restore returning staff automatically")
    late = too_late(enforcement, account, now)
    if late:
        blockers.append(late)
    if people_changed_after(enforcement, account):
        blockers.append("an administrator changed this account after the policy acted")
    deny = _deny_rule(enforcement, account, now)
    if deny:
        blockers.append(f"a never-restore rule applies: {deny}")
    if blockers:
        return Decision(False, blockers)
    why = "its return date" if dated else f"policy {policy.name!r} restores returning staff"
    return Decision(True, [f"returning: {why}"])


def _deny_rule(enforcement: Enforcement, account: Account, now: datetime) -> str:
    """The reason of the first never-restore exemption covering the account, or ''."""
    rules = active_exemptions(account.organization, now, kind=ExemptionKind.NEVER_RESTORE)
    if not rules:
        return ""
    named = {r.group_pk for r in rules if r.group_pk}
    groups = set(Membership.objects.filter(account=account, group_id__in=named).values_list("group_id", flat=True))
    # Groups the policy took away count too: the person was in them when it acted.
    removed = (enforcement.removed or {}).get("groups", [])
    if removed and named:
        groups |= set(
            Group.objects.filter(
                organization_id=account.organization_id, group_id__in=removed, pk__in=named
            ).values_list("pk", flat=True)
        )
    subject = account_snapshot(account, group_pks=frozenset(groups))
    for rule in rules:
        if rule.covers(subject, enforcement.policy_id, now):
            return rule.reason
    return ""
