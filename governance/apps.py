from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from governance import checks  # noqa: F401  (registers the system checks)
        from governance.middleware import session_fresh_at_sign_in
        from governance.roles import sync_roles_after_migrate

        # Runs after every migrate, once all apps' permissions exist.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="governance.portal_roles")
        user_logged_in.connect(session_fresh_at_sign_in, dispatch_uid="governance.session_fresh_at_sign_in")
