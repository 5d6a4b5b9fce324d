from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Atlassian accounts"

    def ready(self):
        from accounts.leases import register_run_leases
        from accounts.notifications import register_events
        from governance.roles import register_portal_app

        register_run_leases()  # governance.runs: which lease a sync or bulk-action run holds
        register_events()  # governance.notifications: sync.failed, sync.halted, atlassian.key_refused
        # The help desk reads the mirror, may reactivate an account and decides access extensions;
        # admins hold every write.
        register_portal_app(
            "accounts", help_desk=True, admin_writes=True, help_desk_extra=("activate_account", "decide_membershipend")
        )
