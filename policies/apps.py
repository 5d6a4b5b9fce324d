from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Inactivity policies"

    def ready(self):
        from governance.roles import register_portal_app
        from policies.events import register_events
        from policies.filtersets import register_account_filters
        from policies.leases import register_run_leases

        register_account_filters()  # ?exempted= on accounts, in the admin and the API
        register_run_leases()  # governance.runs: which lease a policy run holds
        register_events()  # governance.notifications: policy runs, access requests, review campaigns
        # The help desk reads policies and decides access requests; admins hold every write.
        register_portal_app(
            "policies",
            help_desk=True,
            admin_writes=True,
            # ... and gives back what an access review took (restore_reviewitem), as it restores access.
            help_desk_extra=("view_accessrequest", "decide_accessrequest", "restore_reviewitem"),
            # Reviewers see and decide their own review items (the admin and the API filter by reviewer).
            reviewer_perms=("view_reviewitem", "decide_reviewitem"),
        )
