from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self):
        from django_q.signals import post_execute_in_worker, pre_execute

        from governance.roles import sync_roles_after_migrate
        from governance.taskqueue.guard import refuse_foreign_task, summarise_refusal

        # Runs after every migrate, once all apps' permissions exist.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="governance.portal_roles")
        # Every process that runs tasks (cluster workers, sync-mode callers) refuses foreign ones.
        pre_execute.connect(refuse_foreign_task, dispatch_uid="governance.refuse_foreign_task")
        post_execute_in_worker.connect(summarise_refusal, dispatch_uid="governance.summarise_refusal")
