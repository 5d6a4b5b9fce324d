"""The leases accounts' runs hold (governance.runs.locks), and how a run row names its lease so
that governance.runs can tell an abandoned run from a live one (registered in AccountsConfig.ready)."""

from governance.runs.services import register_run_lease


def sync_lease(org_id: str) -> str:
    return f"sync:{org_id}"


def bulk_action_lease(run_pk) -> str:
    return f"bulk_action:{run_pk}"


def import_lease(run_pk) -> str:
    return f"import:{run_pk}"


def register_run_leases() -> None:
    register_run_lease("sync", lambda run: sync_lease(run.organization))
    register_run_lease("bulk_action", lambda run: bulk_action_lease(run.pk))
    register_run_lease("import", lambda run: import_lease(run.pk))
