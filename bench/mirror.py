"""A mirrored organization for the benchmarks: products, groups, accounts, memberships, activity.

Shared by ``bench_import_export.py`` (the export reads it) and ``bench_admin_list.py`` (the account
and group lists filter it). Deterministic for a given size and seed.

Rows are written with ``executemany`` on one prepared INSERT per table, with explicit primary keys,
instead of ``bulk_create``: Django composes a bulk INSERT value by value, which at a million
memberships costs about a minute of Python for what SQLite does in a few seconds. The values are
what Django would send (datetimes through the backend's own adapter), so the rows read back the
same as rows the ORM wrote.
"""

import random
from datetime import UTC, datetime, timedelta

from bench import common

ORG_ID = "bench-org"
ADMIN_USERNAME = "bench-admin"
GROUPS = 2000
GROUPS_PER_ACCOUNT = 10
# The first BIG_GROUPS groups are large ("all staff" style): every account is in exactly one of
# them, so each has about N / BIG_GROUPS members (25,000 at 100,000 accounts) while the others have
# about 450. The group filters are measured on one of each.
BIG_GROUPS = 4
PRODUCTS = (("jira-software", "Jira"), ("confluence", "Confluence"), ("jira-servicedesk", "Jira Service Management"))
PRODUCTS_ALL = (*PRODUCTS, ("bitbucket", "Bitbucket"))
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FIRST_NAMES = ["Ann", "Bob", "Carla", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Priya"]
LAST_NAMES = ["Smith", "Müller", "Rossi", "Novak", "Tanaka", "Okafor", "García", "Dubois", "Nguyen", "O'Neil"]
FORMULA_NAMES = ["=Finance Team", "+44 Contractor", "-Ann-Marie Dupont", "@ops-bot"]


def person_name(rng: random.Random, i: int) -> str:
    """A display name; one in 997 is a value a spreadsheet would run as a formula."""
    if i % 997 == 0:
        return FORMULA_NAMES[i % len(FORMULA_NAMES)]
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _insert_many(model, fields: tuple[str, ...], rows, *, batch: int = 50_000) -> int:
    """``INSERT INTO <table> (fields) VALUES (...)`` for every row (database values), in batches."""
    from django.db import connection

    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(f).column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    # Only quoted names from the model's metadata are formatted in; values are parameters.
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    written = 0
    pending: list = []
    with connection.cursor() as cursor:
        for row in rows:
            pending.append(row)
            if len(pending) >= batch:
                cursor.executemany(sql, pending)
                written += len(pending)
                pending.clear()
        if pending:
            cursor.executemany(sql, pending)
            written += len(pending)
    return written


def _next_pk(model) -> int:
    from django.db.models import Max

    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


def generate_mirror(accounts: int, seed: int = 20261120) -> dict:
    """One organization with 4 products, 2,000 groups and ``accounts`` accounts.

    Each account is in 10 groups (one of the 4 big ones and 9 others), uses 1 to 3 products with
    its own last activity in each (10 % never), and is spread over statuses (80 % active, 10 %
    suspended, 10 % deactivated), managed (6 in 7), billable (80 %), org admins (1 in 5,000), app
    accounts (1 in 300) and customers (1 in 500), with no email for 1 in 50 and no activity at
    all for 1 in 20. A staff user in "Portal admins" is created for the admin's own requests.
    """
    from django.contrib.auth.models import Group as Role
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from accounts.models import (
        Account,
        AccountStatus,
        AccountType,
        Group,
        Membership,
        Organization,
        Product,
        ProductAccess,
    )
    from governance.roles import PORTAL_ADMINS

    rng = random.Random(seed)
    adapt = connection.ops.adapt_datetimefield_value
    written_at = adapt(NOW)
    timings = {}
    with transaction.atomic():
        with common.stopwatch() as t:
            org = Organization.objects.create(org_id=ORG_ID, name="Bench org", api_base="http://127.0.0.1:9")
            products = Product.objects.bulk_create(
                [
                    Product(organization=org, key=key, name=name, resource_id=f"ari:cloud:{key}::site/bench")
                    for key, name in PRODUCTS_ALL
                ]
            )
            groups = Group.objects.bulk_create(
                [
                    Group(organization=org, group_id=f"ari:cloud:identity::group/{i:05d}", name=f"team-{i:04d}")
                    for i in range(GROUPS)
                ]
            )
        timings["groups_and_products_s"] = t.seconds

        statuses = [AccountStatus.ACTIVE] * 8 + [AccountStatus.SUSPENDED, AccountStatus.DEACTIVATED]
        first_pk = _next_pk(Account)

        def account_rows():
            for i in range(accounts):
                first = rng.choice(FIRST_NAMES)
                kind = AccountType.ATLASSIAN
                if i % 300 == 7:
                    kind = AccountType.APP
                elif i % 500 == 11:
                    kind = AccountType.CUSTOMER
                added = NOW - timedelta(days=rng.randint(30, 2000), seconds=rng.randint(0, 86399))
                last = None if i % 20 == 0 else NOW - timedelta(days=rng.randint(0, 400), seconds=i % 86400)
                yield (
                    first_pk + i,
                    org.pk,
                    f"{rng.getrandbits(96):024x}",
                    f"{first.lower()}.{i}@example.com" if i % 50 else None,
                    person_name(rng, i),
                    kind,
                    statuses[i % len(statuses)],
                    written_at,
                    i % 7 != 0,
                    i % 5000 == 0,
                    "",
                    adapt(added),
                    adapt(last) if last else None,
                    i % 10 < 8,
                    0,
                    written_at,
                )

        fields = (
            "id",
            "organization",
            "account_id",
            "email",
            "name",
            "account_type",
            "status",
            "status_changed_at",
            "managed",
            "is_org_admin",
            "management_source",
            "added_to_org",
            "last_active",
            "billable",
            "licence_group_count",
            "first_seen_at",
        )
        with common.stopwatch() as t:
            _insert_many(Account, fields, account_rows())
        timings["accounts_s"] = t.seconds

        account_pks = range(first_pk, first_pk + accounts)
        group_pks = [g.pk for g in groups]
        big, small = group_pks[:BIG_GROUPS], group_pks[BIG_GROUPS:]

        def membership_rows():
            for pk in account_pks:
                for group_pk in (rng.choice(big), *rng.sample(small, GROUPS_PER_ACCOUNT - 1)):
                    yield (pk, group_pk, written_at)

        with common.stopwatch() as t:
            memberships = _insert_many(Membership, ("account", "group", "first_seen_at"), membership_rows())
        timings["memberships_s"] = t.seconds

        def access_rows():
            for pk in account_pks:
                for product in rng.sample(products, rng.randint(1, 3)):
                    last = None if rng.random() < 0.1 else adapt(NOW - timedelta(days=rng.randint(0, 400)))
                    yield (pk, product.pk, last, "unknown")

        with common.stopwatch() as t:
            access = _insert_many(ProductAccess, ("account", "product", "last_active", "granted"), access_rows())
        timings["product_access_s"] = t.seconds

        with common.stopwatch() as t, connection.cursor() as cursor:
            # member_count as a sync would leave it (the group list shows it).
            cursor.execute(
                "UPDATE accounts_group SET member_count = (SELECT COUNT(*) FROM accounts_membership m "
                "WHERE m.group_id = accounts_group.id) WHERE organization_id = %s",
                [org.pk],
            )
        timings["member_counts_s"] = t.seconds
        user = User.objects.create_user(ADMIN_USERNAME, password=None, is_staff=True)
        user.groups.add(Role.objects.get(name=PORTAL_ADMINS))
    # No ANALYZE: nothing in the project runs one, so a production database has no planner
    # statistics either, and the lists are measured with the plans it would get.
    return {
        "accounts": accounts,
        "groups": GROUPS,
        "memberships": memberships,
        "product_access": access,
        "seconds": timings,
    }


def existing_mirror() -> dict:
    """The figures of a mirror written by an earlier run (``--reuse-database``)."""
    from accounts.models import Account, Group, Membership, ProductAccess

    accounts = Account.objects.filter(organization__org_id=ORG_ID)
    return {
        "accounts": accounts.count(),
        "groups": Group.objects.filter(organization__org_id=ORG_ID).count(),
        "memberships": Membership.objects.filter(account__organization__org_id=ORG_ID).count(),
        "product_access": ProductAccess.objects.filter(account__organization__org_id=ORG_ID).count(),
        "seconds": {},
    }
