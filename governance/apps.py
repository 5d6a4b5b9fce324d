from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save, pre_save


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self):
        from django.contrib.auth import get_user_model

        from governance.api import signals as api_signals
        from governance.roles import sync_roles_after_migrate

        # Runs after every migrate, once all apps' permissions exist.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="governance.portal_roles")
        user_model = get_user_model()
        pre_save.connect(api_signals.remember_whether_active, sender=user_model, dispatch_uid="governance.api_tokens")
        post_save.connect(
            api_signals.revoke_tokens_of_deactivated, sender=user_model, dispatch_uid="governance.api_tokens"
        )
