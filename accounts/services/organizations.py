from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from accounts.models import Organization
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event

_ENV_FIELDS = ("api_base", "site_url", "jira_email")
# The settings people edit (the admin's form); org_id only when creating.
EDITABLE_FIELDS = (
    "org_id",
    "name",
    "api_base",
    "site_url",
    "cloud_id",
    "directory_id",
    "jira_email",
    "credentials_from_env",
)
# Secret, as the audit trail names it → (Organization setter, encrypted column).
_SECRETS = {
    "api_key": ("set_api_key", "api_key_encrypted"),
    "jira_api_token": ("set_jira_api_token", "jira_token_encrypted"),
}


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


def organization_save(
    *,
    organization: Organization,
    actor: Actor,
    previous: dict[str, Any] | None,
    new_api_key: str = "",
    new_jira_api_token: str = "",
    forget_secrets: bool = False,
) -> Organization:
    """Save ``organization`` as it now stands, and its secrets, with one audit event naming what changed.

    ``previous``: the settings (:data:`EDITABLE_FIELDS`) this edit changes, with the values stored
    before it; None for a new organization, whose event lists every setting. A typed secret is
    encrypted and replaces the stored one; ``forget_secrets`` clears the stored ones (then they
    come from the environment). The event holds only the names of the secrets replaced or
    forgotten, never their values. Nothing changed: nothing is written or audited.
    """
    created = previous is None
    secrets = []
    for (label, (setter, column)), typed in zip(_SECRETS.items(), (new_api_key, new_jira_api_token), strict=True):
        if typed:
            getattr(organization, setter)(typed)
            secrets.append(f"{label} replaced")
        elif forget_secrets and getattr(organization, column):
            getattr(organization, setter)("")
            secrets.append(f"{label} forgotten")
    if not created and not previous and not secrets:
        return organization
    names: Iterable[str] = EDITABLE_FIELDS if previous is None else previous
    after: dict[str, Any] = {name: getattr(organization, name) for name in names}
    if secrets:
        after["secrets"] = secrets
    with transaction.atomic():
        organization.full_clean()
        organization.save()
        record_event(
            actor=actor,
            action=AuditAction.ORGANIZATION_CREATED if created else AuditAction.ORGANIZATION_UPDATED,
            target=organization,
            organization=organization.org_id,
            before=None if previous is None else dict(previous),
            after=after,
        )
    return organization
