"""Building an Atlassian client for an organization (services receive it as ``client=``)."""

from typing import Any

from django.conf import settings

from accounts.models import Organization
from governance.atlassian.client import AtlassianClient


class MissingCredentials(Exception):
    """The organization has no Admin API key configured."""


def client_for(organization: Organization, **overrides) -> AtlassianClient:
    if not organization.api_key() and "api_key" not in overrides:
        where = "ATLASSIAN_ADMIN_API_KEY" if organization.credentials_from_env else "the organization's stored key"
        raise MissingCredentials(f"No Admin API key for organization {organization.org_id}: set {where}.")
    options: dict[str, Any] = dict(
        org_id=organization.org_id,
        api_key=organization.api_key(),
        api_base=organization.api_base,
        site_url=organization.site_url or None,
        cloud_id=organization.cloud_id or None,
        jira_email=organization.jira_email or None,
        jira_api_token=organization.jira_api_token() or None,
        directory_id=organization.directory_id or "-",
        group_id_form=organization.group_id_form or None,
        user_agent=f"atlassian-governance-portal ({settings.PORTAL_BASE_URL})",
    )
    options.update(overrides)
    return AtlassianClient(**options)
