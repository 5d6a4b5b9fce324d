"""django-q2 entry points for the accounts app (thin: they call the sync service)."""

from accounts.clients import client_for
from accounts.models import Organization
from accounts.services.organizations import organization_ensure_default
from accounts.sync.runner import organization_sync
from governance.runs.models import RunTrigger


def sync_all_organizations(trigger: str = RunTrigger.SCHEDULE) -> dict:
    """Sync every organization; the default one is (re)read from the environment first."""
    from django.conf import settings

    if settings.ATLASSIAN_ORG_ID:
        organization_ensure_default()
    results = {}
    for organization in Organization.objects.all():
        with client_for(organization) as client:
            result = organization_sync(organization=organization, client=client, trigger=trigger)
        results[organization.org_id] = result.status
    return results


def sync_organization_now(run_id: int, actor: dict) -> str:
    """A "Sync now" from the admin (``accounts.sync.requests``): sync the run's organization under
    the queued run row ``run_id``. A run no longer queued (a task delivered twice) is left alone."""
    from accounts.bulk_tasks import actor_from_spec
    from governance.runs.models import RunStatus, TaskRun

    run = TaskRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).first()
    if run is None:
        return "skipped: the run is not queued any more"
    organization = Organization.objects.get(org_id=run.organization)
    with client_for(organization) as client:
        result = organization_sync(
            organization=organization, client=client, trigger=RunTrigger.MANUAL, actor=actor_from_spec(actor), run=run
        )
    return result.status
