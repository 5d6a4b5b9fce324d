from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate, post_save, pre_save


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_in
        from django_q.signals import post_execute_in_worker, pre_execute

        from governance import checks  # noqa: F401  (registers the system checks)
        from governance.api import signals as api_signals
        from governance.audit.anchors import anchor_appended
        from governance.middleware import session_fresh_at_sign_in
        from governance.notifications.receivers import send_anchor
        from governance.roles import sync_roles_after_migrate
        from governance.taskqueue.guard import refuse_foreign_task, summarise_refusal

        # Runs after every migrate, once all apps' permissions exist.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="governance.portal_roles")
        user_model = get_user_model()
        pre_save.connect(api_signals.remember_whether_active, sender=user_model, dispatch_uid="governance.api_tokens")
        post_save.connect(
            api_signals.revoke_tokens_of_deactivated, sender=user_model, dispatch_uid="governance.api_tokens"
        )
        # Every process that runs tasks (cluster workers, sync-mode callers) refuses foreign ones.
        pre_execute.connect(refuse_foreign_task, dispatch_uid="governance.refuse_foreign_task")
        post_execute_in_worker.connect(summarise_refusal, dispatch_uid="governance.summarise_refusal")
        user_logged_in.connect(session_fresh_at_sign_in, dispatch_uid="governance.session_fresh_at_sign_in")
        # Each new audit anchor can go out as the "audit.anchor" event (a copy kept outside the portal).
        anchor_appended.connect(send_anchor, dispatch_uid="governance.notifications.send_anchor")


class PortalAdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin`` with the portal's site as ``admin.site`` (governance/admin_site.py).

    Named in INSTALLED_APPS in place of ``django.contrib.admin``; not this module's default config
    (that is GovernanceConfig, for ``"governance"``)."""

    default = False
    default_site = "governance.admin_site.PortalAdminSite"
