"""Which file is this? The portal's own accounts CSV, or one of the CSVs admin.atlassian.com exports.

The variant is recognised from the header row alone (``shared/atlassian/API.md`` section 10), with
headers compared case-insensitively and with spaces trimmed, because Atlassian's exact spellings
are not documented and have changed over time:

- **users export** (Directory → Users → Export): ``User id``, ``User name``, ``email``,
  ``User status``, ``Added to org``, ``Org role``, groups as one comma-separated cell (``Group
  name``, ``Group id``) or pivoted into ``Group 1``, ``Group 2`` ..., one ``<Product> - <site>``
  access column and one ``Last seen in <Product>[ - <site>]`` activity column per product;
- **managed accounts export** (Settings → Domains → Export accounts): ``Atlassian ID``,
  ``Name``, ``Email``, ``Status``, ``Last active date [UTC]``, ``Claimed``, ``Billable`` and one
  column per product listing the sites the person can use;
- **legacy site export** (original user management): ``group_name, username, full_name,
  email, active, last_login, last_session`` and a Yes/No column per product, one row per group;
- **portal accounts CSV**: this portal's own export (``account_id``, ``email``, ``groups``,
  ``status`` ...), whose rows ask for changes made in Atlassian through the services.
"""

import functools
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import models

from accounts.importexport.formats import RowError, Table, UploadRefused
from accounts.models import Account, AccountStatus, Group
from governance.atlassian.timeparse import parse_timestamp
from governance.gc_pause import collector_paused


class Variant(models.TextChoices):
    PORTAL = "portal", "Portal accounts CSV (account_id, groups, status)"
    USERS = "users", "Atlassian users export (admin.atlassian.com, Directory → Users → Export users)"
    MANAGED = "managed", "Atlassian managed accounts export (admin.atlassian.com, Settings → Domains)"
    LEGACY = "legacy", "Atlassian legacy site export (original user management)"


# Atlassian's product names (normalised) -> (display name, the mirror's product keys, best first).
PRODUCTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "jira": ("Jira", ("jira-software", "jira-core")),
    "jira software": ("Jira Software", ("jira-software",)),
    "jira work management": ("Jira Work Management", ("jira-core",)),
    "jira core": ("Jira Work Management", ("jira-core",)),
    "jira service management": ("Jira Service Management", ("jira-servicedesk", "jira-service-desk")),
    "jira service desk": ("Jira Service Management", ("jira-servicedesk", "jira-service-desk")),
    "jira product discovery": ("Jira Product Discovery", ("jira-product-discovery",)),
    "confluence": ("Confluence", ("confluence",)),
    "bitbucket": ("Bitbucket", ("bitbucket",)),
    "opsgenie": ("Opsgenie", ("opsgenie",)),
    "statuspage": ("Statuspage", ("statuspage",)),
    "trello": ("Trello", ("trello",)),
    "loom": ("Loom", ("loom",)),
    "compass": ("Compass", ("compass",)),
}
for _key in ("jira-software", "jira-core", "jira-servicedesk", "jira-service-desk", "jira-product-discovery"):
    PRODUCTS.setdefault(_key, (_key, (_key,)))

STATUSES = {
    "active": AccountStatus.ACTIVE,
    "suspended": AccountStatus.SUSPENDED,
    "access suspended": AccountStatus.SUSPENDED,
    "suspended access": AccountStatus.SUSPENDED,
    "deactivated": AccountStatus.DEACTIVATED,
    "deactivated account": AccountStatus.DEACTIVATED,
    "pending deletion": AccountStatus.PENDING_DELETION,
    "scheduled for deletion": AccountStatus.PENDING_DELETION,
    # Someone invited who has not signed in yet. The Admin API has no such status: the account is
    # "active" there, with no product activity (API.md 2.12), and the sync mirrors it so.
    "invited": AccountStatus.ACTIVE,
    "invite pending": AccountStatus.ACTIVE,
    "pending invite": AccountStatus.ACTIVE,
}
_TRUE = {"yes", "y", "true", "1", "active", "claimed", "managed"}
_FALSE = {"no", "n", "false", "0", "inactive", "unclaimed", "not claimed", "external", ""}
_NEVER = {"never accessed", "never logged in", "never", "-"}
# What a users export writes in a ``<Product> - <site>`` cell (or a managed accounts export in a
# product's site list) for someone without access: the cell is not a role, and not access.
_NO_ACCESS = {"", "no access", "none", "no", "-", "—"}
_MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})[\s-]+([A-Za-z]{3,9})\.?[\s-]+(\d{4})$")
_MONTH_DAY_YEAR = re.compile(r"^([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})$")
_PIVOT_GROUP = re.compile(r"^group \d+$")
# Django's EmailValidator costs ~35 µs a call (lazy regexes, IDNA); an import checks 100,000 of them.
# This catches what a file gets wrong (no @, no domain, a space, a missing top-level domain).
_EMAIL = re.compile(r"^[^@\s]+@(?:[^@\s.]+\.)+[^@\s.]{2,}$")


def normalise(header: str) -> str:
    """How headers are compared: trimmed, inner spaces collapsed, case-folded."""
    return " ".join(header.split()).casefold()


def normalise_site(site: str) -> str:
    site = site.strip().casefold().removeprefix("https://").removeprefix("http://").rstrip("/")
    return site.removesuffix(".atlassian.net")


def detect(headers: list[str]) -> Variant:
    """The variant named by a header row, or :class:`UploadRefused` saying what was expected."""
    names = {normalise(h) for h in headers}
    if "user id" in names:
        return Variant.USERS
    if "atlassian id" in names:
        return Variant.MANAGED
    if "username" in names and names & {"full_name", "group_name", "last_login", "active"}:
        return Variant.LEGACY
    if "account_id" in names or ("email" in names and names & {"groups", "status"}):
        return Variant.PORTAL
    shown = ", ".join(f"“{h}”" for h in headers[:12]) + (" …" if len(headers) > 12 else "")
    raise UploadRefused(
        "This file is not one the portal can import. Expected the portal's accounts CSV (an "
        "“account_id” or “email” column with “groups” and/or “status”), or an Atlassian export: the users "
        "export (“User id”), the managed accounts export (“Atlassian ID”) or the legacy site export "
        f"(“username”). Its columns are: {shown}."
    )


# --- Cell values -------------------------------------------------------------------------


_DAY_CACHE: dict[str, datetime | None] = {}


def parse_day(text: str) -> datetime | None:
    """``14 Dec 2025`` (and ISO forms) as midnight UTC; ``Never accessed`` and blanks as None."""
    try:
        return _DAY_CACHE[text]
    except KeyError:
        pass
    value = _parse_day(text)
    if len(_DAY_CACHE) < 50_000:
        _DAY_CACHE[text] = value
    return value


def _parse_day(text: str) -> datetime | None:
    cleaned = " ".join(text.split())
    if not cleaned or cleaned.casefold() in _NEVER:
        return None
    for pattern, order in ((_DAY_MONTH_YEAR, (0, 1, 2)), (_MONTH_DAY_YEAR, (1, 0, 2))):
        match = pattern.match(cleaned)
        if match:
            parts = match.groups()
            day, month, year = (parts[i] for i in order)
            month_number = _MONTHS.get(month[:3].casefold())
            if month_number is None:
                break
            try:
                return datetime(int(year), month_number, int(day), tzinfo=UTC)
            except ValueError:
                break
    try:
        return parse_timestamp(cleaned)
    except ValueError:
        raise ValueError(f"“{cleaned}” is not a date (expected e.g. “14 Dec 2025” or “2025-12-14”)") from None


def parse_bool(text: str) -> bool:
    value = text.strip().casefold()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"“{text}” is not yes or no")


def parse_status(text: str, *, legacy: bool = False) -> str:
    value = " ".join(text.split()).casefold()
    if legacy:  # "active" is Yes/No there; "No" meant site access revoked, today's suspension
        return AccountStatus.ACTIVE if parse_bool(value) else AccountStatus.SUSPENDED
    if value in STATUSES:
        return STATUSES[value]
    raise ValueError(f"“{text}” is not a status the portal knows ({', '.join(sorted(set(STATUSES)))})")


def is_org_admin(text: str) -> bool:
    return "admin" in text.casefold()


def has_access(text: str) -> bool:
    """A users export's access cell: a role (``User``, ``Admin``, ``Agent`` ...) is access; empty or
    ``No access`` is not."""
    return " ".join(text.split()).casefold() not in _NO_ACCESS


def split_list(text: str) -> list[str]:
    """A comma- (or semicolon-) separated cell as trimmed, non-empty items in order, without repeats."""
    return list(dict.fromkeys(item.strip() for item in re.split(r"[,;]", text) if item.strip()))


def check_email(text: str) -> str | None:
    value = text.strip()
    if not value:
        return None
    if not _EMAIL.match(value):
        raise ValueError(f"“{value}” is not a valid email address")
    return value


# --- Columns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """What one header means: ``role`` plus, for product columns, the product and site."""

    index: int
    header: str
    role: str
    product: str = ""  # a key of PRODUCTS
    site: str = ""

    @functools.cached_property
    def key(self) -> tuple[str, str]:
        """(product, site): a record's key for this column's product, one tuple shared by every row."""
        return (self.product, self.site)

    def describe(self) -> str:
        what = _ROLE_TEXT[self.role]
        if self.product:
            what += f" {PRODUCTS[self.product][0]}" + (f" on {self.site}" if self.site else "")
        return what


_ROLE_TEXT = {
    "account_id": "account id",
    "name": "name",
    "email": "email",
    "status": "status",
    "added_to_org": "added to org",
    "last_active": "last active (all products)",
    "org_role": "org admin (from the role)",
    "managed": "managed (claimed)",
    "billable": "billable",
    "group_names": "group memberships",
    "group_ids": "group ids (paired with the group names)",
    "group_pivot": "group membership (pivoted column)",
    "group_row": "group membership (one row per group)",
    "last_seen": "last active in",
    "access_role": "access to",
    "access_sites": "access (sites listed) to",
    "access_yesno": "access (Yes/No) to",
}
_PLAIN_COLUMNS = {
    Variant.USERS: {
        "user id": "account_id",
        "user name": "name",
        "name": "name",
        "full name": "name",
        "display name": "name",
        "email": "email",
        "email address": "email",
        "user status": "status",
        "status": "status",
        "added to org": "added_to_org",
        "last active": "last_active",
        "org role": "org_role",
        "group name": "group_names",
        "group names": "group_names",
        "groups": "group_names",
        "group id": "group_ids",
        "group ids": "group_ids",
    },
    Variant.MANAGED: {
        "atlassian id": "account_id",
        "name": "name",
        "email": "email",
        "status": "status",
        "last active date [utc]": "last_active",
        "last active date": "last_active",
        "last active": "last_active",
        "claimed": "managed",
        "billable": "billable",
    },
    Variant.LEGACY: {
        "username": "account_id",
        "full_name": "name",
        "email": "email",
        "active": "status",
        "last_login": "last_active",
        "last_session": "last_active",
        "group_name": "group_row",
    },
}


def _product_and_site(text: str) -> tuple[str, str] | None:
    name, sep, site = text.rpartition(" - ")
    if sep and name in PRODUCTS and site.strip():
        return name, normalise_site(site)
    if text in PRODUCTS:
        return text, ""
    return None


def classify(headers: list[str], variant: Variant) -> tuple[list[Column], list[str], list[RowError]]:
    """Map each header to a column role. Returns (mapped columns, ignored headers, header errors)."""
    plain = _PLAIN_COLUMNS[variant]
    mapped: list[Column] = []
    ignored: list[str] = []
    errors: list[RowError] = []
    seen: dict[str, str] = {}
    for index, header in enumerate(headers):
        name = normalise(header)
        if name in seen:
            errors.append(RowError(1, f"the column “{header}” appears twice (also as “{seen[name]}”)"))
            continue
        seen[name] = header
        column = _column(index, header, name, variant, plain)
        if column:
            mapped.append(column)
        else:
            ignored.append(header)
    if not any(c.role == "account_id" for c in mapped):  # detect() guarantees it; kept for direct callers
        errors.append(RowError(1, "no account id column"))
    return mapped, ignored, errors


def _column(index: int, header: str, name: str, variant: Variant, plain: dict) -> Column | None:
    if name in plain:
        return Column(index, header, plain[name])
    if variant == Variant.USERS:
        if _PIVOT_GROUP.match(name):
            return Column(index, header, "group_pivot")
        if name.startswith("last seen in "):
            found = _product_and_site(name.removeprefix("last seen in "))
            return Column(index, header, "last_seen", *found) if found else None
        found = _product_and_site(name)
        if found and found[1]:
            return Column(index, header, "access_role", *found)
        return None
    if name in PRODUCTS:
        return Column(index, header, "access_sites" if variant == Variant.MANAGED else "access_yesno", name)
    return None


# --- Records for seeding the mirror --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductCell:
    """What the file says about one person and one product (on one site).

    Immutable, and made by :func:`product_cell`, which shares one instance per distinct value: a
    file of 100,000 people holds a few hundred different cells, not 300,000.
    """

    access: bool | None = None  # None: the file does not say
    has_last_seen: bool = False
    last_active: datetime | None = None


_CELLS: dict[tuple, ProductCell] = {}


def product_cell(access: bool | None, has_last_seen: bool, last_active: datetime | None) -> ProductCell:
    key = (access, has_last_seen, last_active)
    cell = _CELLS.get(key)
    if cell is None:
        cell = ProductCell(access, has_last_seen, last_active)
        if len(_CELLS) < 50_000:  # days of activity over a few decades, times six: never reached by real files
            _CELLS[key] = cell
    return cell


_NO_CELL = product_cell(None, False, None)
_KEYS: dict[tuple[str, str], tuple[str, str]] = {}
_PAIRS: dict[tuple, tuple] = {}

ProductKey = tuple[str, str]  # (a key of PRODUCTS, site)


def shared_pairs(items: Iterable[tuple]) -> tuple:
    """``items`` as a tuple of pairs, each pair one shared object: a record's groups, (name, id), and
    products, (key, cell), take a few hundred distinct values over a whole file."""
    pairs = []
    for pair in items:
        shared = _PAIRS.get(pair)
        if shared is None:
            shared = pair
            # Kept for the process's life (a web worker previews many files): bounded to a few MB; past
            # the bound a pair is simply not shared.
            if len(_PAIRS) < 50_000:
                _PAIRS[pair] = pair
        pairs.append(shared)
    return tuple(pairs)


@dataclass(slots=True)
class SeedRecord:
    """One person of an Atlassian export, merged over the rows that mention them.

    A preview holds one per person until planning (100,000 and more), so nothing is stored per
    record that many records can share: product keys, cells, group names and parsed dates are
    shared objects.
    """

    row: int
    account_id: str
    fields: dict = field(default_factory=dict)  # Account field -> value, only what the file gives
    # (name, Atlassian group id or ''), names unique, in the file's order; None: the file has no group data
    groups: tuple[tuple[str, str], ...] | None = None
    products: tuple[tuple[ProductKey, ProductCell], ...] = ()  # keys unique, in the file's order


@dataclass
class Parsed:
    variant: Variant
    records: list[SeedRecord]
    columns: list[Column]
    ignored: list[str]
    errors: list[RowError]
    warnings: list[RowError] = field(default_factory=list)  # shown in the preview; they do not stop the import


@collector_paused()
def seed_records(
    table: Table, variant: Variant, *, consume: bool = False, rows: Iterable[tuple[int, list[str]]] | None = None
) -> Parsed:
    """Turn an Atlassian export into one :class:`SeedRecord` per person, with row-numbered errors.

    ``consume``: the table's rows are dropped as they are read (``table.rows`` is left empty), for
    a caller that no longer needs them: the file's cells and the records then never share the
    peak (about 100 MB at 100,000 rows).
    ``rows``: the data rows, read as they are needed (:func:`formats.stream_csv`), instead of
    ``table.rows``; the table's errors are then those found while reading them, and reading may
    raise :class:`UploadRefused`.
    """
    columns, ignored, header_errors = classify(table.headers, variant)
    if rows is None:
        rows = _consumed(table.rows) if consume else table.rows
    if any(c.role == "access_sites" for c in columns):  # two passes: every listed site, then the records
        rows = list(rows)
    sites = _listed_sites(rows, columns)
    by_id: dict[str, SeedRecord] = {}
    row_errors: list[RowError] = []
    errors = row_errors
    for number, cells in rows:
        try:
            record = _record(number, cells, columns, variant, sites)
        except _CellError as exc:
            errors.append(RowError(number, exc.message, exc.column))
            continue
        if not record.account_id:
            errors.append(RowError(number, "the account id is empty", _header(columns, "account_id")))
            continue
        known = by_id.get(record.account_id)
        if known is None:
            by_id[record.account_id] = record
        else:
            problem = _merge(known, record)
            if problem:
                errors.append(RowError(number, problem))
    del rows
    errors = [*table.errors, *header_errors, *row_errors]  # the table's are complete once its rows are read
    errors.sort(key=lambda e: e.row or 0)
    records = list(by_id.values())
    warnings = _shared_emails(records, _header(columns, "email"))
    return Parsed(variant, records, columns, ignored, errors, warnings)


def _consumed(rows: list) -> Iterator:
    """The items of ``rows``, each released from the list once taken; the list is empty afterwards."""
    for index, item in enumerate(rows):
        rows[index] = None
        yield item
    rows.clear()


def _shared_emails(records: list[SeedRecord], header: str) -> list[RowError]:
    """One warning per person whose email (compared case-insensitively) an earlier person of the file has.

    Atlassian lets two accounts share an address (an old account and its replacement, or a case
    variant), so it is not an error; but a policy email or an access request matched by address
    would then go to either account, which the admin should know before seeding.
    """
    first: dict[str, SeedRecord] = {}
    warnings = []
    for record in records:
        email = record.fields.get("email")
        if not email:
            continue
        earlier = first.setdefault(email.casefold(), record)
        if earlier is record:
            continue
        theirs = earlier.fields["email"]
        how = "" if theirs == email else f" (as “{theirs}”: the addresses differ only in case)"
        warnings.append(
            RowError(
                record.row,
                f"“{email}” is also the email of account {earlier.account_id} on row {earlier.row}{how}",
                header,
            )
        )
    return warnings


class _CellError(Exception):
    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column, self.message = column, message


def _header(columns: list[Column], role: str) -> str:
    return next((c.header for c in columns if c.role == role), role)


def _listed_sites(rows: Iterable[tuple[int, list[str]]], columns: list[Column]) -> dict[int, list[str]]:
    """For managed-accounts product columns: every site any row lists (a person not listed has no access).

    ``rows`` is a list when there is such a column (read twice); otherwise it is not read."""
    sites: dict[int, list[str]] = {}
    for column in columns:
        if column.role == "access_sites":
            found = {normalise_site(s) for _, cells in rows for s in split_list(cells[column.index]) if has_access(s)}
            sites[column.index] = sorted(found)
    return sites


@dataclass
class _Gathered:
    """What a row says across several columns: its groups (names and ids) and last-activity dates."""

    group_names: list[str] = field(default_factory=list)
    group_ids: list[str] = field(default_factory=list)
    has_groups: bool = False
    last_active: list[datetime | None] = field(default_factory=list)
    products: dict[ProductKey, ProductCell] = field(default_factory=dict)


def _record(number: int, cells: list[str], columns: list[Column], variant: Variant, sites) -> SeedRecord:
    record = SeedRecord(row=number, account_id="")
    gathered = _Gathered()
    limits = _limits()
    for column in columns:
        text = cells[column.index].strip()
        try:
            if column.role in limits:
                _check_length(text, column.role, limits[column.role])
            _read_cell(record, gathered, column, text, variant, sites)
        except ValueError as exc:
            raise _CellError(column.header, str(exc)) from None
    _finish_record(record, gathered)
    return record


def _read_cell(record: SeedRecord, gathered: _Gathered, column: Column, text: str, variant: Variant, sites) -> None:
    """One cell into ``record`` (a field, a product's cell) or ``gathered`` (a group, a date); ValueError if invalid."""
    role = column.role
    if column.product:
        _product_cell(gathered.products, column, text, sites)
    elif role in _FIELD_ROLES:
        name, parse = _FIELD_ROLES[role]
        record.fields[name] = parse(text)
    elif role == "account_id":
        record.account_id = text
    elif role == "status":
        if text:
            record.fields["status"] = parse_status(text, legacy=variant == Variant.LEGACY)
    elif role == "last_active":
        gathered.last_active.append(parse_day(text))
    elif role == "group_ids":
        gathered.group_ids = [*map(sys.intern, split_list(text))]
    else:  # group_names, group_pivot, group_row
        gathered.has_groups = True
        # Interned: a file names a few hundred groups over 100,000 rows, and each record keeps its
        # names until planning; one string per name instead of one per cell (about 25 MB).
        names = split_list(text) if role == "group_names" else [text] if text else []
        gathered.group_names.extend(map(sys.intern, names))


def _finish_record(record: SeedRecord, gathered: _Gathered) -> None:
    """The row's latest activity date, and its groups by name (with their ids, when the file has them)."""
    if gathered.last_active:
        dated = [d for d in gathered.last_active if d]
        record.fields["last_active"] = max(dated) if dated else None
    if gathered.has_groups:
        names, ids = gathered.group_names, gathered.group_ids
        if ids and len(ids) != len(names):
            raise _CellError("", f"{len(ids)} group ids for {len(names)} group names")
        record.groups = shared_pairs(dict(zip(names, ids or [""] * len(names), strict=True)).items())
    record.products = shared_pairs(gathered.products.items())


# Columns whose text the seed stores in a length-limited database column: role -> (model, field).
# Each cell is checked here, in the preview, so that a long value is a row error and not a
# database error at confirm (PostgreSQL refuses it; SQLite would store it whole).
_LIMITED = {
    "account_id": (Account, "account_id"),
    "name": (Account, "name"),
    "email": (Account, "email"),
    "group_names": (Group, "name"),
    "group_pivot": (Group, "name"),
    "group_row": (Group, "name"),
    "group_ids": (Group, "group_id"),
}
_LISTS = {"group_names", "group_ids"}  # cells holding several values, each stored on its own


@functools.cache
def _limits() -> dict[str, int]:
    """role -> max_length, read from the models so that a migration changing a limit changes the check."""
    return {role: max_length(model, name) for role, (model, name) in _LIMITED.items()}


def max_length(model, name: str) -> int:
    return model._meta.get_field(name).max_length


def too_long(text: str, limit: int) -> str:
    """The row error for a value over ``limit`` characters, or "" when it fits."""
    return f"at most {limit} characters (got {len(text)})" if len(text) > limit else ""


def _check_length(text: str, role: str, limit: int) -> None:
    if len(text) <= limit:  # a list cell within the limit holds no item over it
        return
    if role not in _LISTS:
        raise ValueError(too_long(text, limit))
    for item in split_list(text):
        if len(item) > limit:
            what = "group id" if role == "group_ids" else "group name"
            raise ValueError(f"the {what} “{clip(item)}” is too long: {too_long(item, limit)}")


def clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# Roles that set one Account field: role -> (field, parser of the trimmed cell).
_FIELD_ROLES: dict[str, tuple[str, Callable[[str], object]]] = {
    "name": ("name", str),
    "email": ("email", check_email),
    "added_to_org": ("added_to_org", parse_day),
    "org_role": ("is_org_admin", is_org_admin),
    "managed": ("managed", parse_bool),
    "billable": ("billable", parse_bool),
}


def _product_cell(
    products: dict[ProductKey, ProductCell], column: Column, text: str, sites: dict[int, list[str]]
) -> None:
    if column.role == "access_sites":
        listed = {normalise_site(s) for s in split_list(text) if has_access(s)}
        for site in sites[column.index]:
            key = _KEYS.setdefault((column.product, site), (column.product, site))
            cell = products.get(key, _NO_CELL)
            products[key] = product_cell(site in listed, cell.has_last_seen, cell.last_active)
        return
    key = column.key
    cell = products.get(key, _NO_CELL)
    if column.role == "last_seen":
        if " ".join(text.split()).casefold() == "no access":  # where a date was expected: no access, no date
            products[key] = (
                cell if cell.access is not None else product_cell(False, cell.has_last_seen, cell.last_active)
            )
            return
        products[key] = product_cell(cell.access, True, parse_day(text))
    elif column.role == "access_role":
        products[key] = product_cell(has_access(text), cell.has_last_seen, cell.last_active)
    elif column.role == "access_yesno":
        products[key] = product_cell(parse_bool(text), cell.has_last_seen, cell.last_active)
    else:
        products[key] = cell


def _merge(known: SeedRecord, other: SeedRecord) -> str | None:
    """Fold a repeated row (one per group) into the first; a contradiction is an error."""
    for name, value in other.fields.items():
        if name in known.fields and known.fields[name] != value:
            return (
                f"account {other.account_id} is also on row {known.row} with a different {name.replace('_', ' ')} "
                f"(“{_show(known.fields[name])}” there, “{_show(value)}” here)"
            )
        known.fields[name] = value
    if other.groups is not None:
        known.groups = shared_pairs({**dict(known.groups or ()), **dict(other.groups)}.items())
    products = dict(known.products)
    for ref, cell in other.products:
        mine = products.get(ref, _NO_CELL)
        access, has_last_seen, last_active = mine.access, mine.has_last_seen, mine.last_active
        if cell.access is not None:
            access = cell.access if access is None else (access or cell.access)
        if cell.has_last_seen:
            has_last_seen = True
            last_active = max(filter(None, (last_active, cell.last_active)), default=None)
        products[ref] = product_cell(access, has_last_seen, last_active)
    known.products = shared_pairs(products.items())
    return None


def _show(value) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    return "" if value is None else str(value)
