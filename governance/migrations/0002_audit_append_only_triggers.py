from django.db import migrations


def install(apps, schema_editor):
    from governance.audit import triggers

    triggers.install(schema_editor.connection)


def remove(apps, schema_editor):
    from governance.audit import triggers

    triggers.remove(schema_editor.connection)


class Migration(migrations.Migration):
    """Append-only triggers on the audit table (see governance.audit.triggers)."""

    dependencies = [("governance", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
