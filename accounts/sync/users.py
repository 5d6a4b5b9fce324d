"""One batch of users: accounts, product access and memberships, diffed against the mirror.

A batch is a few API pages (``runner.USER_BATCH`` users) written in one transaction with its
audit events. The three big tables are written with :mod:`governance.db.upsert` (batched multi-row
INSERT / upsert statements) rather than ``bulk_create``, whose per-row Python cost dominated.

Users the mirror does not know yet (every user of a first sync) take a short path: their rows
are built straight from the API records, with nothing to read back or compare. Known users are
compared field by field and only what changed is written.

A batch is written a while after its pages were fetched, and meanwhile a policy run or an admin
may have changed some of its accounts through the services (accounts/services/remote.py), which
stamp ``Account.portal_changed_at``. For those accounts the batch is older news than the mirror:
writing it would undo the change with a false audit event ("restored", "removed from group"), and
the next policy run would act on the account again (DESIGN.md 5.5, 5.6). They are left as the
service left them, still counted as seen, and the next sync, whose pages are newer than the
change, brings them up to date.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account, AccountStatus, AccountType, Group
from accounts.sync.access import write_memberships, write_product_access
from accounts.sync.context import SyncContext
from accounts.sync.groups import ensure_products
from governance.atlassian.records import DirectoryUser
from governance.audit.models import AuditAction
from governance.audit.record import record_events
from governance.db.datetimes import datetime_adapter, stored_datetimes
from governance.db.fetch import fetch_rows, pks_by
from governance.db.upsert import upsert

STATUS_FROM_REMOTE = {
    "active": AccountStatus.ACTIVE,
    "suspended": AccountStatus.SUSPENDED,
    "deactivated": AccountStatus.DEACTIVATED,
    "for_deletion": AccountStatus.PENDING_DELETION,
    "not_invited": AccountStatus.NOT_IN_DIRECTORY,
}
STATUS_EVENTS: dict[str, AuditAction] = {  # keyed by str: _status_event gets the status as a str
    AccountStatus.SUSPENDED: AuditAction.ACCOUNT_SUSPENDED,
    AccountStatus.DEACTIVATED: AuditAction.ACCOUNT_DEACTIVATED,
    AccountStatus.PENDING_DELETION: AuditAction.ACCOUNT_DELETION_SCHEDULED,
}
# The order of the values :func:`_account_values` returns.
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
    "directory_id",
)
_ACTIVE = AccountStatus.ACTIVE
# A status outside the documented enum is mirrored as unknown (and reported), never a failed sync:
# Atlassian adds values over time, and one odd account must not stop the mirror of all the others.
_UNKNOWN_STATUS = AccountStatus.UNKNOWN
# Looked up once: enum members and choices are slow attributes to read per user.
_ACCOUNT_TYPES = frozenset(AccountType.values)
_ATLASSIAN, _UNKNOWN = AccountType.ATLASSIAN, AccountType.UNKNOWN
_JIRA_ONLY_TYPES = (AccountType.APP, AccountType.CUSTOMER)
# Every column of an account row as written (bulk_create's INSERT); the upsert updates these.
# ``imported_as_of`` is always written empty: a sync that sees an account confirms (or replaces)
# whatever an import of an Atlassian CSV export had brought (accounts/importexport/seed.py).
_ACCOUNT_UPDATE = (*ACCOUNT_FIELDS, "status_changed_at", "last_synced_at", "imported_as_of")
_ACCOUNT_INSERT = (
    "organization",
    "account_id",
    *_ACCOUNT_UPDATE,
    "restored_at",
    "first_seen_at",
    "portal_changed_at",
    # A return date is the portal's own (accounts/services/returns.py): empty for a new account, kept on update.
    "return_on",
    "return_claimed_by",
    "return_claimed_at",
)
_ADDED, _LAST_ACTIVE = ACCOUNT_FIELDS.index("added_to_org"), ACCOUNT_FIELDS.index("last_active")
assert _LAST_ACTIVE == _ADDED + 1  # written side by side by _row_values
_NAME, _EMAIL = ACCOUNT_FIELDS.index("name"), ACCOUNT_FIELDS.index("email")
_TYPE, _STATUS = ACCOUNT_FIELDS.index("account_type"), ACCOUNT_FIELDS.index("status")
_DIRECTORY = ACCOUNT_FIELDS.index("directory_id")
# What a batch reads of the accounts the mirror already has: the columns it compares and keeps.
_KNOWN_COLUMNS = ("id", "account_id", *ACCOUNT_FIELDS, "status_changed_at", "imported_as_of", "portal_changed_at")
_ACCOUNT_LABEL = Account._meta.label_lower
# How long before a batch's first request a service's change still counts as possibly newer than
# the batch. The stamp and the request time come from the clocks of different hosts (a worker, the
# sync's), and Atlassian's search may answer from an index a little behind its writes. Erring
# late is harmless: the account waits for the next sync.
CHANGE_MARGIN = timedelta(minutes=2)


class KnownAccount(NamedTuple):
    """An account the mirror already holds, as a batch compares it: plain values.

    The hourly re-sync compares every account and changes next to none, so it reads them as the
    driver's values (no model instance, no per-value converter) and compares the whole row at once
    with what Atlassian sent, put in the same form (:func:`_account_values`). The two timestamps
    are aware datetimes, as the records carry them: parsing SQLite's stored text costs an eighth of
    formatting a record's datetime as that text, so the comparison parses the stored side
    and only a row that changed is formatted (:func:`_row_values`).
    """

    pk: int
    account_id: str
    values: tuple  # in the order of ACCOUNT_FIELDS; datetimes aware
    status_changed_at: Any  # database form: written back as it is when the status stays
    imported: bool  # ``imported_as_of`` is set: written to clear it, whatever else changed
    portal_changed_at: datetime | None  # aware

    @property
    def status(self) -> str:
        return self.values[_STATUS]

    def __str__(self) -> str:  # as ``Account.__str__``: the audit events' target text
        values = self.values
        return values[_NAME] or values[_EMAIL] or self.account_id


def known_account(account: Account) -> KnownAccount:
    """``account``, an instance (the read-back's locked row), as a batch compares it."""
    return KnownAccount(
        account.pk,
        account.account_id,
        tuple(getattr(account, name) for name in ACCOUNT_FIELDS),
        datetime_adapter()(account.status_changed_at),
        account.imported_as_of is not None,
        account.portal_changed_at,
    )


def _known_accounts(ctx: SyncContext, users: list[DirectoryUser]) -> dict[str, KnownAccount]:
    """The mirror's accounts among ``users``, by account id, their rows locked (see apply_user_page)."""
    read = stored_datetimes(connection.alias)
    ids = [u.account_id for u in users]
    rows = fetch_rows(Account, _KNOWN_COLUMNS, "account_id", ids, lock=True, organization=ctx.organization.pk)
    last = len(ACCOUNT_FIELDS) + 2
    known = {}
    give_way = ctx.foreground.give_way  # the fetching thread first (governance/foreground.py)
    for row in rows:
        give_way()
        values = list(row[2:last])
        values[_ADDED], values[_LAST_ACTIVE] = read(values[_ADDED]), read(values[_LAST_ACTIVE])
        known[row[1]] = KnownAccount(
            row[0],
            row[1],
            tuple(values),
            row[last],
            row[last + 1] is not None,
            read(row[last + 2]),
        )
    return known


def apply_user_page(ctx: SyncContext, users: list[DirectoryUser]) -> None:
    """Write what changed for one batch of users, with its audit events, in one transaction.

    ``users`` is normally a :class:`~accounts.sync.prefetch.Batch`, whose ``requested_at`` says
    how old its news is; a plain list is taken to be as old as the sync itself.
    """
    fetched_since = getattr(users, "requested_at", None) or ctx.now
    users = _first_sightings(ctx, users)
    if not users:
        return
    groups_of = ensure_page_references(ctx, users)
    with transaction.atomic():
        # The mirror's rows of these accounts (on a first sync none, found as cheaply as a probe),
        # locked on PostgreSQL until the batch commits: a service changes an account's rows only
        # holding its row lock (services/remote.py lock_for_change), so it either committed before
        # this read (and its stamp is seen here) or waits and writes after this batch. On SQLite
        # the IMMEDIATE transaction holds the database's write lock from its start, to the same
        # effect. FOR NO KEY UPDATE: rows elsewhere may still reference these accounts meanwhile.
        existing = _known_accounts(ctx, users)
        users, existing = _without_newer_changes(ctx, users, existing, fetched_since - CHANGE_MARGIN)
        if not users:
            return
        events = write_users(ctx, users, existing, groups_of)
        if events:
            record_events(events)
            ctx.counts["audit_events"] += len(events)


def write_users(
    ctx: SyncContext,
    users: list[DirectoryUser],
    existing: dict[str, KnownAccount],
    groups_of: dict[str, tuple[int, ...]] | None = None,
) -> list[dict]:
    """Make the mirror rows of ``users`` (accounts, product access, memberships) what Atlassian
    sent; ``existing`` are the mirror's accounts among them, by account id; ``groups_of``, each
    user's groups as mirror pks, as :func:`ensure_page_references` returned them (worked out here
    when not given). Returns the audit events of what it saw changed, for the caller to record in
    its transaction.

    The sync writes its batches with it, and so does the read-back of the one account a service
    has just changed (accounts/services/readback.py, with :func:`known_account` of its locked
    instance): one mapping for both.
    """
    events: list[dict] = []
    if groups_of is None:
        groups_of = _groups_of(ctx, users)
    pks = _write_accounts(ctx, users, existing, events, groups_of)
    write_product_access(ctx, users, pks, existing, groups_of)
    write_memberships(ctx, users, pks, existing, events, groups_of)
    return events


def _groups_of(ctx: SyncContext, users: list[DirectoryUser]) -> dict[str, tuple[int, ...]]:
    """Each user's groups as mirror pks, worked out once for the three tables (licence groups
    counted, products granted, memberships): ten or so groups a user, a hundred thousand users.
    Tuples (of distinct pks) weigh a fifth of sets: a first sync holds a batch of them at its
    peak. A group the mirror does not have raises KeyError (see ensure_page_references)."""
    group_pks = ctx.group_pks
    return {user.account_id: tuple({group_pks[g.id] for g in user.groups}) for user in users}


def _first_sightings(ctx: SyncContext, users: list[DirectoryUser]) -> list[DirectoryUser]:
    """Drop users already seen in this run (a cursor that repeats must not double-count)."""
    seen = ctx.seen_accounts
    ids = {user.account_id for user in users}
    if len(ids) == len(users) and seen.isdisjoint(ids):  # the usual batch: all new, checked in C
        seen |= ids
        ctx.counts["users_seen"] += len(users)
        return users
    fresh = []
    for user in users:
        if user.account_id in seen:
            ctx.counts["duplicates_skipped"] += 1
            continue
        seen.add(user.account_id)
        fresh.append(user)
    ctx.counts["users_seen"] += len(fresh)
    return fresh


def _without_newer_changes(
    ctx: SyncContext, users: list[DirectoryUser], existing: dict[str, KnownAccount], since: datetime
) -> tuple[list[DirectoryUser], dict[str, KnownAccount]]:
    """``users`` and ``existing`` without the accounts a service changed at or after ``since``."""
    deferred = {
        account_id
        for account_id, account in existing.items()
        if account.portal_changed_at is not None and account.portal_changed_at >= since
    }
    if not deferred:
        return users, existing
    ctx.counts["accounts_deferred"] += len(deferred)
    return (
        [user for user in users if user.account_id not in deferred],
        {account_id: account for account_id, account in existing.items() if account_id not in deferred},
    )


def ensure_page_references(ctx: SyncContext, users: list[DirectoryUser]) -> dict[str, tuple[int, ...]]:
    """Products and groups a user mentions that the group phase did not list (created minimal);
    returns each user's groups as mirror pks (:func:`_groups_of`), for :func:`write_users`.

    Nearly always the group phase listed every group: the users' groups are then gone through
    once, to map them, instead of once to look for unknown ones and again to map them.
    """
    ensure_products(ctx, {p.resource_id: p.key for u in users for p in u.product_access})
    try:
        return _groups_of(ctx, users)
    except KeyError:
        pass
    known = ctx.group_pks
    unknown = {g.id: g.name for u in users for g in u.groups if g.id not in known}
    if unknown:
        org = ctx.organization
        Group.objects.bulk_create(
            [Group(organization=org, group_id=gid, name=name) for gid, name in unknown.items()], ignore_conflicts=True
        )
        ctx.group_pks.update(
            Group.objects.filter(organization=org, group_id__in=list(unknown)).values_list("group_id", "pk")
        )
        ctx.counts["groups_written"] += len(unknown)
    return _groups_of(ctx, users)


def _directory_of(ctx: SyncContext, user: DirectoryUser, current: KnownAccount | None) -> str | None:
    """The directory the account belongs to: the sync's per-directory listings say (none: a managed
    account in no directory); a single account's read-back keeps what the mirror knew unless the
    account left every directory (DESIGN.md 5.12)."""
    if ctx.account_directories is not None:
        directory = ctx.account_directories.get(user.account_id)
        listing = ctx.directory_listing
        if listing is not None and not listing.settled(user.account_id):
            # Listed in a later directory while an earlier one is still being listed: real, but
            # maybe not the first. Settled when the listing is complete; meanwhile an account the
            # mirror knew keeps its directory (no write back and forth in an hourly re-sync).
            if current is not None:
                directory = current.values[_DIRECTORY]
            ctx.unsettled_directories[user.account_id] = directory
        return directory
    if user.membership_status == "no_membership" or user.status == "not_invited":
        return None
    return current.values[_DIRECTORY] if current else None


def _account_values(user: DirectoryUser, current_type: str | None, licence_groups: int, directory: str | None) -> tuple:
    """What the mirror should hold for ``user``, in the order of ACCOUNT_FIELDS, as
    :class:`KnownAccount` holds the stored one (written through :func:`_row_values`)."""
    status = STATUS_FROM_REMOTE.get(user.status, _UNKNOWN_STATUS)
    access = user.product_access
    activity = [p.last_active for p in access if p.last_active]
    account_type = user.account_type if user.account_type in _ACCOUNT_TYPES else _UNKNOWN
    if account_type == _ATLASSIAN and current_type in _JIRA_ONLY_TYPES:
        account_type = current_type  # v2 only knows "atlassian"; Jira told us more
    return (
        user.email or None,
        user.name or "",
        account_type,
        status,
        user.claim_status == "managed",
        user.is_org_admin,
        user.management_source or "",
        user.added_to_org,
        max(activity) if activity else None,
        status == _ACTIVE and bool(access) and account_type == _ATLASSIAN,
        licence_groups,
        directory,
    )


def _write_accounts(
    ctx: SyncContext, users, existing: dict[str, KnownAccount], events: list, groups_of: dict[str, tuple[int, ...]]
) -> dict[str, int]:
    """Insert new accounts, upsert changed ones; ``{account id: pk}`` for every user of the batch.

    A known account is compared as one tuple of plain values (:class:`KnownAccount`): booleans
    read from SQLite as 0/1 equal True/False, and the two timestamps compare as aware datetimes.
    """
    rows: list[tuple] = []
    created: list[str] = []
    adapt = datetime_adapter()
    org_pk, now = ctx.organization.pk, adapt(ctx.now)
    first_seen = adapt(timezone.now())  # first_seen_at is auto_now_add: kept on conflict
    licence_pks = ctx.licence_group_pks
    # The columns of _ACCOUNT_INSERT after status_changed_at; imported_as_of empty: seen by this sync.
    tail = (now, None, None, first_seen, None, None, None, None)
    # Once every directory is listed (early in a large sync) each account's directory is final:
    # looked up at once, without asking the listing about each account (_directory_of).
    directories, listing = ctx.account_directories, ctx.directory_listing
    final = directories if directories is not None and (listing is None or listing.finished) else None

    give_way = ctx.foreground.give_way  # the fetching thread first (governance/foreground.py)
    for user in users:
        give_way()
        current = existing.get(user.account_id)
        values = _account_values(
            user,
            current.values[_TYPE] if current else None,
            len(licence_pks.intersection(groups_of[user.account_id])),  # distinct licence groups
            final.get(user.account_id) if final is not None else _directory_of(ctx, user, current),
        )
        if user.status not in STATUS_FROM_REMOTE:
            ctx.unknown_statuses[user.status] += 1
            ctx.counts["accounts_unknown_status"] += 1
        if current is None:
            rows.append((org_pk, user.account_id, *_row_values(values, adapt), now, *tail))
            created.append(user.account_id)
            continue
        stored = current.values
        if values[_LAST_ACTIVE] is None and stored[_LAST_ACTIVE] is not None:
            # Blanking waits for the end-of-sync check (DESIGN.md 5.2): the stored activity stays.
            values = (*values[:_LAST_ACTIVE], stored[_LAST_ACTIVE], *values[_LAST_ACTIVE + 1 :])
            ctx.blanked_accounts.append(current.pk)
        unchanged = values == stored
        if unchanged and not current.imported:
            continue
        new_status = values[_STATUS]
        status_changed = new_status != stored[_STATUS]
        status_at = now if status_changed else current.status_changed_at
        rows.append((org_pk, user.account_id, *_row_values(values, adapt), status_at, *tail))
        if current.imported:  # written to clear the mark, whether or not anything else changed
            ctx.counts["imports_confirmed"] += 1
        if not unchanged:
            ctx.counts["accounts_updated"] += 1
        if status_changed:
            events.append(_status_event(ctx, current, new_status))
            if new_status == _ACTIVE:
                ctx.reactivated.add(current.pk)
    if created:
        ctx.counts["accounts_created"] += len(created)
    upsert(Account, _ACCOUNT_INSERT, rows, conflict=["organization", "account_id"], update=_ACCOUNT_UPDATE)
    pks = {a.account_id: a.pk for a in existing.values()}
    if created:
        new_pks = pks_by(Account, "account_id", created, organization=org_pk)
        pks.update(new_pks)
        ctx.first_seen.update(new_pks.values())
    return pks


def _row_values(values: tuple, adapt: Callable) -> tuple:
    """:func:`_account_values` as the row is written: the timestamps in their database form."""
    return (*values[:_ADDED], adapt(values[_ADDED]), adapt(values[_LAST_ACTIVE]), *values[_LAST_ACTIVE + 1 :])


def _status_event(ctx: SyncContext, current: KnownAccount, new_status: str) -> dict:
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
        # What record_events makes of an Account target, without loading the instance.
        target_type=_ACCOUNT_LABEL,
        target_id=str(current.pk),
        target_repr=str(current),
        before={"status": current.status},
        after={"status": new_status},
        reason=ctx.seen_reason,
        **ctx.audit_fields(),
    )
