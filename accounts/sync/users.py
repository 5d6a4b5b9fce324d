"""One batch of users: accounts, product access and memberships, diffed against the mirror.

A batch is a few API pages (``runner.USER_BATCH`` users) written in one transaction with its
audit events. The three big tables are written with :mod:`accounts.sync.sql` (batched multi-row
INSERT / upsert statements) rather than ``bulk_create``, whose per-row Python cost dominated.
"""

from operator import itemgetter

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, AccountStatus, AccountType, Group, Membership, ProductAccess, ProductGrant
from accounts.sync.context import SyncContext, SyncDataError
from accounts.sync.groups import ensure_products
from accounts.sync.sql import datetime_adapter, datetime_reader, db_datetime, fetch_rows, in_chunks, insert_rows, pks_by
from governance.atlassian.records import DirectoryUser
from governance.audit.models import AuditAction
from governance.audit.record import record_events

STATUS_FROM_REMOTE = {
    "active": AccountStatus.ACTIVE,
    "suspended": AccountStatus.SUSPENDED,
    "deactivated": AccountStatus.DEACTIVATED,
    "for_deletion": AccountStatus.PENDING_DELETION,
    "not_invited": AccountStatus.NOT_IN_DIRECTORY,
}
STATUS_EVENTS = {
    AccountStatus.SUSPENDED: AuditAction.ACCOUNT_SUSPENDED,
    AccountStatus.DEACTIVATED: AuditAction.ACCOUNT_DEACTIVATED,
    AccountStatus.PENDING_DELETION: AuditAction.ACCOUNT_DELETION_SCHEDULED,
}
ACCOUNT_FIELDS = (
    "email",
    "name",
    "account_type",
    "status",
    "managed",
    "is_org_admin",
    "management_source",
    "added_to_org",
    "last_active",
    "billable",
    "licence_group_count",
)
_BILLABLE_STATUSES = {AccountStatus.ACTIVE}
# Looked up once: enum members and choices are slow attributes to read per user.
_ACCOUNT_TYPES = frozenset(AccountType.values)
_ATLASSIAN, _UNKNOWN = AccountType.ATLASSIAN, AccountType.UNKNOWN
_JIRA_ONLY_TYPES = (AccountType.APP, AccountType.CUSTOMER)
_GROUP, _DIRECT = ProductGrant.GROUP, ProductGrant.DIRECT
# Every column of an account row as written (bulk_create's INSERT); the upsert updates these:
_ACCOUNT_UPDATE = (*ACCOUNT_FIELDS, "status_changed_at", "last_synced_at")
_ACCOUNT_INSERT = ("organization", "account_id", *_ACCOUNT_UPDATE, "restored_at", "first_seen_at")
_ADDED, _LAST_ACTIVE = ACCOUNT_FIELDS.index("added_to_org"), ACCOUNT_FIELDS.index("last_active")


def apply_user_page(ctx: SyncContext, users: list[DirectoryUser]) -> None:
    """Write what changed for one batch of users, with its audit events, in one transaction."""
    users = _first_sightings(ctx, users)
    if not users:
        return
    _ensure_page_references(ctx, users)
    with transaction.atomic():
        # Which accounts the mirror has (a cheap probe: on a first sync none), then those rows.
        found = pks_by(Account, "account_id", [u.account_id for u in users], organization=ctx.organization.pk)
        existing = {
            a.account_id: a
            for pks in in_chunks(list(found.values()))
            for a in Account.objects.filter(pk__in=pks).order_by()
        }
        licence_ids = {gid for gid, pk in ctx.group_pks.items() if pk in ctx.licence_group_pks}
        wanted = {u.account_id: _wanted_account(ctx, u, existing.get(u.account_id), licence_ids) for u in users}
        events: list[dict] = []
        pks = _write_accounts(ctx, users, wanted, existing, events)
        # Accounts created just now have no access or memberships yet: only known ones are read.
        known_pks = [a.pk for a in existing.values()]
        _write_product_access(ctx, users, pks, known_pks)
        _write_memberships(ctx, users, pks, existing, known_pks, events)
        if events:
            record_events(events)
            ctx.counts["audit_events"] += len(events)


def _first_sightings(ctx: SyncContext, users: list[DirectoryUser]) -> list[DirectoryUser]:
    """Drop users already seen in this run (a cursor that repeats must not double-count)."""
    fresh = []
    for user in users:
        if user.account_id in ctx.seen_accounts:
            ctx.counts["duplicates_skipped"] += 1
            continue
        ctx.seen_accounts.add(user.account_id)
        fresh.append(user)
    ctx.counts["users_seen"] += len(fresh)
    return fresh


def _ensure_page_references(ctx: SyncContext, users: list[DirectoryUser]) -> None:
    """Products and groups a user mentions that the group phase did not list (created minimal)."""
    ensure_products(ctx, {p.resource_id: p.key for u in users for p in u.product_access})
    unknown = {g.id: g.name for u in users for g in u.groups if g.id not in ctx.group_pks}
    if unknown:
        org = ctx.organization
        Group.objects.bulk_create(
            [Group(organization=org, group_id=gid, name=name) for gid, name in unknown.items()], ignore_conflicts=True
        )
        ctx.group_pks.update(
            Group.objects.filter(organization=org, group_id__in=list(unknown)).values_list("group_id", "pk")
        )
        ctx.counts["groups_written"] += len(unknown)


def _wanted_account(ctx: SyncContext, user: DirectoryUser, current: Account | None, licence_ids: set[str]) -> dict:
    status = STATUS_FROM_REMOTE.get(user.status)
    if status is None:
        raise SyncDataError(f"Atlassian sent an unknown status {user.status!r} for account {user.account_id}.")
    activity = [p.last_active for p in user.product_access if p.last_active]
    account_type = user.account_type if user.account_type in _ACCOUNT_TYPES else _UNKNOWN
    if current and account_type == _ATLASSIAN and current.account_type in _JIRA_ONLY_TYPES:
        account_type = current.account_type  # v2 only knows "atlassian"; Jira told us more
    return {
        "email": user.email or None,
        "name": user.name or "",
        "account_type": account_type,
        "status": status,
        "managed": user.claim_status == "managed",
        "is_org_admin": user.is_org_admin,
        "management_source": user.management_source or "",
        "added_to_org": user.added_to_org,
        "last_active": max(activity) if activity else None,
        "billable": status in _BILLABLE_STATUSES and bool(user.product_access) and account_type == _ATLASSIAN,
        # Group ids and rows are one to one: distinct licence group ids = distinct licence groups.
        "licence_group_count": len({g.id for g in user.groups if g.id in licence_ids}),
    }


def _write_accounts(ctx, users, wanted, existing, events) -> dict[str, int]:
    rows: list[tuple] = []
    created: list[str] = []
    adapt = datetime_adapter()
    org_pk, now = ctx.organization.pk, adapt(ctx.now)
    first_seen = adapt(timezone.now())  # first_seen_at is auto_now_add: kept on conflict
    values_of = itemgetter(*ACCOUNT_FIELDS)

    def row(account_id: str, fields: dict, status_changed_at) -> tuple:
        values = list(values_of(fields))
        values[_ADDED], values[_LAST_ACTIVE] = adapt(values[_ADDED]), adapt(values[_LAST_ACTIVE])
        return (org_pk, account_id, *values, status_changed_at, now, None, first_seen)

    for user in users:
        fields, current = wanted[user.account_id], existing.get(user.account_id)
        if current is None:
            rows.append(row(user.account_id, fields, now))
            created.append(user.account_id)
            continue
        if current.last_active and fields["last_active"] is None:
            fields["last_active"] = current.last_active  # blanking waits for the end-of-sync check
            ctx.blanked_accounts.append(current.pk)
        if all(getattr(current, f) == v for f, v in fields.items()):
            continue
        changed_at = ctx.now if current.status != fields["status"] else current.status_changed_at
        rows.append(row(user.account_id, fields, adapt(changed_at)))
        ctx.counts["accounts_updated"] += 1
        if current.status != fields["status"]:
            events.append(_status_event(ctx, current, fields["status"]))
    if created:
        ctx.counts["accounts_created"] += len(created)
    insert_rows(
        Account, _ACCOUNT_INSERT, rows, unique_fields=["organization", "account_id"], update_fields=_ACCOUNT_UPDATE
    )
    pks = {a.account_id: a.pk for a in existing.values()}
    if created:
        pks.update(pks_by(Account, "account_id", created, organization=org_pk))
    return pks


def _status_event(ctx: SyncContext, current: Account, new_status: str) -> dict:
    if current.status == AccountStatus.REMOVED:
        action = AuditAction.ACCOUNT_REAPPEARED
    elif new_status == AccountStatus.ACTIVE and current.status == AccountStatus.SUSPENDED:
        action = AuditAction.ACCOUNT_RESTORED
    elif new_status == AccountStatus.ACTIVE and current.status in (
        AccountStatus.DEACTIVATED,
        AccountStatus.PENDING_DELETION,
    ):
        action = AuditAction.ACCOUNT_ENABLED
    else:
        action = STATUS_EVENTS.get(new_status, AuditAction.ACCOUNT_STATUS_CHANGED)
    return dict(
        actor=ctx.actor,
        action=action,
        target=current,
        before={"status": current.status},
        after={"status": new_status},
        reason="seen in Atlassian by the sync",
        **ctx.audit_fields(),
    )


def _write_product_access(ctx: SyncContext, users: list[DirectoryUser], pks: dict[str, int], known_pks) -> None:
    # Products each licence group grants, by Atlassian group id (most groups grant nothing).
    grants = {gid: ctx.grants_by_group[pk] for gid, pk in ctx.group_pks.items() if pk in ctx.grants_by_group}
    wanted: dict[tuple[int, int], tuple] = {}
    for user in users:
        if not user.product_access:
            continue
        account_pk = pks[user.account_id]
        from_groups = [grants[g.id] for g in user.groups if g.id in grants]
        granted_by_groups = from_groups[0] if len(from_groups) == 1 else set().union(*from_groups)
        for product in user.product_access:
            product_pk = ctx.product_pks[product.resource_id]
            grant = _GROUP if product_pk in granted_by_groups else _DIRECT
            wanted[(account_pk, product_pk)] = (product.last_active, grant)
    to_datetime = datetime_reader()
    current = {
        (a, p): (pk, to_datetime(last), grant)
        for pk, a, p, last, grant in fetch_rows(
            ProductAccess, ("id", "account", "product", "last_active", "granted"), "account", known_pks
        )
    }
    upserts = []
    adapt = datetime_adapter()
    for key, (last_active, grant) in wanted.items():
        existing = current.get(key)
        if existing and existing[1] and last_active is None:
            last_active = existing[1]
            ctx.blanked_access.append(existing[0])
        if existing and (existing[1], existing[2]) == (last_active, grant):
            continue
        upserts.append((key[0], key[1], adapt(last_active), grant))
    gone = [pk for key, (pk, _, _) in current.items() if key not in wanted]
    insert_rows(
        ProductAccess,
        ("account", "product", "last_active", "granted"),
        upserts,
        unique_fields=["account", "product"],
        update_fields=["last_active", "granted"],
    )
    for chunk in in_chunks(gone):
        ProductAccess.objects.filter(pk__in=chunk).delete()
    ctx.counts["product_access_written"] += len(upserts) + len(gone)


def _write_memberships(ctx, users, pks, existing, known_pks, events) -> None:
    group_pks = ctx.group_pks
    wanted = {(pks[u.account_id], group_pks[g.id]) for u in users for g in u.groups}
    current = {(a, g): pk for pk, a, g in fetch_rows(Membership, ("id", "account", "group"), "account", known_pks)}
    added = wanted - current.keys()
    removed = current.keys() - wanted
    if added:  # first_seen_at is auto_now_add; in key order, so the unique index is appended to
        first_seen = db_datetime(timezone.now())
        insert_rows(Membership, ("account", "group", "first_seen_at"), [(a, g, first_seen) for a, g in sorted(added)])
    for chunk in in_chunks([current[k] for k in removed]):
        Membership.objects.filter(pk__in=chunk).delete()
    ctx.counts["memberships_added"] += len(added)
    ctx.counts["memberships_removed"] += len(removed)
    # Joining and leaving are audited for accounts the mirror already knew; a first sighting
    # is summarised in sync.completed instead of a million "joined" events.
    known = {existing[aid].pk: existing[aid] for aid in existing}
    if known:
        names = dict(
            Group.objects.filter(pk__in={g for a, g in added | removed if a in known}).values_list("pk", "name")
        )
        for (account_pk, group_pk), action in [(k, AuditAction.MEMBERSHIP_ADDED) for k in added] + [
            (k, AuditAction.MEMBERSHIP_REMOVED) for k in removed
        ]:
            if account_pk in known:
                account = known[account_pk]
                events.append(
                    dict(
                        actor=ctx.actor,
                        action=action,
                        target_type="accounts.membership",
                        target_id=f"{account.account_id}:{group_pk}",
                        target_repr=f"{account} in {names.get(group_pk, group_pk)}",
                        reason="seen in Atlassian by the sync",
                        **ctx.audit_fields(),
                    )
                )
