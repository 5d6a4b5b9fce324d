"""Set-based loading of what the engine needs: a fixed number of queries whatever the org's size."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db.models import QuerySet

from accounts.models import Account, AccountStatus, Membership, Organization, ProductAccess
from governance.db.compiled import driver_rows
from governance.db.datetimes import aware_datetimes
from policies.engine import AccountSnapshot, ExemptionSpec, OpenCase, PolicySpec
from policies.models import OPEN_STATUSES, ClaimScope, Enforcement, Exemption, ExemptionKind, InactivityPolicy, Trigger

_ACCOUNT_FIELDS = (
    "pk",
    "name",
    "email",
    "status",
    "account_type",
    "managed",
    "is_org_admin",
    "added_to_org",
    "last_active",
    "restored_at",
    "status_changed_at",
)


def policy_spec(policy: InactivityPolicy) -> PolicySpec:
    products = list(policy.products.values_list("pk", "name", "key"))
    return PolicySpec(
        id=policy.pk,
        trigger=policy.trigger,
        trigger_days=policy.trigger_days,
        trigger_state=policy.trigger_state,
        action=policy.action,
        warning_offsets=policy.warning_offsets,
        product_pks=frozenset(pk for pk, _, _ in products),
        product_names={pk: name or key for pk, name, key in products},
        include_group_pks=frozenset(policy.include_groups.values_list("pk", flat=True)),
        exclude_group_pks=frozenset(policy.exclude_groups.values_list("pk", flat=True)),
        claim_scope=policy.claim_scope,
        include_org_admins=policy.include_org_admins,
        include_app_accounts=policy.include_app_accounts,
    )


def active_exemptions(
    organization: Organization, now: datetime, *, kind: str = ExemptionKind.EXEMPT
) -> list[ExemptionSpec]:
    rows = Exemption.objects.unexpired(now).filter(organization=organization, kind=kind)
    return [
        ExemptionSpec(
            reason=e.reason,
            account_pk=e.account_id,
            group_pk=e.group_id,
            email_pattern=e.email_pattern,
            expires_at=e.expires_at,
            policy_id=e.policy_id,
        )
        for e in rows
    ]


def candidate_accounts(policy: InactivityPolicy, spec: PolicySpec, *, awaiting_sync: bool = False) -> QuerySet[Account]:
    """The accounts a policy could concern, narrowed in SQL as far as is safe; the engine decides.

    ``awaiting_sync``: instead, only the accounts left out for waiting for a sync (see below), for
    the preview, which lists them as such.
    """
    accounts = Account.objects.filter(organization=policy.organization).exclude(status=AccountStatus.REMOVED)
    # Freshness, account by account. A run checks that the organization's last complete sync is
    # recent (sync_is_fresh), but an import of an Atlassian CSV export since then may have written
    # an account's status, groups, product access or activity from a file of any age; such an
    # account carries Account.imported_as_of until a sync sees it (accounts/importexport/seed.py).
    # Policies act only on what a sync confirmed: those accounts wait for the next sync, neither
    # warned, acted on nor cancelled (open_cases leaves their open enforcements out too).
    accounts = accounts.filter(imported_as_of__isnull=not awaiting_sync)
    if spec.trigger == Trigger.IN_STATE:
        accounts = accounts.filter(status=spec.trigger_state)
    if spec.claim_scope == ClaimScope.MANAGED:
        accounts = accounts.filter(managed=True)
    elif spec.claim_scope == ClaimScope.EXTERNAL:
        accounts = accounts.filter(managed=False)
    return accounts


def load_snapshots(
    policy: InactivityPolicy,
    spec: PolicySpec,
    exemptions: list[ExemptionSpec],
    *,
    account_pks: Iterable[int] | None = None,
    awaiting_sync: bool = False,
) -> list[AccountSnapshot]:
    """Four queries: accounts, scoped product activity, relevant memberships, (open cases elsewhere)."""
    accounts = candidate_accounts(policy, spec, awaiting_sync=awaiting_sync)
    if account_pks is not None:
        accounts = accounts.filter(pk__in=account_pks)
    # Past the ORM's per-value converters: at 100,000 accounts they were more than half the time
    # spent reading the accounts (governance/db/compiled.py).
    rows = list(driver_rows(accounts.values_list(*_ACCOUNT_FIELDS)))
    aware = aware_datetimes(accounts.db)
    activity: dict[int, dict[int, datetime | None]] = defaultdict(dict)
    if spec.product_pks:
        access = ProductAccess.objects.filter(account__in=accounts, product_id__in=spec.product_pks)
        for account_pk, product_pk, last in driver_rows(access.values_list("account_id", "product_id", "last_active")):
            activity[account_pk][product_pk] = aware(last)
    groups = set(spec.include_group_pks | spec.exclude_group_pks) | {e.group_pk for e in exemptions if e.group_pk}
    members: dict[int, set[int]] = defaultdict(set)
    if groups:
        memberships = Membership.objects.filter(group_id__in=groups, account__in=accounts)
        for account_pk, group_pk in memberships.values_list("account_id", "group_id"):
            members[account_pk].add(group_pk)
    return [
        AccountSnapshot(
            pk,
            name,
            email,
            status,
            account_type,
            managed,
            is_org_admin,
            aware(added_to_org),
            aware(last_active),
            aware(restored_at),
            aware(status_changed_at),
            product_activity=activity.get(pk, {}),
            group_pks=frozenset(members.get(pk, ())),
        )
        for (
            pk,
            name,
            email,
            status,
            account_type,
            managed,
            is_org_admin,
            added_to_org,
            last_active,
            restored_at,
            status_changed_at,
        ) in rows
    ]


def open_cases(policy: InactivityPolicy) -> dict[int, tuple[int, OpenCase]]:
    """account pk -> (enforcement pk, case) for the policy's open enforcements.

    Without those of accounts waiting for a sync (see candidate_accounts): a run would otherwise
    cancel them as "no longer in scope" on the strength of an import no sync has confirmed.
    """
    rows = Enforcement.objects.filter(
        policy=policy, status__in=OPEN_STATUSES, account__imported_as_of__isnull=True
    ).values_list("account_id", "pk", "status", "warned_at", "due_at")
    return {
        account: (pk, OpenCase(status=status, warned_at=warned, due_at=due))
        for account, pk, status, warned, due in rows
    }
