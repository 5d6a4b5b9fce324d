"""``Account.imported_as_of``: data an import brought that no sync has confirmed yet.

An import of an Atlassian CSV export writes the mirror directly. Until a sync sees the account,
what the import wrote is the file's word only (the file may be older than it looks), so policies
leave the account alone (policies/selection.py) and the admin marks it "imported, not yet synced".
The value is the date of the file the data came from, which the next import compares with its own
(accounts/importexport/seed.py). Nullable, no default: existing accounts read as confirmed, and
adding the column rewrites no rows.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_account_portal_changed_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="account",
            name="imported_as_of",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text=(
                    "Set when an import of an Atlassian CSV export changed this account and no sync has seen it "
                    "since: the date of that file. Policies leave the account alone until a sync confirms it; the "
                    "next sync that sees the account clears this."
                ),
                null=True,
                verbose_name="imported, not yet synced",
            ),
        ),
    ]
