"""``Account.portal_changed_at``: when a portal service last changed the account in Atlassian.

A sync writes pages it fetched a while before; an account the portal changed after that fetch
is left to the next sync instead of being overwritten with the older state (accounts/sync/users.py).
Nullable, no default: existing accounts read as "never changed by the portal", adding the column
rewrites no rows.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_account_list_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="account",
            name="portal_changed_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="Last time a portal service changed this account in Atlassian (and in the mirror).",
                null=True,
            ),
        ),
    ]
