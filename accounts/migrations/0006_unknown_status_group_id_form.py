"""An ``unknown`` account status, the group id form an organization's API uses, canonical group ids.

- ``Account.status`` gains ``unknown``: Atlassian sent a status the portal does not know (the sync
  mirrors and reports it instead of failing).
- ``Organization.group_id_form``: how the group search spells group ids (``ari`` or ``uuid``), as
  the last sync saw it; calls that name a group in a path use that form.
- Group ids are stored canonical from now on, as the bare UUID (governance/atlassian/groupids.py).
  Groups stored as ``ari:cloud:identity::group/<uuid>`` are renamed to ``<uuid>``, unless the
  organization already has a group ``<uuid>``: then the ARI row is a phantom the old sync made from
  a user's ``groups`` while the group search gave the bare id. It is left alone; the next complete
  sync marks it removed and moves its memberships to the real group.
"""

from django.db import migrations, models

GROUP_ARI_PREFIX = "ari:cloud:identity::group/"


def canonical_group_ids(apps, schema_editor):
    Group = apps.get_model("accounts", "Group")
    rows = Group.objects.filter(group_id__startswith=GROUP_ARI_PREFIX).values_list("pk", "organization_id", "group_id")
    for pk, organization_id, group_id in rows.iterator():
        bare = group_id[len(GROUP_ARI_PREFIX) :]
        if not Group.objects.filter(organization_id=organization_id, group_id=bare).exists():
            Group.objects.filter(pk=pk).update(group_id=bare)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_import_provenance"),
    ]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="group_id_form",
            field=models.CharField(
                blank=True,
                choices=[("ari", "ARI (ari:cloud:identity::group/…)"), ("uuid", "bare UUID")],
                editable=False,
                help_text="How Atlassian's group search spells group ids, as the last sync saw it; calls naming a "
                "group use it. The mirror always stores the bare UUID.",
                max_length=8,
                verbose_name="group id form",
            ),
        ),
        migrations.AlterField(
            model_name="account",
            name="status",
            field=models.CharField(
                choices=[
                    ("active", "Active"),
                    ("suspended", "Suspended"),
                    ("deactivated", "Deactivated"),
                    ("pending_deletion", "Pending deletion"),
                    ("not_in_directory", "Not in a directory"),
                    ("removed", "Removed"),
                    ("unknown", "Unknown"),
                ],
                default="active",
                max_length=20,
            ),
        ),
        migrations.RunPython(canonical_group_ids, migrations.RunPython.noop, elidable=True),
    ]
