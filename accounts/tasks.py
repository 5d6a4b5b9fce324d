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
