"""Create the portal roles (Portal admins, Help desk, Auditors) with their model permissions.

Permissions are normally created after migrate; they are created here first so a fresh
install has working roles at once. A post_migrate receiver re-applies the same mapping
after every migrate, so models added later get their permissions too (governance.roles).
"""

from django.db import migrations


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    from governance.roles import ensure_portal_roles

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    ensure_portal_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def drop_roles(apps, schema_editor):
    from governance.roles import AUDITORS, HELP_DESK, PORTAL_ADMINS

    apps.get_model("auth", "Group").objects.filter(name__in=[PORTAL_ADMINS, HELP_DESK, AUDITORS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0002_audit_append_only_triggers"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
