"""Set-based loading of what the engine needs: a fixed number of queries whatever the org's size."""

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from accounts.models import Account, AccountStatus, Membership, Organization, ProductAccess
from governance.db.compiled import driver_rows
from governance.db.datetimes import aware_datetimes
from policies.engine import AccountSnapshot, ExemptionSpec, OpenCase, PolicySpec
from policies.models import OPEN_STATUSES, ClaimScope, Enforcement, Exemption, ExemptionKind, InactivityPolicy, Trigger

# An AccountSnapshot from a tuple of every one of its fields, in order: what the NamedTuple's own
# constructor does after binding its fourteen arguments one by one, which was half a
# microsecond more per snapshot (0.05 s per 100,000 accounts). tests/policies/test_shared_loading.py
# checks that both loaders' snapshots have every field.
_snapshot = tuple.__new__

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


def account_snapshot(account: Account, *, group_pks: frozenset[int] = frozenset()) -> AccountSnapshot:
    """The engine's view of one account already loaded (its ``_ACCOUNT_FIELDS``), for a single
    decision such as a never-restore check; the bulk loaders below build theirs from rows."""
    fields: dict[str, Any] = {name: getattr(account, name) for name in _ACCOUNT_FIELDS}
    return AccountSnapshot(**fields, group_pks=group_pks)


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
        # In a fixed order: of two products last used at the same moment the engine names the first.
        access = ProductAccess.objects.filter(account__in=accounts, product_id__in=spec.product_pks).order_by(
            "account_id", "product_id"
        )
        for account_pk, product_pk, last in driver_rows(access.values_list("account_id", "product_id", "last_active")):
            activity[account_pk][product_pk] = aware(last)
    groups = set(spec.include_group_pks | spec.exclude_group_pks) | {e.group_pk for e in exemptions if e.group_pk}
    members: dict[int, set[int]] = defaultdict(set)
    if groups:
        memberships = Membership.objects.filter(group_id__in=groups, account__in=accounts)
        for account_pk, group_pk in memberships.values_list("account_id", "group_id"):
            members[account_pk].add(group_pk)
    return [
        _snapshot(
            AccountSnapshot,
            (
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
                activity.get(pk, {}),  # product_activity
                frozenset(members.get(pk, ())),  # group_pks
                -1,  # scope_class: none
            ),
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


# --- Shared loading: several policies of one organization evaluated at the same moment ----------

# What the shared load reads for every account; ``status_changed_at`` only matters to IN_STATE
# policies and is read apart, for the accounts in the states they name (see AccountData).
_SHARED_FIELDS = _ACCOUNT_FIELDS[:-1]


class AccountData:
    """One organization's account data, read once for the policies evaluated together at ``now``
    (``enforce_policies``, the dashboard's savings, a batch of dry runs): the same snapshots, hence
    the same decisions, as :func:`load_snapshots` gives each policy alone, for a fixed handful of
    queries in all instead of per policy.

    Read lazily on the first :meth:`snapshots`, for every policy in ``specs`` at once: the union of
    their groups (plus the exemptions'), of their products, and of their trigger states. A policy
    outside ``specs`` (another organization, groups or products not loaded) is refused. The data is
    a picture at one moment: a caller that changes accounts between two evaluations (an enforcing
    run) calls :meth:`discard`, and the next evaluation reads afresh.
    """

    def __init__(
        self, organization: Organization, specs: Iterable[PolicySpec], exemptions: list[ExemptionSpec], now: datetime
    ):
        self.organization = organization
        self.exemptions = exemptions
        self.now = now  # the moment the exemptions are in force at
        self._specs = {spec.id: spec for spec in specs}
        self._groups = frozenset(
            {pk for spec in self._specs.values() for pk in spec.include_group_pks | spec.exclude_group_pks}
            | {e.group_pk for e in exemptions if e.group_pk}
        )
        self._products = frozenset(pk for spec in self._specs.values() for pk in spec.product_pks)
        self._states = frozenset(s.trigger_state for s in self._specs.values() if s.trigger == Trigger.IN_STATE)
        self._changed: dict[int, datetime | None] = {}
        self._activity: dict[int, dict[int, datetime | None]] = {}
        self._members: dict[int, frozenset[int]] = {}
        # One snapshot per account for every policy, in the rows' order: with all the products
        # loaded (the engine looks only at a policy's own) and the groups of them all (it only
        # intersects them).
        self._all: list[AccountSnapshot] | None = None
        # One snapshot of each scope class (engine.scope_key), by class number: each policy asks
        # in_scope once per class (decide_and_count's ``classes``) instead of once per account.
        self.scope_classes: list[AccountSnapshot] = []
        self.loads = 0  # how many times the data was read (tests, benchmarks)

    def spec_for(self, policy: InactivityPolicy, now: datetime) -> PolicySpec | None:
        """The spec this data was loaded for, if it serves ``policy`` at ``now`` (None: load alone)."""
        if policy.organization_id != self.organization.pk or now != self.now:
            return None
        return self._specs.get(policy.pk)

    def discard(self) -> None:
        """Forget what was read: the next evaluation reads the accounts again."""
        self._all = None
        self.scope_classes = []

    def snapshots(self, spec: PolicySpec) -> list[AccountSnapshot]:
        """:func:`load_snapshots` of the policy ``spec`` describes (every candidate, in the same order)."""
        if self._specs.get(spec.id) != spec:
            raise ValueError(f"policy {spec.id} is not one this data was loaded for")
        if self._all is None:
            self._all = self._load()
        snapshots = self._all
        # candidate_accounts' narrowing, on the snapshots built for every policy.
        if spec.trigger == Trigger.IN_STATE:
            snapshots = [s for s in snapshots if s.status == spec.trigger_state]
        if spec.claim_scope == ClaimScope.MANAGED:
            snapshots = [s for s in snapshots if s.managed]
        elif spec.claim_scope == ClaimScope.EXTERNAL:
            snapshots = [s for s in snapshots if not s.managed]
        return snapshots if snapshots is not self._all else list(snapshots)

    def _load(self) -> list[AccountSnapshot]:
        """Every account's snapshot, built once for all the policies: most policies look at most
        accounts, and one pass here is cheaper than a lookup per account per policy."""
        self.loads += 1
        accounts = Account.objects.filter(organization=self.organization, imported_as_of__isnull=True).exclude(
            status=AccountStatus.REMOVED
        )
        aware = aware_datetimes(accounts.db)
        # As the driver gives them: converted while the snapshots are built (_build), in one pass.
        rows = list(driver_rows(accounts.values_list(*_SHARED_FIELDS)))
        changed: dict[int, datetime | None] = {}
        if self._states:
            in_states = accounts.filter(status__in=self._states).values_list("pk", "status_changed_at")
            changed = {pk: aware(when) for pk, when in driver_rows(in_states)}
        self._changed = changed
        # Product access and memberships: every row of the policies' products and groups (all of
        # this organization), not only those of the accounts read above, as load_snapshots narrows
        # them. Rows of accounts left out (removed, imported) are never looked up; the narrowing
        # would re-read the accounts for each of the two queries (at 100,000 accounts, 0.06 s for
        # product access and 0.1 s for memberships, which are otherwise read in 0.006 s).
        activity: dict[int, dict[int, datetime | None]] = defaultdict(dict)
        if self._products:
            # load_snapshots' order, so that each account's products come in the same order.
            access = ProductAccess.objects.filter(product_id__in=self._products).order_by("account_id", "product_id")
            for account_pk, product_pk, last in driver_rows(
                access.values_list("account_id", "product_id", "last_active")
            ):
                activity[account_pk][product_pk] = aware(last)
        self._activity = activity
        members: dict[int, frozenset[int]] = {}
        if self._groups:
            found: dict[int, set[int]] = defaultdict(set)
            memberships = Membership.objects.filter(group_id__in=self._groups)
            for account_pk, group_pk in memberships.values_list("account_id", "group_id"):
                found[account_pk].add(group_pk)
            members = {pk: frozenset(groups) for pk, groups in found.items()}
        self._members = members
        return self._build(rows, aware)

    def _build(
        self, rows: list[tuple[Any, ...]], aware: Callable[[datetime | None], datetime | None]
    ) -> list[AccountSnapshot]:
        activity, members, changed = self._activity, self._members, self._changed
        no_groups: frozenset[int] = frozenset()
        no_products: dict[int, datetime | None] = {}
        numbers: dict[tuple[Any, ...], int] = {}  # scope_key -> class number
        classes: list[AccountSnapshot] = []
        snapshots: list[AccountSnapshot] = []
        append = snapshots.append
        for pk, name, email, status, account_type, managed, admin, added, last, restored in rows:
            managed = bool(managed)  # SQLite's 0/1
            products = activity.get(pk, no_products)
            groups = members.get(pk, no_groups)
            key = (account_type, managed, status, groups, frozenset(products))  # engine.scope_key
            number = numbers.get(key)
            if number is None:
                number = numbers[key] = len(classes)
            snapshot = _snapshot(
                AccountSnapshot,
                (
                    pk,
                    name,
                    email,
                    status,
                    account_type,
                    managed,
                    bool(admin),
                    aware(added),
                    aware(last),
                    aware(restored),
                    changed.get(pk),
                    products,
                    groups,
                    number,
                ),
            )
            if number == len(classes):
                classes.append(snapshot)
            append(snapshot)
        self.scope_classes = classes
        return snapshots


def shared_account_data(policies: Iterable[InactivityPolicy], now: datetime) -> dict[int, AccountData]:
    """One :class:`AccountData` per organization of ``policies`` (selected with their organization),
    by organization pk: the policies' specs (three queries each) and the exemptions in force at ``now``
    (one query per organization) now, the accounts when first evaluated."""
    specs: dict[int, list[PolicySpec]] = defaultdict(list)
    organizations: dict[int, Organization] = {}
    for policy in policies:
        specs[policy.organization_id].append(policy_spec(policy))
        organizations[policy.organization_id] = policy.organization
    return {
        pk: AccountData(organization, specs[pk], active_exemptions(organization, now), now)
        for pk, organization in organizations.items()
    }
