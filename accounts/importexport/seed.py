"""Seeding or refreshing the mirror from an Atlassian CSV export, without an API key.

This is the one import that writes the mirror directly: the file *is* Atlassian's word, as a sync
would be, and nothing is sent to Atlassian. :func:`plan_seed` compares every person in the file
with the mirror (nothing written; the preview shows the plan); :func:`apply_seed` writes the plan
in one transaction with one ``account.imported`` audit event per created or changed account and
one ``import.applied`` summary, all sharing a correlation id.

What a file does not carry is left alone: accounts missing from the file stay as they are (an
export may be partial), memberships are only replaced for files with group columns, and product
access only for the products the file has columns for.
"""

import functools
import hashlib
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connections, router, transaction
from django.db.models import Count
from django.utils import timezone

from accounts.importexport.formats import RowError
from accounts.importexport.variants import (
    PRODUCTS,
    Parsed,
    ProductCell,
    SeedRecord,
    Variant,
    clip,
    max_length,
    too_long,
)
from accounts.models import (
    Account,
    AccountStatus,
    AccountType,
    Group,
    Membership,
    Product,
    ProductAccess,
    ProductGrant,
)
from governance.audit.models import AuditAction
from governance.audit.record import Actor, new_correlation_id, record_events
from governance.gc_pause import collector_paused

CHUNK = 2000
EVENT_BATCH = 5000
SEED_FIELDS = ("name", "email", "status", "added_to_org", "last_active", "managed", "billable", "is_org_admin")
_KEPT = ("status_changed_at", "licence_group_count", "account_type")
_DEFAULTS = {
    "name": "",
    "email": None,
    "status": AccountStatus.ACTIVE,
    "added_to_org": None,
    "last_active": None,
    "managed": False,
    "billable": False,
    "is_org_admin": False,
    "status_changed_at": None,
    "licence_group_count": 0,
    "account_type": AccountType.ATLASSIAN,
}


@dataclass
class AccountChange:
    """What seeding does to one account (a new one when ``pk`` is None)."""

    row: int
    account_id: str
    pk: int | None
    label: str
    before: dict
    after: dict
    values: dict  # the complete row to write, when ``write_account``
    write_account: bool
    groups_added: list[str] = field(default_factory=list)  # Atlassian group ids
    memberships_removed: list[tuple[int, int, str]] = field(default_factory=list)  # (Membership pk, Group pk, name)
    access_upserts: dict[str, datetime | None] = field(default_factory=dict)  # product resource id -> last active
    access_deleted: list[tuple[int, str]] = field(default_factory=list)  # (ProductAccess pk, resource id)


@dataclass
class SeedPlan:
    """Everything :func:`apply_seed` will write, computed without writing anything."""

    organization_id: int
    org_id: str
    variant: Variant
    file_name: str
    people: int
    changes: list[AccountChange]
    unchanged: int
    new_groups: dict[str, str]  # group id -> name
    revived_groups: list[str]
    new_products: dict[str, tuple[str, str]]  # resource id -> (key, name)
    group_names: dict[str, str]  # group id -> name, for every group the plan mentions
    product_names: dict[str, str]  # resource id -> label
    errors: list[RowError]
    warnings: list[RowError] = field(default_factory=list)  # shown in the preview; the plan may still be applied

    @property
    def created(self) -> int:
        return sum(1 for c in self.changes if c.pk is None)

    @property
    def updated(self) -> int:
        return len(self.changes) - self.created

    def counts(self) -> dict:
        return {
            "people": self.people,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "memberships_added": sum(len(c.groups_added) for c in self.changes),
            "memberships_removed": sum(len(c.memberships_removed) for c in self.changes),
            "product_access_written": sum(len(c.access_upserts) + len(c.access_deleted) for c in self.changes),
            "groups_created": len(self.new_groups),
            "products_created": len(self.new_products),
        }

    def fingerprint(self) -> str:
        """Changes when the plan would write something else (the mirror moved since the preview)."""
        digest = hashlib.sha256()
        for c in self.changes:
            digest.update(
                json.dumps(
                    [c.account_id, c.pk, c.after, c.groups_added, c.memberships_removed, c.access_upserts],
                    default=str,
                    sort_keys=True,
                ).encode()
            )
        digest.update(json.dumps([sorted(self.new_groups), sorted(self.new_products)]).encode())
        return digest.hexdigest()


@dataclass
class _Lookups:
    group_by_name: dict[str, str]
    licence_groups: set[str]
    product_by_ref: dict[tuple[str, str], str]


@collector_paused()
def plan_seed(*, organization, parsed: Parsed, file_name: str = "") -> SeedPlan:
    """Compare the file with the mirror of ``organization``; nothing is written."""
    plan = SeedPlan(
        organization_id=organization.pk,
        org_id=organization.org_id,
        variant=parsed.variant,
        file_name=file_name,
        people=len(parsed.records),
        changes=[],
        unchanged=0,
        new_groups={},
        revived_groups=[],
        new_products={},
        group_names={},
        product_names={},
        errors=list(parsed.errors),
        warnings=list(parsed.warnings),
    )
    records = parsed.records
    if parsed.variant == Variant.LEGACY:
        _match_legacy_by_email(organization, records)
    lookups = _Lookups(
        group_by_name=_resolve_groups(organization, records, plan),
        licence_groups=set(
            Group.objects.filter(organization=organization, is_licence_group=True).values_list("group_id", flat=True)
        ),
        product_by_ref=_resolve_products(organization, records, plan),
    )
    now = timezone.now()
    mirrored = Account.objects.filter(organization=organization).exists()  # a first seed has nothing to compare
    for start in range(0, len(records), CHUNK):
        _plan_chunk(organization, records[start : start + CHUNK], lookups, plan, now, mirrored=mirrored)
    return plan


def _match_legacy_by_email(organization, records: list[SeedRecord]) -> None:
    """Legacy exports name people by ``username``, not account id: fall back on a unique email."""
    ids = set(Account.objects.filter(organization=organization).values_list("account_id", flat=True))
    by_email: dict[str, list[str]] = defaultdict(list)
    for email, account_id in Account.objects.filter(organization=organization, email__isnull=False).values_list(
        "email", "account_id"
    ):
        by_email[email.casefold()].append(account_id)
    for record in records:
        email = (record.fields.get("email") or "").casefold()
        if record.account_id not in ids and len(by_email.get(email, ())) == 1:
            record.account_id = by_email[email][0]


def _resolve_groups(organization, records: list[SeedRecord], plan: SeedPlan) -> dict[str, str]:
    """Group name in the file -> Atlassian group id in the mirror (new groups get a ``csv:`` id)."""
    wanted = {name: gid for r in records if r.groups for name, gid in r.groups.items()}
    if not wanted:
        return {}
    groups = list(Group.objects.filter(organization=organization).values_list("group_id", "name", "removed_at"))
    by_id = {gid: (name, removed) for gid, name, removed in groups}
    by_name: dict[str, list[str]] = defaultdict(list)
    by_folded: dict[str, list[str]] = defaultdict(list)
    for gid, name, removed in groups:
        if removed is None:
            by_name[name].append(gid)
            by_folded[name.casefold()].append(gid)
    resolved: dict[str, str] = {}
    for name, given_id in wanted.items():
        candidates = [given_id] if given_id and given_id in by_id else by_name.get(name) or by_folded[name.casefold()]
        if len(candidates) > 1:
            problem = f"the group name “{name}” matches {len(candidates)} groups in the mirror"
            plan.errors.append(RowError(None, problem))
            continue
        gid = candidates[0] if candidates else (given_id or f"csv:{name}")
        if gid not in by_id:
            problem = too_long(gid, max_length(Group, "group_id"))
            if problem:  # a name near the limit leaves no room for the "csv:" of a made-up id
                row = next(r.row for r in records if r.groups and name in r.groups)
                plan.errors.append(RowError(row, f"the new group “{clip(name)}” needs an id of {problem}"))
                continue
            plan.new_groups[gid] = name
        elif by_id[gid][1] is not None:
            plan.revived_groups.append(gid)
        resolved[name] = gid
        plan.group_names[gid] = name
    return resolved


def _resolve_products(organization, records: list[SeedRecord], plan: SeedPlan) -> dict[tuple[str, str], str]:
    """(product name, site) in the file -> product resource id in the mirror (new ones get a ``csv:`` id)."""
    refs = {ref for r in records for ref in r.products}
    products = list(Product.objects.filter(organization=organization).values_list("resource_id", "key", "name"))
    resolved: dict[tuple[str, str], str] = {}
    for product, site in sorted(refs):
        display, keys = PRODUCTS[product]
        placeholder = f"csv:{keys[0]}:{site or 'default'}"
        matches = [p for p in products if p[0] == placeholder] or [p for p in products if p[1] in keys]
        if len(matches) > 1 and site:
            matches = [p for p in matches if site in p[0].casefold() or site in p[2].casefold()] or matches[:1]
        if matches:
            rid, _, name = matches[0]
            plan.product_names[rid] = name or display
        else:
            rid = placeholder
            name = f"{display} ({site})" if site else display
            # The site goes into the new product's id and name: it must leave room for the rest of both.
            room = min(
                max_length(Product, "resource_id") - len(rid) + len(site or "default"),
                max_length(Product, "name") - len(name) + len(site),
            )
            problem = too_long(site, room)
            if problem:
                plan.errors.append(RowError(None, f"the {display} site “{clip(site)}” is too long: {problem}"))
            else:
                plan.new_products[rid] = (keys[0], name)
            plan.product_names[rid] = name
        resolved[(product, site)] = rid
    return resolved


def _plan_chunk(organization, records, lookups: _Lookups, plan: SeedPlan, now: datetime, *, mirrored: bool) -> None:
    loaded = ("pk", "account_id", *SEED_FIELDS, *_KEPT)
    existing = {}
    if mirrored:
        rows = Account.objects.filter(organization=organization, account_id__in=[r.account_id for r in records])
        existing = {row[1]: dict(zip(loaded, row, strict=True)) for row in rows.values_list(*loaded)}
    pks = [e["pk"] for e in existing.values()]
    memberships: dict[int, dict[str, tuple[int, int, str]]] = defaultdict(dict)
    live = Membership.objects.filter(account_id__in=pks, group__removed_at__isnull=True)
    for pk, account_pk, group_pk, gid, name in live.values_list(
        "pk", "account_id", "group_id", "group__group_id", "group__name"
    ):
        memberships[account_pk][gid] = (pk, group_pk, name)
    access: dict[int, dict[str, tuple[int, datetime | None]]] = defaultdict(dict)
    for pk, account_pk, rid, last in ProductAccess.objects.filter(account_id__in=pks).values_list(
        "pk", "account_id", "product__resource_id", "last_active"
    ):
        access[account_pk][rid] = (pk, last)
    for record in records:
        current = existing.get(record.account_id)
        change = _plan_account(record, current, memberships, access, lookups, now)
        if change is None:
            plan.unchanged += 1
        else:
            plan.changes.append(change)


def _plan_account(record: SeedRecord, current: dict | None, memberships, access, lookups, now) -> AccountChange | None:
    pk = current["pk"] if current else None
    values = {name: (current or _DEFAULTS)[name] for name in (*SEED_FIELDS, *_KEPT)}
    change = AccountChange(record.row, record.account_id, pk, "", {}, {}, values, False)
    has_groups = _plan_groups(record, change, memberships.get(pk, {}), lookups)
    if has_groups:
        wanted_groups = _wanted_groups(record, lookups)
        values["licence_group_count"] = sum(1 for gid in wanted_groups if gid in lookups.licence_groups)
    products_after, product_dates = _plan_access(record, change, access.get(pk, {}), lookups)
    wanted = dict(record.fields)
    if "last_active" not in wanted and product_dates is not None:
        wanted["last_active"] = max(filter(None, product_dates), default=None)
    for name, value in wanted.items():
        values[name] = value
    if "billable" not in record.fields:
        values["billable"] = values["status"] == AccountStatus.ACTIVE and products_after > 0
    if values["status"] != (current or {}).get("status"):
        values["status_changed_at"] = now
    compared = (*SEED_FIELDS, "licence_group_count")
    if current is None:
        change.after = {name: values[name] for name in compared if values[name] != _DEFAULTS[name] or name in wanted}
        change.write_account = True
    else:
        changed = [name for name in compared if values[name] != current[name]]
        change.before = {name: current[name] for name in changed}
        change.after = {name: values[name] for name in changed}
        change.write_account = bool(changed)
    change.label = values["name"] or values["email"] or record.account_id
    touched = change.groups_added or change.memberships_removed or change.access_upserts or change.access_deleted
    if current is not None and not change.write_account and not touched:
        return None
    return change


def _wanted_groups(record: SeedRecord, lookups: _Lookups) -> list[str]:
    return [lookups.group_by_name[name] for name in record.groups or {} if name in lookups.group_by_name]


def _plan_groups(record: SeedRecord, change: AccountChange, current: dict, lookups: _Lookups) -> bool:
    if record.groups is None:
        return False
    wanted = _wanted_groups(record, lookups)
    change.groups_added = [gid for gid in wanted if gid not in current]
    keep = set(wanted)
    change.memberships_removed = [member for gid, member in current.items() if gid not in keep]
    return True


def _plan_access(record: SeedRecord, change: AccountChange, current: dict, lookups: _Lookups):
    """Product access to write or delete. Returns (products held afterwards, product last-seen dates or None)."""
    merged: dict[str, ProductCell] = {}
    for ref, cell in record.products.items():
        rid = lookups.product_by_ref[ref]
        other = merged.get(rid)  # two sites of the file on one product of the mirror: merge them
        merged[rid] = cell if other is None else _merged_cell(other, cell)
    held = set(current)
    dates = None
    for rid, cell in merged.items():
        existing = current.get(rid)
        if cell.has_last_seen:
            dates = [*(dates or ()), cell.last_active]
        if cell.access is False:
            if existing:
                change.access_deleted.append((existing[0], rid))
                held.discard(rid)
            continue
        if cell.access is None and existing is None and not cell.last_active:
            continue  # "never accessed" about a product the person has no access to: nothing to record
        last = cell.last_active if cell.has_last_seen else (existing[1] if existing else None)
        if existing is None or existing[1] != last:
            change.access_upserts[rid] = last
        held.add(rid)
    return len(held), dates


def _merged_cell(one: ProductCell, other: ProductCell) -> ProductCell:
    access = one.access if other.access is None else (other.access or bool(one.access))
    last = max(filter(None, (one.last_active, other.last_active)), default=None)
    return ProductCell(access, one.has_last_seen or other.has_last_seen, last)


# --- Writing -------------------------------------------------------------------------------


@dataclass
class SeedOutcome:
    correlation_id: str
    counts: dict
    events: int
    timings: dict = field(default_factory=dict)  # seconds spent writing the mirror, and the audit events


@collector_paused()
def apply_seed(*, plan: SeedPlan, actor: Actor, correlation_id: str = "") -> SeedOutcome:
    """Write ``plan`` to the mirror in one transaction, with its audit events. Refuses a plan with errors."""
    if plan.errors:
        raise ValueError("a seed plan with errors cannot be applied")
    correlation_id = correlation_id or new_correlation_id()
    now = timezone.now()
    started = time.perf_counter()
    with transaction.atomic():
        group_pks, product_pks = _write_groups_and_products(plan)
        account_pks = _write_accounts(plan, now)
        _write_memberships(plan, account_pks, group_pks)
        _write_access(plan, account_pks, product_pks)
        mirror_done = time.perf_counter()
        written = 0
        events = _events(plan, account_pks, actor, correlation_id)
        while batch := list(itertools.islice(events, EVENT_BATCH)):  # record_events holds every row it is given
            written += len(record_events(batch))
    timings = {"mirror_s": mirror_done - started, "audit_s": time.perf_counter() - mirror_done}
    return SeedOutcome(correlation_id=correlation_id, counts=plan.counts(), events=written, timings=timings)


def _write_groups_and_products(plan: SeedPlan) -> tuple[dict[str, int], dict[str, int]]:
    org_pk = plan.organization_id
    if plan.new_groups:
        Group.objects.bulk_create(
            [Group(organization_id=org_pk, group_id=gid, name=name) for gid, name in plan.new_groups.items()],
            ignore_conflicts=True,
        )
    if plan.revived_groups:
        Group.objects.filter(organization_id=org_pk, group_id__in=plan.revived_groups).update(removed_at=None)
    if plan.new_products:
        Product.objects.bulk_create(
            [
                Product(organization_id=org_pk, resource_id=rid, key=key, name=name)
                for rid, (key, name) in plan.new_products.items()
            ],
            ignore_conflicts=True,
        )
    group_pks = dict(
        Group.objects.filter(organization_id=org_pk, group_id__in=list(plan.group_names)).values_list("group_id", "pk")
    )
    product_pks = dict(
        Product.objects.filter(organization_id=org_pk, resource_id__in=list(plan.product_names)).values_list(
            "resource_id", "pk"
        )
    )
    return group_pks, product_pks


_ACCOUNT_COLUMNS = (
    "organization",
    "account_id",
    *SEED_FIELDS,
    "status_changed_at",
    "licence_group_count",
    "account_type",
    "management_source",
    "first_seen_at",
    "last_synced_at",
)


def _write_accounts(plan: SeedPlan, now: datetime) -> dict[str, int]:
    db_time = _db_datetime(Account)
    org, written = plan.organization_id, db_time(now)
    rows = [  # in the order of _ACCOUNT_COLUMNS
        (
            org,
            c.account_id,
            v["name"],
            v["email"],
            v["status"],
            db_time(v["added_to_org"]),
            db_time(v["last_active"]),
            v["managed"],
            v["billable"],
            v["is_org_admin"],
            db_time(v["status_changed_at"]),
            v["licence_group_count"],
            v["account_type"],
            "",
            written,
            written,
        )
        for c in plan.changes
        if c.write_account
        for v in (c.values,)
    ]
    updated = [*SEED_FIELDS, "status_changed_at", "licence_group_count", "last_synced_at"]
    upsert(Account, _ACCOUNT_COLUMNS, rows, conflict=("organization", "account_id"), update=updated)
    wanted = {c.account_id for c in plan.changes}
    existing = Account.objects.filter(organization_id=plan.organization_id).values_list("account_id", "pk")
    return {account_id: pk for account_id, pk in existing.iterator(chunk_size=CHUNK) if account_id in wanted}


def _write_memberships(plan: SeedPlan, account_pks: dict[str, int], group_pks: dict[str, int]) -> None:
    now = _db_datetime(Membership)(timezone.now())
    added = [(account_pks[c.account_id], group_pks[gid], now) for c in plan.changes for gid in c.groups_added]
    removed = [pk for c in plan.changes for pk, _, _ in c.memberships_removed]
    touched = {group_pks[gid] for c in plan.changes for gid in c.groups_added}
    touched |= {group_pk for c in plan.changes for _, group_pk, _ in c.memberships_removed}
    for start in range(0, len(removed), CHUNK):
        Membership.objects.filter(pk__in=removed[start : start + CHUNK]).delete()
    upsert(Membership, ("account", "group", "first_seen_at"), added, conflict=("account", "group"))
    if touched:
        counts = dict(
            Membership.objects.filter(group_id__in=touched).values_list("group_id").annotate(n=Count("pk")).order_by()
        )
        groups = list(Group.objects.filter(pk__in=touched).only("pk", "member_count"))
        for group in groups:
            group.member_count = counts.get(group.pk, 0)
        Group.objects.bulk_update(groups, ["member_count"], batch_size=500)


def _write_access(plan: SeedPlan, account_pks: dict[str, int], product_pks: dict[str, int]) -> None:
    db_time = _db_datetime(ProductAccess)
    unknown = ProductGrant.UNKNOWN.value
    rows = [
        (account_pks[c.account_id], product_pks[rid], db_time(last), unknown)
        for c in plan.changes
        for rid, last in c.access_upserts.items()
    ]
    columns = ("account", "product", "last_active", "granted")
    upsert(ProductAccess, columns, rows, conflict=("account", "product"), update=("last_active",))
    deleted = [pk for c in plan.changes for pk, _ in c.access_deleted]
    for start in range(0, len(deleted), CHUNK):
        ProductAccess.objects.filter(pk__in=deleted[start : start + CHUNK]).delete()


def _db_datetime(model):
    """The backend's own form of an aware datetime (UTC text on SQLite), as Django would send it.

    Memoised: an export's dates repeat (one midnight per day), and Django's adapter costs ~5 µs.
    """
    adapt = functools.lru_cache(maxsize=65_536)(connections[router.db_for_write(model)].ops.adapt_datetimefield_value)
    return lambda value: None if value is None else adapt(value)


def upsert(model, fields, rows: list[tuple], *, conflict, update=()) -> None:
    """``INSERT … ON CONFLICT (conflict) DO UPDATE SET update`` (or ``DO NOTHING``) for many rows.

    One prepared statement run by ``executemany``: ``bulk_create`` composes its SQL value by
    value, which here costs about 100 µs per account row and 60 µs per membership, ten times what
    the database spends, and a seed writes half a million rows. The statement is the same on
    SQLite (3.24+) and PostgreSQL. ``rows`` hold database values: see :func:`_db_datetime`.
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    column = {f: quote(model._meta.get_field(f).column) for f in {*fields, *conflict, *update}}
    action = (
        "DO UPDATE SET " + ", ".join(f"{column[f]} = excluded.{column[f]}" for f in update) if update else "DO NOTHING"
    )
    # Only quoted table and column names from the model's metadata are formatted in; values are parameters.
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(column[f] for f in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({', '.join(column[f] for f in conflict)}) {action}"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 10 * CHUNK):
            cursor.executemany(sql, rows[start : start + 10 * CHUNK])


def _events(plan: SeedPlan, account_pks: dict[str, int], actor: Actor, correlation_id: str) -> Iterator[dict]:
    """One ``account.imported`` per created or changed account, then the ``import.applied`` summary."""
    common = {"actor": actor, "organization": plan.org_id, "correlation_id": correlation_id}
    source = f"{plan.variant.label}{f' “{plan.file_name}”' if plan.file_name else ''}"
    for c in plan.changes:
        after = _jsonable(c.after)
        if c.groups_added:
            after["groups_added"] = [plan.group_names[gid] for gid in c.groups_added]
        if c.memberships_removed:
            after["groups_removed"] = [name for _, _, name in c.memberships_removed]
        if c.access_upserts:
            after["product_access"] = {plan.product_names[rid]: _iso(v) for rid, v in c.access_upserts.items()}
        if c.access_deleted:
            after["product_access_removed"] = [plan.product_names.get(rid, rid) for _, rid in c.access_deleted]
        yield dict(
            action=AuditAction.ACCOUNT_IMPORTED,
            target_type="accounts.account",
            target_id=str(account_pks[c.account_id]),
            target_repr=c.label,
            before=_jsonable(c.before) or None,
            after=after,
            reason=f"{'created' if c.pk is None else 'refreshed'} from {source}, row {c.row}",
            **common,
        )
    yield dict(
        action=AuditAction.IMPORT_APPLIED,
        target_type="accounts.organization",
        target_id=str(plan.organization_id),
        target_repr=plan.org_id,
        after={"kind": "seed", "variant": str(plan.variant), "file": plan.file_name, **plan.counts()},
        reason=f"mirror seeded from {source}; nothing was sent to Atlassian",
        **common,
    )


@functools.lru_cache(maxsize=65_536)
def _iso_datetime(value: datetime) -> str:
    return value.isoformat()


def _iso(value):
    return _iso_datetime(value) if isinstance(value, datetime) else value


def _jsonable(values: dict) -> dict:
    return {k: _iso(v) for k, v in values.items()}
