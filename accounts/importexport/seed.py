"""Seeding or refreshing the mirror from an Atlassian CSV export, without an API key.

This is the one import that writes the mirror directly: the file *is* Atlassian's word, as a sync
would be, and nothing is sent to Atlassian. :func:`plan_seed` compares every person in the file
with the mirror (nothing written; the preview shows the plan); :func:`apply_seed` writes the plan
in one transaction with one ``account.imported`` audit event per created or changed account and
one ``import.applied`` summary, all sharing a correlation id.

What a file does not carry is left alone: accounts missing from the file stay as they are (an
export may be partial), memberships are only replaced for files with group columns, and product
access only for the products the file has columns for.

**The newer source wins, field by field.** An export is a picture of the organization at some
moment, possibly older than what the mirror holds (a sync, an earlier import, a change the portal
made). The file's date (:func:`file_date`) is the export time the admin gives on the upload form,
or else the latest date the file itself holds (its newest "last seen" or "added to org"): Atlassian's
exports carry no export time, and that date is the earliest the file can have been made, so an
undated file never passes for newer than a sync it may predate. The upload's own time is never
used: an old file uploaded today would then beat every sync. For each account the mirror's date
is that of its last sync (the account's ``last_synced_at`` or the organization's last complete
sync), of the import that last changed it (``Account.imported_as_of``), or of the portal's last
change to it, whichever is latest (:func:`mirror_date`). Then:

- status, name, email, roles, memberships and product access (given or taken) are applied only from
  a file newer than the mirror's data for that account (from a file as new as an earlier import's:
  the later upload wins a tie between two imports);
- last activity (the account's, and per product) only moves forward: a later date than the
  mirror's is taken from any file (activity cannot un-happen), an earlier one never;
- an account the mirror does not have is created only from a file newer than the organization's
  last complete sync (which listed every account there was);

and the preview lists every value it keeps, row by row, saying from where and what the file says
(:attr:`SeedPlan.notes`). Whatever an import writes to an account is marked as not yet confirmed
(``Account.imported_as_of``, the file's date): policies leave the account alone until a sync sees
it, and that sync clears the mark (accounts/sync/users.py).
"""

import functools
import hashlib
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from django.db import transaction
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
    normalise_site,
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
from governance.audit.record import Actor, append_events, new_correlation_id
from governance.db.datetimes import datetime_adapter, db_datetime
from governance.db.upsert import upsert
from governance.gc_pause import collector_paused

CHUNK = 2000
EVENT_BATCH = 5000
APPLY_BLOCK = 16_384  # changes whose rows are built and written together (see _blocks)
SEED_FIELDS = ("name", "email", "status", "added_to_org", "last_active", "managed", "billable", "is_org_admin")
_KEPT = ("status_changed_at", "licence_group_count", "account_type")
_DEFAULTS: dict[str, Any] = {  # a new account's row; values of several types
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


# The account fields a change writes, in the order of AccountChange.row_values.
VALUE_FIELDS = (*SEED_FIELDS, *_KEPT)
_VALUE_INDEX = {name: index for index, name in enumerate(VALUE_FIELDS)}
_CHANGED_NAMES: dict[tuple[str, ...], tuple[str, ...]] = {}  # one shared tuple per combination of names


@dataclass(slots=True)
class AccountChange:
    """What seeding does to one account (a new one when ``pk`` is None).

    Compact, because a plan holds one per row of the file (100,000 and more, three times over in the
    admin's flow): the row to write is a tuple, ``after`` is read from it through the names of the
    changed fields (one shared tuple per combination), and nothing removed is an empty tuple.
    """

    row: int
    account_id: str
    pk: int | None
    label: str
    before: Mapping  # the compared fields as they were; one shared empty mapping for every new account
    changed: tuple[str, ...]  # the compared fields written with a new value (or given, for a new account)
    row_values: tuple  # the complete row to write, when ``write_account``, in VALUE_FIELDS order
    write_account: bool
    groups_added: list[str] = field(default_factory=list)  # Atlassian group ids
    memberships_removed: Sequence[tuple[int, int, str]] = ()  # (Membership pk, Group pk, name)
    access_upserts: dict[str, datetime | None] = field(default_factory=dict)  # product resource id -> last active
    access_deleted: Sequence[tuple[int, str]] = ()  # (ProductAccess pk, resource id)
    imported_as_of: datetime | None = None  # the mark written with the change: the date of the data it brings

    @property
    def values(self) -> dict:
        """The row to write, by field name."""
        return dict(zip(VALUE_FIELDS, self.row_values, strict=True))

    @property
    def after(self) -> dict:
        """The compared fields as they will be."""
        row_values = self.row_values
        return {name: row_values[_VALUE_INDEX[name]] for name in self.changed}


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
    as_of: datetime | None = None  # the file's date (see file_date)
    as_of_source: str = ""  # how that date was found, for the preview
    notes: list[RowError] = field(default_factory=list)  # values kept because the mirror's are newer, row by row
    not_created: int = 0  # people of the file left out: the last complete sync, newer than the file, had not them

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
            "not_created": self.not_created,
            "values_not_applied": len(self.notes),
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
        digest.update(str(self.as_of).encode())  # the date every written account is marked with
        return digest.hexdigest()


@dataclass
class _Lookups:
    group_by_name: dict[str, str]
    licence_groups: set[str]
    product_by_ref: dict[tuple[str, str], str]


# --- Dates: the file's, and the mirror's for one account ------------------------------------

EXPORTED_AT_GIVEN = "the export time given on the upload form"
LATEST_IN_FILE = (
    "the latest date in the file: Atlassian's exports carry no export time, and the file cannot be older than the "
    "newest date it holds. Give the export time on the upload form to date it exactly"
)


def file_date(records: list[SeedRecord], *, exported_at: datetime | None, now: datetime) -> tuple[datetime | None, str]:
    """The moment the file describes, and how it was found (see the module docstring).

    ``exported_at`` (from the upload form) wins; otherwise the latest date in the file, never later
    than ``now`` (a date in the future is a mistake of the file, not a newer export). None when the
    file holds no date at all.
    """
    if exported_at is not None:
        return exported_at, EXPORTED_AT_GIVEN
    latest = None
    for record in records:
        for value in (record.fields.get("last_active"), record.fields.get("added_to_org")):
            if value is not None and (latest is None or value > latest):
                latest = value
        for _, cell in record.products:
            if cell.last_active is not None and (latest is None or cell.last_active > latest):
                latest = cell.last_active
    if latest is None:
        return None, ""
    return min(latest, now), LATEST_IN_FILE


@dataclass(frozen=True)
class MirrorDate:
    """How recent the mirror's data for one account is, and where it came from."""

    when: datetime | None
    # "sync", "import", "portal", or "" when there is nothing to go by (never synced nor imported)
    source: str

    def describe(self) -> str:
        day = show_day(self.when) if self.when else ""
        return {
            "sync": f"the sync of {day}",
            "import": f"an import of a file of {day}",
            "portal": f"the portal's change of {day}",
        }.get(self.source, "the mirror")

    def older_than(self, as_of: datetime | None) -> bool:
        """Whether a file of ``as_of`` is newer than this data (between two imports, the later upload wins a tie)."""
        if self.when is None:
            return True
        if as_of is None:
            return False
        return as_of >= self.when if self.source == "import" else as_of > self.when


def mirror_date(current: dict, org_synced: datetime | None) -> MirrorDate:
    """The date of the mirror's data for an account (a row of ``_plan_chunk``'s values)."""
    imported, synced, changed = current["imported_as_of"], current["last_synced_at"], current["portal_changed_at"]
    # The organization's last complete sync listed every account the mirror had not been given by a
    # later import alone: an account an import created (marked, never synced) was not in it.
    if synced is not None or imported is None:
        synced = max(filter(None, (synced, org_synced)), default=None)
    dates = [(when, source) for when, source in ((synced, "sync"), (imported, "import"), (changed, "portal")) if when]
    if not dates:
        return MirrorDate(None, "")
    when, source = max(dates, key=lambda pair: pair[0])
    return MirrorDate(when, source)


def show_day(value: datetime) -> str:
    """``20 Nov 2026``: the way Atlassian's exports write a day."""
    return f"{value.day} {value:%b %Y}"


@collector_paused()
def plan_seed(
    *,
    organization,
    parsed: Parsed,
    file_name: str = "",
    exported_at: datetime | None = None,
    now=None,
    consume: bool = False,
) -> SeedPlan:
    """Compare the file with the mirror of ``organization``; nothing is written.

    ``exported_at``: when Atlassian produced the file, if the admin says (see :func:`file_date`).
    ``consume``: each chunk's records are dropped once planned (``parsed.records`` is left empty),
    for a caller that no longer needs them: the records and the plan then never share the peak.
    """
    now = now or timezone.now()
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
    plan.as_of, plan.as_of_source = file_date(records, exported_at=exported_at, now=now)
    if exported_at is not None and exported_at > now:
        plan.errors.append(RowError(None, f"the export time given, {exported_at:%Y-%m-%d %H:%M}, is in the future"))
    if plan.as_of is None and records:
        plan.errors.append(
            RowError(
                None,
                "the file holds no date (no last activity, no “Added to org”), so the portal cannot tell whether it is "
                "newer than the mirror: give the time it was exported from admin.atlassian.com on the upload form",
            )
        )
    if parsed.variant == Variant.LEGACY:
        _match_legacy_by_email(organization, records)
    lookups = _Lookups(
        group_by_name=_resolve_groups(organization, records, plan),
        licence_groups=set(
            Group.objects.filter(organization=organization, is_licence_group=True).values_list("group_id", flat=True)
        ),
        product_by_ref=_resolve_products(organization, records, plan),
    )
    mirrored = Account.objects.filter(organization=organization).exists()  # a first seed has nothing to compare
    org_synced = organization.last_complete_sync_at
    for chunk in _record_chunks(records, consume):
        _plan_chunk(organization, chunk, lookups, plan, now, mirrored, org_synced)
    _drop_unused(plan)
    plan.notes.sort(key=lambda note: note.row or 0)
    return plan


def _record_chunks(records: list[SeedRecord], consume: bool) -> Iterator[list[SeedRecord]]:
    """``records`` CHUNK at a time; when ``consume``, each chunk leaves the list as it is taken."""
    if not consume:
        for start in range(0, len(records), CHUNK):
            yield records[start : start + CHUNK]
        return
    while records:
        chunk = records[:CHUNK]
        del records[:CHUNK]
        yield chunk
        del chunk  # planned: its records go now, not when the next chunk replaces it


def _drop_unused(plan: SeedPlan) -> None:
    """Create or revive only the groups and products a change of the plan uses.

    A group or product the file names but the mirror lacks is created for the memberships and
    access written with it; when none is (the file is older than the mirror's data for everyone
    concerned), the mirror's newer data had no such group, or no use for it.
    """
    groups = {gid for c in plan.changes for gid in c.groups_added}
    plan.new_groups = {gid: name for gid, name in plan.new_groups.items() if gid in groups}
    plan.revived_groups = [gid for gid in plan.revived_groups if gid in groups]
    products = {rid for c in plan.changes for rid in c.access_upserts}
    plan.new_products = {rid: value for rid, value in plan.new_products.items() if rid in products}


def _match_legacy_by_email(organization, records: list[SeedRecord]) -> None:
    """Legacy exports name people by ``username``, not account id: fall back on a unique email."""
    ids = set(Account.objects.filter(organization=organization).values_list("account_id", flat=True))
    by_email: dict[str, list[str]] = defaultdict(list)
    for email, account_id in Account.objects.filter(organization=organization, email__isnull=False).values_list(
        "email", "account_id"
    ):
        assert email is not None  # email__isnull=False; the stubs type the column str | None
        by_email[email.casefold()].append(account_id)
    for record in records:
        email = (record.fields.get("email") or "").casefold()
        if record.account_id not in ids and len(by_email.get(email, ())) == 1:
            record.account_id = by_email[email][0]


def _resolve_groups(organization, records: list[SeedRecord], plan: SeedPlan) -> dict[str, str]:
    """Group name in the file -> Atlassian group id in the mirror (new groups get a ``csv:`` id)."""
    wanted = {name: gid for r in records if r.groups for name, gid in r.groups}
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
                row = next(r.row for r in records if r.groups and any(name == named for named, _ in r.groups))
                plan.errors.append(RowError(row, f"the new group “{clip(name)}” needs an id of {problem}"))
                continue
            plan.new_groups[gid] = name
        elif by_id[gid][1] is not None:
            plan.revived_groups.append(gid)
        resolved[name] = gid
        plan.group_names[gid] = name
    return resolved


def _resolve_products(organization, records: list[SeedRecord], plan: SeedPlan) -> dict[tuple[str, str], str]:
    """(product name, site) in the file -> product resource id in the mirror (new ones get a ``csv:`` id).

    Each site of a product is its own product: ``Jira - acme`` and ``Jira - acme-sandbox`` are two,
    and one's activity is never credited to the other (:func:`_synced_product` says when a site is the
    synced product's).
    """
    refs = {ref for r in records for ref, _ in r.products}
    products = list(Product.objects.filter(organization=organization).values_list("resource_id", "key", "name"))
    home = normalise_site(organization.site_url) if organization.site_url else ""
    file_sites: dict[str, set[str]] = defaultdict(set)  # primary product key -> the file's sites of it
    for product, site in refs:
        file_sites[PRODUCTS[product][1][0]].add(site)
    resolved: dict[tuple[str, str], str] = {}
    warned: set[str] = set()
    for product, site in sorted(refs):
        display, keys = PRODUCTS[product]
        placeholder = f"csv:{keys[0]}:{site or 'default'}"
        own = [p for p in products if p[0] == placeholder]
        synced = [p for p in products if p[1] in keys and not p[0].startswith("csv:")]
        match = own[0] if own else _synced_product(synced, site, home, organization.cloud_id, file_sites[keys[0]])
        if not own and match is None and synced and not home and keys[0] not in warned:
            warned.add(keys[0])
            sites = ", ".join(sorted(s or "(no site)" for s in file_sites[keys[0]]))
            plan.warnings.append(
                RowError(
                    None,
                    f"the organization's site URL is not set, so the portal cannot tell which of the file's {display} "
                    f"sites ({sites}) is the synced {display} product: each site is recorded as a product of its own. "
                    "Set the organization's Jira site URL and preview again",
                )
            )
        if match:
            rid, _, name = match
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


def _synced_product(synced: list[tuple], site: str, home: str, cloud_id: str, file_sites: set[str]):
    """The synced product (resource id, key, name) that is the file's ``site``, when the mirror can tell.

    A sync names products by resource ARI (``ari:cloud:jira-software::site/<cloud id>``), not by
    site. A site is the synced product's when it is the organization's own site (its site URL), or,
    that being unknown, when the file has no other site of the product; with several synced
    products of the key, the one of the organization's cloud id. Any other site (a sandbox, a
    second site) is None: it gets a product of its own rather than lending its activity to another.
    """
    if not synced:
        return None
    if home:
        if site and site != home:
            return None
    elif len(file_sites) > 1:
        return None
    if len(synced) == 1:
        return synced[0]
    mine = [p for p in synced if cloud_id and p[0].endswith(f"/{cloud_id}")]
    return mine[0] if len(mine) == 1 else None


_DATES = ("last_synced_at", "portal_changed_at", "imported_as_of")  # what mirror_date needs
_LABELS = {
    "name": "Name",
    "email": "Email",
    "status": "Status",
    "added_to_org": "Added to org",
    "last_active": "Last active",
    "managed": "Managed",
    "billable": "Billable",
    "is_org_admin": "Org admin",
}


def _plan_chunk(organization, records, lookups: _Lookups, plan: SeedPlan, now, mirrored: bool, org_synced) -> None:
    loaded = ("pk", "account_id", *SEED_FIELDS, *_KEPT, *_DATES)
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
        if current is None and org_synced is not None and not MirrorDate(org_synced, "sync").older_than(plan.as_of):
            # The last complete sync listed every account of the organization, and it is newer than the file.
            plan.not_created += 1
            plan.notes.append(
                RowError(
                    record.row,
                    f"not created: {MirrorDate(org_synced, 'sync').describe()}, newer than the file, "
                    "did not find this account in Atlassian",
                )
            )
            continue
        change = _plan_account(record, current, memberships, access, lookups, now, plan, org_synced)
        if change is None:
            plan.unchanged += 1
        else:
            plan.changes.append(change)


@dataclass
class _Rules:
    """What the file may change on one account (see the module docstring), and the notes it leaves."""

    row: int
    newer: bool  # the file is newer than the mirror's data for this account: its values win
    mirror: MirrorDate
    notes: list[RowError]

    def kept(self, column: str, kept, said, *, empty: str = "nothing") -> None:
        """A value of the mirror's kept against the file's: ``kept 2026-11-19 from the sync of 20 Nov 2026;
        the file says 14 Dec 2025``. ``empty`` is how a missing value reads ("never" for a date of activity)."""
        where = self.mirror.describe()
        message = f"kept {_shown(kept, empty)} from {where}; the file says {_said(said, empty)}"
        self.notes.append(RowError(self.row, message, column))

    def not_applied(self, column: str, what: str) -> None:
        self.notes.append(
            RowError(self.row, f"not applied: {what}; {self.mirror.describe()} is newer than the file", column)
        )


def _plan_account(
    record: SeedRecord, current: dict | None, memberships, access, lookups, now, plan: SeedPlan, org_synced
) -> AccountChange | None:
    pk = current["pk"] if current else None
    mirror = mirror_date(current, org_synced) if current else MirrorDate(None, "")
    rules = _Rules(record.row, mirror.older_than(plan.as_of), mirror, plan.notes)
    values = {name: (current or _DEFAULTS)[name] for name in VALUE_FIELDS}
    change = AccountChange(record.row, record.account_id, pk, "", _NOTHING_BEFORE, (), (), False)
    if _plan_groups(record, change, memberships.get(pk, {}), lookups, rules, plan):
        wanted_groups = _wanted_groups(record, lookups)
        values["licence_group_count"] = sum(1 for gid in wanted_groups if gid in lookups.licence_groups)
    products_after, product_dates = _plan_access(record, change, access.get(pk, {}), lookups, rules, plan)
    _plan_fields(record, values, rules)
    _plan_last_active(record, values, current, product_dates, rules)
    if "billable" not in record.fields and rules.newer:
        values["billable"] = values["status"] == AccountStatus.ACTIVE and products_after > 0
    if values["status"] != (current or {}).get("status"):
        values["status_changed_at"] = now
    change.before, change.changed = _before_after(record, values, current)
    change.label = values["name"] or values["email"] or record.account_id
    touched = change.groups_added or change.memberships_removed or change.access_upserts or change.access_deleted
    if current is not None and not change.changed and not touched:
        return None
    change.row_values = tuple(values[name] for name in VALUE_FIELDS)
    # Whatever the import writes waits for a sync to confirm it (policies/selectors/snapshots.py): the
    # account is marked with the date of the newest import data it holds.
    change.write_account = True
    marked = current["imported_as_of"] if current else None
    change.imported_as_of = max(filter(None, (marked, plan.as_of)), default=None)
    return change


_MISSING = object()


def _plan_fields(record: SeedRecord, values: dict, rules: _Rules) -> None:
    """The file's values (but last activity) from a newer file; from an older one, notes of what is kept."""
    for name, value in record.fields.items():
        if name == "last_active":
            continue
        if rules.newer:
            values[name] = value
        elif value != values[name]:
            rules.kept(_LABELS[name], values[name], value)


def _plan_last_active(record: SeedRecord, values: dict, current: dict | None, product_dates, rules: _Rules) -> None:
    """The account's last activity: the file's column, or else the latest of its products' dates."""
    last = record.fields.get("last_active", _MISSING)
    if last is _MISSING and product_dates is not None:
        last = max(filter(None, product_dates), default=None)
    if last is _MISSING:
        return
    # Last activity only moves forward, whatever the file's date: a later date is news; an
    # earlier one (or none) is an older picture, and would make the person look idle.
    held = values["last_active"]
    if current is None or (last is not None and (held is None or last > held)):
        values["last_active"] = last
    elif last != held:
        rules.kept("Last active", held, last, empty="never")


_NOTHING_BEFORE: Mapping = MappingProxyType({})  # read-only: shared by every new account's change


def _before_after(record: SeedRecord, values: dict, current: dict | None) -> tuple[Mapping, tuple[str, ...]]:
    """The compared fields as they were, and the names of those the change writes (``after``): for a
    new account, what differs from the defaults or the file gives."""
    compared = (*SEED_FIELDS, "licence_group_count")
    if current is None:
        names = tuple(name for name in compared if values[name] != _DEFAULTS[name] or name in record.fields)
        return _NOTHING_BEFORE, _CHANGED_NAMES.setdefault(names, names)
    names = tuple(name for name in compared if values[name] != current[name])
    return {name: current[name] for name in names}, _CHANGED_NAMES.setdefault(names, names)


def _wanted_groups(record: SeedRecord, lookups: _Lookups) -> list[str]:
    return [lookups.group_by_name[name] for name, _ in record.groups or () if name in lookups.group_by_name]


def _plan_groups(record: SeedRecord, change: AccountChange, current: dict, lookups, rules: _Rules, plan) -> bool:
    """Memberships to add and remove, from a file newer than the mirror; True when they are applied."""
    if record.groups is None:
        return False
    wanted = _wanted_groups(record, lookups)
    added = [gid for gid in wanted if gid not in current]
    keep = set(wanted)
    removed = [member for gid, member in current.items() if gid not in keep]
    if rules.newer:
        change.groups_added, change.memberships_removed = added, removed or ()
        return True
    if added or removed:
        what = sorted(f"add to {plan.group_names.get(gid, gid)}" for gid in added)
        what += sorted(f"remove from {name}" for _, _, name in removed)
        rules.not_applied("Groups", ", ".join(what))
    return False


def _plan_access(record: SeedRecord, change: AccountChange, current: dict, lookups, rules: _Rules, plan):
    """Product access to write or delete. Returns (products held afterwards, product last-seen dates or None).

    Access given or taken follows the newer source; a product's last activity only moves forward.
    """
    merged: dict[str, ProductCell] = {}
    for ref, cell in record.products:
        rid = lookups.product_by_ref[ref]
        other = merged.get(rid)  # the same site under two of the file's product names: merge them
        merged[rid] = cell if other is None else _merged_cell(other, cell)
    held = set(current)
    dates = None
    for rid, cell in merged.items():
        existing = current.get(rid)
        label = plan.product_names.get(rid, rid)
        if cell.has_last_seen:
            dates = [*(dates or ()), cell.last_active]
        if cell.access is False:
            if existing and rules.newer:
                change.access_deleted = [*change.access_deleted, (existing[0], rid)]
                held.discard(rid)
            elif existing:
                rules.not_applied(label, "no access")
            continue
        if cell.access is None and existing is None and not cell.last_active:
            continue  # "never accessed" about a product the person has no access to: nothing to record
        if existing is None:
            if rules.newer:
                change.access_upserts[rid] = cell.last_active if cell.has_last_seen else None
                held.add(rid)
            else:
                rules.not_applied(label, "access")
            continue
        if cell.has_last_seen and cell.last_active != existing[1]:
            if cell.last_active is not None and (existing[1] is None or cell.last_active > existing[1]):
                change.access_upserts[rid] = cell.last_active
            else:
                rules.kept(f"{label}, last active", existing[1], cell.last_active, empty="never")
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
        while batch := list(itertools.islice(events, EVENT_BATCH)):  # append_events holds every row it is given
            written += append_events(batch)
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
    "imported_as_of",
)


def _write_accounts(plan: SeedPlan, now: datetime) -> dict[str, int]:
    db_time = datetime_adapter()
    org, written = plan.organization_id, db_time(now)
    # Not last_synced_at: an import is not a sync. The mark says what no sync has confirmed yet.
    updated = [*SEED_FIELDS, "status_changed_at", "licence_group_count", "imported_as_of"]
    for block in _blocks(plan.changes):
        rows = _account_rows(block, org, written, db_time)
        upsert(Account, _ACCOUNT_COLUMNS, rows, conflict=("organization", "account_id"), update=updated)
    wanted = {c.account_id for c in plan.changes}
    existing = Account.objects.filter(organization_id=plan.organization_id).values_list("account_id", "pk")
    return {account_id: pk for account_id, pk in existing.iterator(chunk_size=CHUNK) if account_id in wanted}


def _blocks(changes: list[AccountChange]) -> Iterator[list[AccountChange]]:
    """The plan's changes a block at a time: the rows written for them are built and dropped per block,
    not all at once (tens of MB at 100,000 accounts). A power of two, so that each block's
    statements are full ones (governance.db.upsert)."""
    for start in range(0, len(changes), APPLY_BLOCK):
        yield changes[start : start + APPLY_BLOCK]


def _account_rows(changes: list[AccountChange], org: int, written, db_time) -> list[tuple]:
    return [  # in the order of _ACCOUNT_COLUMNS
        (
            org,
            c.account_id,
            name,
            email,
            status,
            db_time(added_to_org),
            db_time(last_active),
            managed,
            billable,
            is_org_admin,
            db_time(status_changed_at),
            licence_group_count,
            account_type,
            "",
            written,
            db_time(c.imported_as_of),
        )
        for c in changes
        if c.write_account
        for (
            name,
            email,
            status,
            added_to_org,
            last_active,
            managed,
            billable,
            is_org_admin,
            status_changed_at,
            licence_group_count,
            account_type,
        ) in (c.row_values,)
    ]


def _write_memberships(plan: SeedPlan, account_pks: dict[str, int], group_pks: dict[str, int]) -> None:
    now = db_datetime(timezone.now())
    removed = [pk for c in plan.changes for pk, _, _ in c.memberships_removed]
    touched = {group_pks[gid] for c in plan.changes for gid in c.groups_added}
    touched |= {group_pk for c in plan.changes for _, group_pk, _ in c.memberships_removed}
    for start in range(0, len(removed), CHUNK):
        Membership.objects.filter(pk__in=removed[start : start + CHUNK]).delete()
    for block in _blocks(plan.changes):
        added = [(account_pks[c.account_id], group_pks[gid], now) for c in block for gid in c.groups_added]
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
    db_time = datetime_adapter()
    unknown = ProductGrant.UNKNOWN.value
    columns = ("account", "product", "last_active", "granted")
    for block in _blocks(plan.changes):
        rows = [
            (account_pks[c.account_id], product_pks[rid], db_time(last), unknown)
            for c in block
            for rid, last in c.access_upserts.items()
        ]
        upsert(ProductAccess, columns, rows, conflict=("account", "product"), update=("last_active",))
    deleted = [pk for c in plan.changes for pk, _ in c.access_deleted]
    for start in range(0, len(deleted), CHUNK):
        ProductAccess.objects.filter(pk__in=deleted[start : start + CHUNK]).delete()


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
        after["imported_as_of"] = _iso(c.imported_as_of)  # the mark: not yet confirmed by a sync
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
        after={
            "kind": "seed",
            "variant": str(plan.variant),
            "file": plan.file_name,
            "file_date": _iso(plan.as_of),
            "file_date_from": "upload form" if plan.as_of_source == EXPORTED_AT_GIVEN else "latest date in the file",
            **plan.counts(),
        },
        reason=f"mirror seeded from {source}; nothing was sent to Atlassian",
        **common,
    )


@functools.lru_cache(maxsize=65_536)
def _iso_datetime(value: datetime) -> str:
    return value.isoformat()


def _iso(value):
    return _iso_datetime(value) if isinstance(value, datetime) else value


def _shown(value, empty: str) -> str:
    """A mirror value in a note: a day as ``2026-11-19``."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return empty if value is None or value == "" else str(value)


def _said(value, empty: str) -> str:
    """What the file says, in a note: a day as the export writes it (``14 Dec 2025``)."""
    return show_day(value) if isinstance(value, datetime) else _shown(value, empty)


def _jsonable(values: Mapping) -> dict:
    return {k: _iso(v) for k, v in values.items()}
