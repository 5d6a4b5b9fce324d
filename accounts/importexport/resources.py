"""django-import-export resources for accounts.

:class:`AccountExportResource` is the export: one row per account with its group memberships and
per-product last activity. django-import-export's own ``export()`` renders field by field and
row by row (a ``.all()`` per row for memberships); here rows are built in bulk instead: accounts
are read in primary-key chunks of 2,000, and each chunk's memberships and product access are
fetched with one query each and joined in Python (:func:`account_rows`). The same rows feed the
streamed CSV, the XLSX file and ``export()``'s ``tablib.Dataset``.

The two import resources describe what the admin's import form offers. They do not implement
``import_data``: imports run through :mod:`accounts.importexport.apply` (changes made in Atlassian
through the services) and :mod:`accounts.importexport.seed` (the mirror seeded from Atlassian's
own CSV exports); see :mod:`accounts.importexport.admin` for why.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter

import tablib
from django.db import connections
from django.db.models import F, TextField
from django.db.models.functions import Cast
from import_export import fields, resources

from accounts.models import Account, Group, Membership, Product, ProductAccess
from governance.csvexport import FORMULA_FIRST_CHARS, safe_cell, safe_record
from governance.db.compiled import fetch_driver_rows

CHUNK_SIZE = 2000
GROUP_JOINER = "; "
ACCOUNT_COLUMNS = (
    "account_id",
    "email",
    "name",
    "status",
    "account_type",
    "managed",
    "org_admin",
    "billable",
    "added_to_org",
    "last_active",
)
_VALUES = (
    "pk",
    "account_id",
    "email",
    "name",
    "status",
    "account_type",
    "managed",
    "is_org_admin",
    "billable",
)
PRODUCT_COLUMN_PREFIX = "last_active:"
NEVER = "never"


def iso_utc(value: datetime | None) -> str:
    """``2026-03-01T12:30:00Z`` (seconds, UTC); empty for None."""
    if value is None:
        return ""
    if value.tzinfo is UTC:  # what the database hands back: skip astimezone + strftime (3x slower)
        return value.isoformat(timespec="seconds")[:-6] + "Z"
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ProductColumns:
    """One ``last_active:<product key>`` column per product of the exported organizations."""

    organization_pks: list[int]
    labels: list[str]
    index_of: dict[int, int]  # Product pk -> position among the product columns

    @classmethod
    def for_queryset(cls, queryset) -> "ProductColumns":
        """The columns for the organizations a queryset of accounts spans."""
        organization_pks = list(queryset.order_by().values_list("organization_id", flat=True).distinct())
        products = list(
            Product.objects.filter(organization_id__in=list(organization_pks))
            .order_by("key", "name", "pk")
            .values_list("pk", "organization_id", "key", "resource_id")
        )
        per_org_keys: defaultdict[tuple[int, str], int] = defaultdict(int)
        for _, org, key, _ in products:
            per_org_keys[(org, key)] += 1
        labels: list[str] = []
        index_of: dict[int, int] = {}
        for pk, org, key, resource_id in products:
            label = PRODUCT_COLUMN_PREFIX + key
            if per_org_keys[(org, key)] > 1:  # two sites with the same product: name the site
                label += "@" + (resource_id.rpartition("/")[2] or str(pk))
            if label not in labels:
                labels.append(label)
            index_of[pk] = labels.index(label)
        return cls(organization_pks, labels, index_of)


# The account's return date (YYYY-MM-DD, empty for none): a column the change import reads back.
RETURN_COLUMN = "return_on"


def export_header(columns: ProductColumns) -> list[str]:
    return [*ACCOUNT_COLUMNS, "groups", RETURN_COLUMN, *columns.labels]


def account_rows(queryset, columns: ProductColumns, *, chunk_size: int = CHUNK_SIZE) -> Iterator[list[str]]:
    """Export rows (plain strings, not yet formula-escaped) for a queryset of accounts, in pk order.

    Per chunk of ``chunk_size`` accounts: one query for the accounts, one for their memberships and
    one for their product access, whatever the number of rows.
    """
    live_groups = Group.objects.filter(organization_id__in=columns.organization_pks, removed_at__isnull=True)
    group_name = dict(live_groups.values_list("pk", "name")).get
    position_of = columns.index_of.get
    # Two products share a column only when one organization has two sites of a product, or two
    # organizations are exported together; otherwise each cell is written once and needs no
    # "keep the latest" comparison (an account has one access row per product).
    shared_columns = len(set(columns.index_of.values())) < len(columns.index_of)
    as_text = connections[queryset.db].timezone_name == "UTC"
    iso = _iso_text if as_text else iso_utc
    blank = [""] * len(columns.labels)
    for chunk in _chunks(queryset, chunk_size, as_text=as_text):
        pks = [row[0] for row in chunk]
        groups: dict[int, list[str]] = defaultdict(list)
        for account_pk, group_pk in _related(Membership, pks, "account_id", "group_id"):
            name = group_name(group_pk)
            if name is not None:
                groups[account_pk].append(name)
        activity: dict[int, list[str]] = {}
        for account_pk, product_pk, last_active in _related(
            ProductAccess, pks, "account_id", "product_id", _timestamp("last_active", as_text)
        ):
            position = position_of(product_pk)
            if position is None:
                continue
            cells = activity.get(account_pk)
            if cells is None:
                cells = activity[account_pk] = blank.copy()
            text = iso(last_active) if last_active else NEVER
            if shared_columns:
                current = cells[position]
                # Keep the latest activity of the products sharing the column.
                if current and current != NEVER and (text == NEVER or text <= current):
                    continue
            cells[position] = text
        groups_of, activity_of = groups.get, activity.get
        for pk, account_id, email, name, status, kind, managed, admin, billable, added, last, back in chunk:
            yield [
                account_id,
                email or "",
                name,
                status,
                kind,
                "true" if managed else "false",
                "true" if admin else "false",
                "true" if billable else "false",
                iso(added) if added else "",
                iso(last) if last else "",
                GROUP_JOINER.join(sorted(groups_of(pk, ()))),
                str(back) if back else "",  # the driver's date: ISO text (SQLite) or a date (PostgreSQL)
                *activity_of(pk, blank),
            ]


# The account_rows cells that hold text as stored (names, addresses, ids, choices, group names, the
# return date as SQLite's text): the only ones that can need quoting or formula escaping. The
# others are written by account_rows itself from booleans and datetimes ("true", "false", ISO
# timestamps, "never", ""): never a quote, comma or line break, never a formula's first character.
_TEXT_CELLS = itemgetter(0, 1, 2, 3, 4, 10, 11)


def account_record(row: list[str]) -> str:
    """The CSV line of an :func:`account_rows` row: exactly ``safe_record(row)``, faster.

    A row whose text cells need neither quoting nor escaping (nearly all) is joined as it is; any
    other goes through :func:`~governance.csvexport.safe_record`, which escapes and quotes every
    cell. About half the cost of ``safe_record`` on every row (tests/accounts/test_export.py
    compares the two on hostile values).
    """
    account_id, email, name, status, kind, groups, back = _TEXT_CELLS(row)
    text = account_id + email + name + status + kind + groups + back
    if (
        '"' in text
        or "," in text
        or "\n" in text
        or "\r" in text
        or account_id[:1] in FORMULA_FIRST_CHARS
        or email[:1] in FORMULA_FIRST_CHARS
        or name[:1] in FORMULA_FIRST_CHARS
        or status[:1] in FORMULA_FIRST_CHARS
        or kind[:1] in FORMULA_FIRST_CHARS
        or groups[:1] in FORMULA_FIRST_CHARS
        or back[:1] in FORMULA_FIRST_CHARS
    ):
        return safe_record(row)
    return ",".join(row) + "\r\n"


def _timestamp(field: str, as_text: bool):
    """A datetime column read as the database's own text (``YYYY-MM-DD HH:MM:SS…`` in UTC) when
    ``as_text``: parsing it into an aware datetime only to format it again costs more per cell
    than the rest of the export. Only when the connection's time zone is UTC, which it is unless
    ``DATABASES[...]["TIME_ZONE"]`` is set."""
    return Cast(field, TextField()) if as_text else F(field)


def _iso_text(value: str) -> str:
    """``2026-03-01T12:30:00Z`` from a :func:`_timestamp` read as text (``2026-03-01 12:30:00…``)."""
    return f"{value[:10]}T{value[11:19]}Z"


def _fetch(values) -> list[tuple]:
    """The rows of a ``values_list`` queryset as the database driver returns them.

    Skips Django's per-row converters (integers into booleans, here), whose Python loop costs a
    few microseconds a row: more than reading the row. Every column read this way is either a
    string, a number or a flag whose truth is all that is used.
    """
    return fetch_driver_rows(values)


def _related(model, pks: list[int], *fields) -> list[tuple]:
    """``fields`` of the ``model`` rows of the accounts ``pks`` (ascending), in one query.

    A dense chunk is fetched by pk range: an IN list of 2,000 parameters costs Django more to
    prepare than the rows cost to read. A sparse one (a filtered export) uses IN.
    """
    lo, hi = pks[0], pks[-1]
    if hi - lo + 1 > 2 * len(pks):
        return _fetch(model.objects.filter(account_id__in=pks).values_list(*fields))
    rows = _fetch(model.objects.filter(account_id__gte=lo, account_id__lte=hi).values_list(*fields))
    if hi - lo + 1 == len(pks):
        return rows
    wanted = set(pks)
    return [row for row in rows if row[0] in wanted]


def _chunks(queryset, chunk_size: int, *, as_text: bool) -> Iterator[list[tuple]]:
    """The queryset's account values in pk order, ``chunk_size`` at a time (keyset pagination)."""
    fields = (*_VALUES, _timestamp("added_to_org", as_text), _timestamp("last_active", as_text), "return_on")
    if queryset.query.is_sliced:  # cannot filter a slice: page through its pks instead
        pks = list(queryset.values_list("pk", flat=True))
        for start in range(0, len(pks), chunk_size):
            page = Account.objects.filter(pk__in=pks[start : start + chunk_size]).order_by("pk")
            yield _fetch(page.values_list(*fields))
        return
    values = queryset.order_by("pk").values_list(*fields)
    last_pk = None
    while True:
        page = values if last_pk is None else values.filter(pk__gt=last_pk)
        chunk = _fetch(page[:chunk_size])
        if not chunk:
            return
        yield chunk
        if len(chunk) < chunk_size:
            return
        last_pk = chunk[-1][0]


class AccountExportResource(resources.ModelResource):
    """Accounts with their group memberships and per-product last activity (formula-safe cells)."""

    account_id = fields.Field(attribute="account_id", column_name="account_id")
    email = fields.Field(attribute="email", column_name="email")
    name = fields.Field(attribute="name", column_name="name")
    status = fields.Field(attribute="status", column_name="status")
    account_type = fields.Field(attribute="account_type", column_name="account_type")
    managed = fields.Field(attribute="managed", column_name="managed")
    org_admin = fields.Field(attribute="is_org_admin", column_name="org_admin")
    billable = fields.Field(attribute="billable", column_name="billable")
    added_to_org = fields.Field(attribute="added_to_org", column_name="added_to_org")
    last_active = fields.Field(attribute="last_active", column_name="last_active")
    groups = fields.Field(column_name="groups")
    return_on = fields.Field(attribute="return_on", column_name=RETURN_COLUMN)

    class Meta:
        model = Account
        fields = (*ACCOUNT_COLUMNS, "groups", RETURN_COLUMN)
        export_order = (*ACCOUNT_COLUMNS, "groups", RETURN_COLUMN)

    @classmethod
    def get_display_name(cls) -> str:
        return "Accounts with group memberships and product activity"

    def rows(self, queryset=None, *, chunk_size: int = CHUNK_SIZE) -> tuple[list[str], Iterator[list[str]]]:
        """(header, rows) of plain strings; callers escape cells with ``safe_cell``."""
        queryset = Account.objects.all() if queryset is None else queryset
        columns = ProductColumns.for_queryset(queryset)
        return export_header(columns), account_rows(queryset, columns, chunk_size=chunk_size)

    def export(self, queryset=None, **kwargs) -> tablib.Dataset:
        """The whole export as a Dataset, every cell formula-safe. Builds in memory: prefer :meth:`rows`."""
        header, rows = self.rows(queryset)
        dataset = tablib.Dataset(headers=[safe_cell(h) for h in header])
        for row in rows:
            dataset.append([safe_cell(cell) for cell in row])
        return dataset

    # Single-object rendering (django-import-export's ``export_resource``), kept correct for any caller.
    def dehydrate_groups(self, account: Account) -> str:
        names = account.memberships.filter(group__removed_at__isnull=True).values_list("group__name", flat=True)
        return GROUP_JOINER.join(sorted(names))

    def dehydrate_return_on(self, account: Account) -> str:
        return account.return_on.isoformat() if account.return_on else ""

    def dehydrate_added_to_org(self, account: Account) -> str:
        return iso_utc(account.added_to_org)

    def dehydrate_last_active(self, account: Account) -> str:
        return iso_utc(account.last_active)


class _ImportDescription(resources.Resource):
    """What one kind of import expects, for the admin's import form. Imports do not run through
    ``import_data`` (see the module docstring)."""

    def import_data(self, *args, **kwargs):
        raise NotImplementedError(
            "Account imports go through accounts.importexport.apply (Atlassian changes through the services) or "
            "accounts.importexport.seed (the mirror seeded from an Atlassian export), never row by row."
        )


class AccountChangesImport(_ImportDescription):
    """The portal's accounts CSV: group memberships and statuses, changed in Atlassian.

    An empty cell changes nothing; ``(none)`` in ``groups`` takes the account out of every group
    (:data:`accounts.importexport.apply.NO_GROUPS`). The export writes an empty ``groups`` cell for
    an account in no group, which imported back is no change either.
    """

    kind = "changes"
    account_id = fields.Field(column_name="account_id")
    email = fields.Field(column_name="email")
    groups = fields.Field(column_name="groups")
    status = fields.Field(column_name="status")
    expires_at = fields.Field(column_name="expires_at")
    return_on = fields.Field(column_name="return_on")

    @classmethod
    def get_display_name(cls) -> str:
        return "Account changes: groups and status, applied in Atlassian"


class AtlassianExportSeed(_ImportDescription):
    """A CSV exported from admin.atlassian.com, loaded into the mirror without any API call.

    Field by field, whatever the mirror holds that is newer than the file is kept, and what the
    import writes waits for a sync to confirm it (see :mod:`accounts.importexport.seed`).
    """

    kind = "seed"
    user_id = fields.Field(column_name="User id / Atlassian ID / username")
    name = fields.Field(column_name="name")
    email = fields.Field(column_name="email")
    status = fields.Field(column_name="status")
    added_to_org = fields.Field(column_name="Added to org")
    groups = fields.Field(column_name="groups")
    last_seen = fields.Field(column_name="Last seen in <product>")

    @classmethod
    def get_display_name(cls) -> str:
        return "Atlassian admin CSV export: seed or refresh the mirror (nothing is sent to Atlassian)"
