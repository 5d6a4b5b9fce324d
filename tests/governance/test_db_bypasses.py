"""governance/db/: every bypass of the ORM gives what the ORM itself would, on SQLite and PostgreSQL.

These lean on Django internals (the SQL compiler, backend operations): a Django upgrade that
changes one of them fails here, in one place. Run on PostgreSQL with DATABASE_URL set (README).
"""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from django.db.models import Count

from accounts.models import Account, Group, Membership, Organization
from governance.db import upsert as upsert_module
from governance.db.compiled import driver_rows, fetch_driver_rows, unconverted_rows
from governance.db.datetimes import aware_datetimes, datetime_adapter, db_datetime, stored_datetimes
from governance.db.fetch import fetch_grouped, fetch_rows, in_chunks, pks_by
from governance.db.sqlite import sqlite_bulk_writes
from governance.db.upsert import insert_returning, rows_per_statement, upsert
from tests.clock import SUITE_NOW
from tests.statements import InsertCounter

pytestmark = pytest.mark.django_db

FIELDS = ("organization", "account_id", "email", "name", "account_type", "status", "status_changed_at")
FIELDS += ("managed", "is_org_admin", "management_source", "added_to_org", "last_active", "billable")
FIELDS += ("licence_group_count", "restored_at", "first_seen_at", "last_synced_at", "portal_changed_at")
FIELDS += ("imported_as_of",)
CONFLICT = ("organization", "account_id")
WHEN = SUITE_NOW - timedelta(days=3) + timedelta(microseconds=678000)  # microseconds survive the round trip


def _row(org, account_id, name, when, **changes):
    adapt = datetime_adapter()
    values = dict(
        organization=org.pk,
        account_id=account_id,
        email=None,
        name=name,
        account_type="atlassian",
        status="active",
        status_changed_at=adapt(when),
        managed=True,
        is_org_admin=False,
        management_source="",
        added_to_org=None,
        last_active=adapt(when),
        billable=True,
        licence_group_count=2,
        restored_at=None,
        first_seen_at=adapt(when),
        last_synced_at=adapt(when),
        portal_changed_at=None,
        imported_as_of=None,
    )
    values.update(changes)
    return tuple(values[f] for f in FIELDS)


@pytest.fixture
def org():
    return Organization.objects.create(org_id="o1")


class TestUpsert:
    def test_rows_read_back_as_the_orm_wrote_them_in_a_few_statements_of_many_rows(self, org, monkeypatch):
        monkeypatch.setattr(upsert_module, "MAX_ROWS_PER_STATEMENT", 64)
        rows = [_row(org, f"acc-{i}", f"User {i}", WHEN) for i in range(130)]
        inserts = InsertCounter()
        with connection.execute_wrapper(inserts):
            upsert(Account, FIELDS, rows, conflict=CONFLICT, update=("name",))
        # Full statements of the largest size the parameter limit allows, then the rest in powers of two.
        per_statement = rows_per_statement(len(FIELDS))
        assert per_statement == 64  # the patched cap: both backends allow more parameters
        sizes = [params // len(FIELDS) for _, params in inserts.statements]
        assert sum(sizes) == 130
        assert max(sizes) <= per_statement
        assert len(sizes) <= 130 // per_statement + (130 % per_statement).bit_count()
        account = Account.objects.get(account_id="acc-7")
        assert (account.name, account.last_active, account.first_seen_at) == ("User 7", WHEN, WHEN)
        assert (account.managed, account.billable, account.email, account.licence_group_count) == (True, True, None, 2)

    def test_a_conflicting_row_updates_only_the_given_columns(self, org):
        upsert(Account, FIELDS, [_row(org, "acc-7", "First", WHEN)], conflict=CONFLICT, update=("name",))
        later = WHEN + timedelta(days=1)
        upsert(Account, FIELDS, [_row(org, "acc-7", "Renamed", later)], conflict=CONFLICT, update=("name",))
        account = Account.objects.get()
        assert (account.name, account.last_active) == ("Renamed", WHEN)

    def test_without_update_columns_a_conflicting_row_is_left_out(self, org):
        upsert(Account, FIELDS, [_row(org, "acc-1", "First", WHEN)], conflict=CONFLICT)
        rows = [_row(org, "acc-1", "Second", WHEN), _row(org, "acc-2", "New", WHEN)]
        upsert(Account, FIELDS, rows, conflict=CONFLICT)
        assert dict(Account.objects.values_list("account_id", "name")) == {"acc-1": "First", "acc-2": "New"}

    def test_the_last_of_two_rows_with_the_same_key_wins_as_it_would_row_by_row(self, org):
        # PostgreSQL refuses one statement that updates a row twice: the helper sends the last one only.
        rows = [_row(org, "acc-1", "Old", WHEN), _row(org, "acc-2", "Other", WHEN), _row(org, "acc-1", "New", WHEN)]
        upsert(Account, FIELDS, rows, conflict=CONFLICT, update=("name",))
        assert dict(Account.objects.values_list("account_id", "name")) == {"acc-1": "New", "acc-2": "Other"}

    def test_nullable_columns_without_a_default_may_be_left_out_and_read_back_as_none(self, org):
        left_out = {"restored_at", "last_synced_at", "portal_changed_at", "imported_as_of"}
        fields = tuple(f for f in FIELDS if f not in left_out)
        row = dict(zip(FIELDS, _row(org, "acc-1", "A", WHEN), strict=True))
        upsert(Account, fields, [tuple(row[f] for f in fields)], conflict=CONFLICT)
        account = Account.objects.get()
        assert (account.restored_at, account.last_synced_at, account.imported_as_of) == (None, None, None)

    def test_a_column_with_a_default_or_not_null_must_be_given(self):
        with pytest.raises(ValueError, match="every column"):
            upsert(Membership, ("account", "group"), [(1, 2)])


def test_insert_returning_gives_the_asked_columns_of_every_row_in_statements_of_at_most_max_rows(org):
    fields = ("organization", "group_id", "name", "description", "directory_id", "external_synced", "managed_by")
    fields += ("member_count", "is_licence_group", "removed_at")
    rows = [(org.pk, f"g-{i}", f"Group {i}", "", "", False, "", i, False, None) for i in range(5)]
    inserts = InsertCounter()
    with connection.execute_wrapper(inserts):
        returned = insert_returning(Group, fields, rows, returning=("group_id", "id"), max_rows=2)
    assert [n // len(fields) for _, n in inserts.statements] == [2, 2, 1]
    assert returned is not None  # both supported databases return rows from a multi-row INSERT
    assert dict(returned) == dict(Group.objects.values_list("group_id", "pk"))
    assert list(Group.objects.order_by("member_count").values_list("name", flat=True)) == [
        f"Group {i}" for i in range(5)
    ]


class TestDatetimes:
    @pytest.mark.parametrize(
        "value",
        [
            SUITE_NOW,
            SUITE_NOW.replace(microsecond=123456),
            SUITE_NOW.astimezone(timezone(timedelta(hours=2))).replace(microsecond=1000),
            None,
        ],
    )
    def test_datetimes_are_sent_as_django_sends_them(self, value):
        expected = None if value is None else connection.ops.adapt_datetimefield_value(value)
        assert datetime_adapter()(value) == expected
        assert db_datetime(value) == expected

    def test_datetimes_read_past_the_converters_are_made_aware_as_the_orm_makes_them(self, org):
        Account.objects.create(organization=org, account_id="a", last_active=WHEN, added_to_org=None)
        queryset = Account.objects.values_list("last_active", "added_to_org")
        aware = aware_datetimes(queryset.db)
        assert [tuple(map(aware, row)) for row in driver_rows(queryset)] == list(queryset) == [(WHEN, None)]


class TestCompiled:
    def test_driver_rows_are_the_orms_rows_but_for_datetimes_and_flags(self, org):
        for i in range(3):
            Account.objects.create(organization=org, account_id=f"a{i}", name=f"N{i}", managed=bool(i % 2))
        queryset = Account.objects.order_by("pk").values_list("pk", "name", "managed", "licence_group_count")
        orm = list(queryset)
        assert [(pk, name, bool(managed), n) for pk, name, managed, n in driver_rows(queryset)] == orm
        assert [(pk, name, bool(managed), n) for pk, name, managed, n in fetch_driver_rows(queryset)] == orm

    def test_unconverted_rows_with_the_orms_converters_applied_are_the_orms_rows(self, org):
        for i in range(5):
            Account.objects.create(organization=org, account_id=f"a{i}", last_active=WHEN + timedelta(hours=i))
        queryset = Account.objects.order_by("pk").values_list("account_id", "last_active", "managed")
        rows, converters, compiler = unconverted_rows(queryset, chunk_size=2)
        assert set(converters) <= {1, 2}  # only the datetime and the flag need converting, where at all
        assert list(map(tuple, compiler.apply_converters(rows, converters))) == list(queryset)


def test_fetch_rows_and_pks_by_answer_as_the_orm_does(org):
    other = Organization.objects.create(org_id="o2")
    for o in (org, other):
        for i in range(4):
            Account.objects.create(organization=o, account_id=f"acc-{i}", name=f"{o.org_id} {i}")
    wanted = ["acc-1", "acc-3", "missing"]
    orm = Account.objects.filter(organization=org, account_id__in=wanted)
    assert pks_by(Account, "account_id", wanted, organization=org.pk) == dict(orm.values_list("account_id", "pk"))
    fetched = fetch_rows(Account, ("id", "name"), "account_id", wanted, organization=org.pk)
    assert sorted(map(tuple, fetched)) == sorted(orm.values_list("pk", "name"))
    assert [list(chunk) for chunk in in_chunks(list(range(5)), size=2)] == [[0, 1], [2, 3], [4]]


def test_fetch_grouped_gives_each_value_the_list_of_its_rows_and_leaves_out_values_without_rows(org):
    accounts = [Account.objects.create(organization=org, account_id=f"acc-{i}") for i in range(3)]
    groups = [Group.objects.create(organization=org, group_id=f"g{i}", name=f"g{i}") for i in range(3)]
    for account, held in zip(accounts, ([0, 1, 2], [2], []), strict=True):
        Membership.objects.bulk_create([Membership(account=account, group=groups[i]) for i in held])
    asked = [a.pk for a in accounts] + [10**9]
    grouped = fetch_grouped(Membership, "account", asked, "group")
    assert {a: sorted(g) for a, g in grouped.items()} == {
        accounts[0].pk: sorted(g.pk for g in groups),
        accounts[1].pk: [groups[2].pk],
    }
    assert fetch_grouped(Membership, "account", [], "group") == {}


def test_fetch_rows_locks_the_rows_where_the_database_can(org):
    Account.objects.create(organization=org, account_id="acc-1")
    sqls: list[str] = []
    with connection.execute_wrapper(lambda execute, sql, *args: (sqls.append(sql), execute(sql, *args))[1]):
        fetch_rows(Account, ("id",), "account_id", ["acc-1"], lock=True, organization=org.pk)
        fetch_rows(Account, ("id",), "account_id", ["acc-1"], organization=org.pk)
    locked, plain = sqls
    if connection.features.has_select_for_update:
        assert locked.endswith("FOR NO KEY UPDATE")
    else:
        assert locked == plain
    assert "FOR" not in plain


def test_stored_datetimes_read_back_what_the_adapter_wrote():
    read, adapt = stored_datetimes(connection.alias), datetime_adapter()
    for when in (WHEN, WHEN.replace(microsecond=0), WHEN.astimezone(timezone(timedelta(hours=5)))):
        assert read(adapt(when)) == when  # aware: a naive value never equals an aware one
        if connection.vendor == "sqlite":  # read from the stored text: UTC (PostgreSQL's driver keeps the value)
            assert read(adapt(when)).utcoffset() == timedelta(0)
    assert read(None) is None


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite stores timestamps as text")
def test_stored_datetimes_read_text_the_orm_did_not_write_as_the_orm_would():
    """The quick path appends "+00:00" to Django's text; text already carrying an offset, or a
    date alone, still reads as the general parse reads it."""
    read = stored_datetimes(connection.alias)
    assert read("2025-06-01 12:00:00+02:00") == datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    assert read("2025-06-01") == datetime(2025, 6, 1, tzinfo=UTC)
    assert read("2025-06-01 12:00:00.000001") == datetime(2025, 6, 1, 12, 0, 0, 1, tzinfo=UTC)


def test_sqlite_bulk_writes_enlarge_the_cache_for_the_block_and_leave_other_databases_alone(org):
    if connection.vendor != "sqlite":
        with sqlite_bulk_writes():
            assert Account.objects.aggregate(n=Count("pk"))["n"] == 0
        return

    def pragmas():
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            cache = cursor.fetchone()[0]
            cursor.execute("PRAGMA wal_autocheckpoint")
            return cache, cursor.fetchone()[0]

    before = pragmas()
    with sqlite_bulk_writes(cache_mib=8, checkpoint_pages=2048):
        assert pragmas() == (-8 * 1024, 2048)
    assert pragmas() == before
