from django.db import migrations


def install(apps, schema_editor):
    """Refuse inserts that would replace an audit event or checkpoint (SQLite's INSERT OR REPLACE), and
    TRUNCATE on PostgreSQL: see governance.audit.triggers. install() is idempotent and redefines all."""
    from governance.audit import triggers

    triggers.install(schema_editor.connection)


def remove(apps, schema_editor):
    from governance.audit import triggers

    triggers.remove_insert_guards(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("governance", "0008_task_refused")]

    operations = [migrations.RunPython(install, remove)]
