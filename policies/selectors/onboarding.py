"""Who an onboarding rule would add to which groups: a few queries per rule, never one per account.

The same reading serves the sync's hook (the accounts that sync saw for the first time), the
rule's preview (the accounts first seen since the rule exists) and the bulk application to
existing accounts (every account of the organization).

Exemptions: an organization-wide "never act on" exemption (one that names no policy) covering an
account, by the account itself, a group it is in or its email address, keeps every onboarding
rule off it: "never act on" means the portal leaves the account as it is, giving as well as
taking (a break-glass or service account must not gain access on its own). An exemption naming an
inactivity policy concerns that policy only, and a "never restore" exemption is about giving back
what a policy took, so neither stops a rule.
"""

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import Account, AccountStatus, Group, Membership
from policies.filtersets import email_pattern_q
from policies.models import ClaimScope, Exemption, ExemptionKind, OnboardingItem, OnboardingRule
from policies.models.onboarding import DECIDABLE_STATUSES

Scope = Literal["first_seen", "new", "existing"]
SCOPES: tuple[tuple[str, str], ...] = (
    ("new", "Accounts first seen since the rule exists"),
    ("existing", "Every account of the organization (the bulk application)"),
)


@dataclass(frozen=True)
class OnboardingMatch:
    account_pk: int
    account: str  # "name <email>", for pages
    groups: tuple[int, ...]  # pks of the rule's groups the account is not in yet


@dataclass
class OnboardingPreview:
    """Who would get what, in the order a run takes them (oldest account first)."""

    rule: OnboardingRule
    scope: str
    matches: list[OnboardingMatch]
    exempt: int  # accounts matching the conditions that an exemption keeps out
    queued: int  # matching accounts with an item awaiting a decision already (left out)
    group_names: dict[int, str] = field(default_factory=dict)

    @property
    def within_cap(self) -> list[OnboardingMatch]:
        return self.matches[: self.rule.cap_per_run]

    @property
    def beyond_cap(self) -> int:
        return max(0, len(self.matches) - self.rule.cap_per_run)

    def names(self, match: OnboardingMatch) -> list[str]:
        return [self.group_names.get(pk, str(pk)) for pk in match.groups]


def onboarding_exempt_q(organization_id: int, now: datetime) -> Q:
    """Accounts an organization-wide "never act on" exemption covers at ``now`` (see the module)."""
    active = Exemption.objects.unexpired(now).filter(
        organization_id=organization_id, kind=ExemptionKind.EXEMPT, policy__isnull=True
    )
    condition = Q(pk__in=active.filter(account__isnull=False).values("account_id"))
    groups = active.filter(group__isnull=False).values("group_id")
    condition |= Q(pk__in=Membership.objects.filter(group__in=groups).values("account_id"))
    for pattern in active.exclude(email_pattern="").values_list("email_pattern", flat=True).distinct():
        matches = email_pattern_q(pattern)
        if matches is not None:
            condition |= matches
    return condition


def rule_candidates(rule: OnboardingRule, member_of: list[int]) -> QuerySet[Account]:
    """The active accounts of the rule's organization that meet its conditions (exemptions aside)."""
    accounts = Account.objects.filter(organization_id=rule.organization_id, status=AccountStatus.ACTIVE)
    if rule.email_pattern:
        matches = email_pattern_q(rule.email_pattern)
        accounts = accounts.filter(matches) if matches is not None else accounts.none()
    if rule.directory_id:
        accounts = accounts.filter(directory_id=rule.directory_id)
    if rule.claim_scope == ClaimScope.MANAGED:
        accounts = accounts.filter(managed=True)
    elif rule.claim_scope == ClaimScope.EXTERNAL:
        accounts = accounts.filter(managed=False)
    if rule.account_type:
        accounts = accounts.filter(account_type=rule.account_type)
    if member_of:
        accounts = accounts.filter(Exists(Membership.objects.filter(account_id=OuterRef("pk"), group_id__in=member_of)))
    return accounts


def onboarding_preview(
    rule: OnboardingRule,
    now: datetime,
    *,
    scope: Scope = "new",
    account_pks: Collection[int] = (),
) -> OnboardingPreview:
    """Who ``rule`` would add to which of its groups, now.

    ``scope``: ``first_seen`` (only ``account_pks``, the accounts a sync saw for the first time),
    ``new`` (accounts first seen since the rule was created) or ``existing`` (every account).
    Seven queries whatever the number of accounts: the rule's two sets of groups, the candidates,
    the exemptions' patterns, the exempt candidates, their memberships of the rule's groups and
    their open items. ``first_seen``
    narrows by the pks' range in SQL (new accounts have the newest pks) and by the set in Python,
    so 100,000 pks cost no more queries than ten.
    """
    add_groups = dict(Group.objects.filter(pk__in=rule.add_groups.all()).values_list("pk", "name"))
    member_of = list(rule.member_of.values_list("pk", flat=True))
    wanted = set(account_pks) if scope == "first_seen" else None
    empty = OnboardingPreview(rule, scope, [], 0, 0, add_groups)
    if (wanted is not None and not wanted) or not add_groups:
        return empty
    candidates = rule_candidates(rule, member_of)
    if wanted is not None:
        candidates = candidates.filter(pk__gte=min(wanted), pk__lte=max(wanted))
    elif scope == "new":
        candidates = candidates.filter(first_seen_at__gte=rule.created_at)
    rows = [
        row
        for row in candidates.order_by("pk").values_list("pk", "name", "email")
        if wanted is None or row[0] in wanted
    ]
    if not rows:
        return empty
    exempt = set(candidates.filter(onboarding_exempt_q(rule.organization_id, now)).values_list("pk", flat=True))
    has: dict[int, set[int]] = {}
    for account_pk, group_pk in Membership.objects.filter(
        account__in=candidates, group_id__in=list(add_groups)
    ).values_list("account_id", "group_id"):
        has.setdefault(account_pk, set()).add(group_pk)
    queued = set(
        OnboardingItem.objects.filter(rule=rule, status__in=DECIDABLE_STATUSES, account__in=candidates).values_list(
            "account_id", flat=True
        )
    )
    matches: list[OnboardingMatch] = []
    exempt_count = queued_count = 0
    for pk, name, email in rows:
        missing = tuple(g for g in sorted(add_groups) if g not in has.get(pk, ()))
        if not missing:
            continue
        if pk in exempt:
            exempt_count += 1
        elif pk in queued:
            queued_count += 1
        else:
            matches.append(OnboardingMatch(pk, f"{name} <{email}>" if email else name, missing))
    return OnboardingPreview(rule, scope, matches, exempt_count, queued_count, add_groups)
