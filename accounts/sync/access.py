"""What the users of one batch hold: product access and group memberships (see users.py).

Accounts created in this batch have no rows yet, so theirs are inserted as they come, with
nothing read back. For accounts the mirror already knew, the rows are read and compared, and
only the difference is written: added or changed rows in one batched statement, removed ones
deleted.

Memberships are inserted in (group, account) order. Two of the table's four indexes lead with
the group, and a first sync adds about ten memberships per user spread over thousands of groups:
in account order each row lands somewhere else in those indexes, in group order the rows of one
group go in one after the other. SQLite then spends about a third less time on them (970,000
memberships: 6.2 s of CPU in account order, 3.9 s in group order).
"""

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import connection
from django.utils import timezone

from accounts.models import Group, Membership, ProductAccess, ProductGrant
from accounts.sync.context import SyncContext
from governance.atlassian.records import DirectoryUser
from governance.audit.models import AuditAction
from governance.db.datetimes import datetime_adapter, db_datetime, stored_datetimes
from governance.db.fetch import fetch_grouped, fetch_rows, in_chunks
from governance.db.upsert import upsert

if TYPE_CHECKING:
    from accounts.sync.users import KnownAccount

_GROUP, _DIRECT = ProductGrant.GROUP, ProductGrant.DIRECT
_ACCESS_FIELDS = ("account", "product", "last_active", "granted")
_MEMBERSHIP_FIELDS = ("account", "group", "first_seen_at")


def write_product_access(
    ctx: SyncContext,
    users: list[DirectoryUser],
    pks: dict[str, int],
    existing: "dict[str, KnownAccount]",
    groups_of: dict[str, tuple[int, ...]],
) -> None:
    """Each user's product access: last activity per product, and whether a group grants it.
    ``groups_of``: each user's groups, as group pks."""
    grants = ctx.grants_by_group  # products each licence group grants, by group pk (most grant nothing)
    product_pks = ctx.product_pks
    adapt = datetime_adapter()
    rows: list[tuple] = []  # rows to write, timestamps in their database form
    wanted: dict[int, dict[int, tuple]] = {}  # known accounts: account -> {product: (last active, grant)}
    give_way = ctx.foreground.give_way  # the fetching thread first (governance/foreground.py)
    for user in users:
        give_way()
        if not user.product_access:
            continue
        account_pk = pks[user.account_id]
        from_groups = [grants[pk] for pk in groups_of[user.account_id] if pk in grants]
        granted_by_groups = from_groups[0] if len(from_groups) == 1 else set().union(*from_groups)
        held = {}  # a product listed twice: the last one counts
        for product in user.product_access:
            product_pk = product_pks[product.resource_id]
            held[product_pk] = (product.last_active, _GROUP if product_pk in granted_by_groups else _DIRECT)
        if user.account_id in existing:
            wanted[account_pk] = held
        else:
            rows.extend((account_pk, p, adapt(last_active), grant) for p, (last_active, grant) in held.items())
    gone = _access_changes(ctx, wanted, [a.pk for a in existing.values()], rows, adapt)
    upsert(ProductAccess, _ACCESS_FIELDS, rows, conflict=_ACCESS_FIELDS[:2], update=_ACCESS_FIELDS[2:])
    for chunk in in_chunks(gone):
        ProductAccess.objects.filter(pk__in=chunk).delete()
    ctx.counts["product_access_written"] += len(rows) + len(gone)


def _access_changes(
    ctx: SyncContext, wanted: dict[int, dict[int, tuple]], known_pks: list[int], rows: list[tuple], adapt: Callable
) -> list[int]:
    """Add to ``rows`` what differs from the known accounts' rows; the pks of rows to delete.

    Timestamps are compared as aware datetimes: the stored text is parsed (an eighth of the cost of
    formatting each record's datetime as that text), and only a row written is formatted
    (``adapt``). A blank activity keeps the stored one until the end-of-sync check. Each account's
    products are compared as one dict first: in an hourly re-sync nearly all are equal, and only
    the accounts that differ are compared row by row.
    """
    read = stored_datetimes(connection.alias)
    fetched = fetch_rows(ProductAccess, ("id", "account", "product", "last_active", "granted"), "account", known_pks)
    stored: dict[int, dict[int, tuple]] = {}
    give_way = ctx.foreground.give_way  # the fetching thread first (governance/foreground.py)
    for _, a, p, last_active, grant in fetched:
        give_way()
        held = stored.get(a)
        if held is None:
            stored[a] = {p: (read(last_active), grant)}
        else:
            held[p] = (read(last_active), grant)
    differ = {a for a, held in wanted.items() if held != stored.get(a)}
    differ.update(a for a in stored if a not in wanted)  # every product gone
    if not differ:
        return []
    pk_of = {(a, p): pk for pk, a, p, _, _ in fetched if a in differ}
    for account_pk, held in wanted.items():
        if account_pk not in differ:
            continue
        current = stored.get(account_pk, {})
        for product_pk, (last_active, grant) in held.items():
            value = current.get(product_pk)
            if value is not None:
                if value[0] is not None and last_active is None:
                    last_active = value[0]
                    ctx.blanked_access.append(pk_of[account_pk, product_pk])
                if value == (last_active, grant):
                    continue
            rows.append((account_pk, product_pk, adapt(last_active), grant))
    return [pk for (a, p), pk in pk_of.items() if p not in wanted.get(a, ())]


def write_memberships(
    ctx: SyncContext,
    users: list[DirectoryUser],
    pks: dict[str, int],
    existing: "dict[str, KnownAccount]",
    events: list,
    groups_of: dict[str, tuple[int, ...]],
) -> None:
    """Each user's groups (``groups_of``: as group pks); joining and leaving are audited for
    accounts the mirror already knew.

    A first sighting is summarised in ``sync.completed`` instead of a million "joined" events.
    """
    to_add: defaultdict[int, list[int]] = defaultdict(list)  # group pk -> account pks
    wanted: dict[int, set[int]] = {}  # known accounts: account -> group pks
    give_way = ctx.foreground.give_way  # the fetching thread first (governance/foreground.py)
    for user in users:
        give_way()
        account_pk = pks[user.account_id]
        held = groups_of[user.account_id]
        if user.account_id in existing:
            wanted[account_pk] = set(held)
        else:
            for group_pk in held:
                to_add[group_pk].append(account_pk)
    added: set[tuple[int, int]] = set()
    removed: set[tuple[int, int]] = set()
    if existing:
        # Each account's groups compared as one set: in an hourly re-sync nearly all are equal.
        known_pks = [a.pk for a in existing.values()]
        stored = {a: set(groups) for a, groups in fetch_grouped(Membership, "account", known_pks, "group").items()}
        empty: set[int] = set()
        for account_pk in {*wanted, *stored}:
            give_way()
            sent, current = wanted.get(account_pk, empty), stored.get(account_pk, empty)
            if sent != current:
                added.update((account_pk, g) for g in sent - current)
                removed.update((account_pk, g) for g in current - sent)
        for account_pk, group_pk in added:
            to_add[group_pk].append(account_pk)
        if removed:  # the rows' pks, read for the accounts that left a group only
            leaving = sorted({a for a, _ in removed})
            gone = [
                pk
                for pk, a, g in fetch_rows(Membership, ("id", "account", "group"), "account", leaving)
                if (a, g) in removed
            ]
            for chunk in in_chunks(gone):
                Membership.objects.filter(pk__in=chunk).delete()
        events.extend(_membership_events(ctx, existing, added, removed))
    first_seen = db_datetime(timezone.now())  # first_seen_at is auto_now_add
    rows = [(a, g, first_seen) for g in sorted(to_add) for a in sorted(to_add[g])]
    upsert(Membership, _MEMBERSHIP_FIELDS, rows)
    ctx.counts["memberships_added"] += len(rows)
    ctx.counts["memberships_removed"] += len(removed)


def _membership_events(ctx: SyncContext, existing: "dict[str, KnownAccount]", added, removed) -> list[dict]:
    if not added and not removed:
        return []
    known = {account.pk: account for account in existing.values()}
    names = dict(Group.objects.filter(pk__in={g for _, g in (*added, *removed)}).values_list("pk", "name"))
    changes = [(key, AuditAction.MEMBERSHIP_ADDED) for key in added]
    changes += [(key, AuditAction.MEMBERSHIP_REMOVED) for key in removed]
    events = []
    for (account_pk, group_pk), action in changes:
        account = known[account_pk]
        events.append(
            dict(
                actor=ctx.actor,
                action=action,
                target_type="accounts.membership",
                target_id=f"{account.account_id}:{group_pk}",
                target_repr=f"{account} in {names.get(group_pk, group_pk)}",
                reason=ctx.seen_reason,
                **ctx.audit_fields(),
            )
        )
    return events
