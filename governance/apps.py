from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self):
        from governance.roles import sync_roles_after_migrate

        # Runs after every migrate, once all apps' permissions exist.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="governance.portal_roles")
