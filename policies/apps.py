from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Inactivity policies"

    def ready(self):
        from policies.filtersets import register_account_filters

        register_account_filters()  # ?exempted= on accounts, in the admin and the API
