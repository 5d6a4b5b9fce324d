from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from accounts.models import Organization
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event

_ENV_FIELDS = ("api_base", "site_url", "jira_email")


def organization_ensure_default(*, actor: Actor | None = None) -> Organization:
    """The organization named by ATLASSIAN_ORG_ID, created or updated from the environment."""
    org_id = settings.ATLASSIAN_ORG_ID
    if not org_id:
        raise ImproperlyConfigured("ATLASSIAN_ORG_ID is not set: there is no default organization to sync.")
    wanted = {
        "api_base": settings.ATLASSIAN_API_BASE,
        "site_url": settings.ATLASSIAN_SITE_URL,
        "jira_email": settings.ATLASSIAN_EMAIL or "",
    }
    actor = actor or Actor.system()
    with transaction.atomic():
        organization, created = Organization.objects.select_for_update().get_or_create(
            org_id=org_id, defaults={**wanted, "name": org_id, "credentials_from_env": True}
        )
        if created:
            record_event(
                actor=actor,
                action=AuditAction.ORGANIZATION_CREATED,
                target=organization,
                after=wanted,
                organization=org_id,
                reason="default organization from ATLASSIAN_* settings",
            )
            return organization
        before = {field: getattr(organization, field) for field in _ENV_FIELDS}
        if before != wanted and organization.credentials_from_env:
            for field, value in wanted.items():
                setattr(organization, field, value)
            organization.full_clean()
            organization.save(update_fields=list(_ENV_FIELDS))
            record_event(
                actor=actor,
                action=AuditAction.ORGANIZATION_UPDATED,
                target=organization,
                before=before,
                after=wanted,
                organization=org_id,
                reason="ATLASSIAN_* settings changed",
            )
    return organization
