"""Two indexes for account-list pages whose filters match few rows (bench/bench_admin_list.py).

The account list is ordered by (name, id), so the database walks the ``account_name`` index and
reads each account's row until a page is full. When few accounts match, that is one random row
read per account: about 130 ms at 100,000 accounts for a search with no match, or for the twenty
org admins.

- ``account_name_search`` (name, id, email, account_id): the search's columns are in the index,
  so a search is checked entry by entry in page order and only matching rows are read (18 ms).
- ``account_org_admins`` (name, id) over org admins only: a partial index, a few hundred entries.

Raw SQL (the same on SQLite and PostgreSQL) rather than ``Meta.indexes``: their only purpose is the
query plan, and the statements say exactly what is built. Django's migration state is unchanged.
"""

from django.db import migrations

INDEXES = (
    (
        "account_name_search",
        'CREATE INDEX "account_name_search" ON "accounts_account" ("name", "id", "email", "account_id")',
    ),
    (
        "account_org_admins",
        'CREATE INDEX "account_org_admins" ON "accounts_account" ("name", "id") WHERE "is_org_admin"',
    ),
)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_activity_snapshot")]

    operations = [
        migrations.RunSQL(sql=create, reverse_sql=f'DROP INDEX "{name}"', elidable=False) for name, create in INDEXES
    ]
