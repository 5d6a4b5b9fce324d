"""Policies as code: every policy and unexpired exemption of an organization as one JSON document.

The document names things by what stays the same from one portal to another (a test portal and
production): products by key, groups by name, accounts by Atlassian account id, policies by name;
never by the portal's own ids. ``policies.services.policy_import`` reads it back.
"""

from datetime import datetime
from typing import Any

from accounts.models import Organization
from policies.models import Exemption, InactivityPolicy
from policies.models.policies import POLICY_SETTINGS

FORMAT = "atlassian-governance-portal/policies"
VERSION = 1
# A document carries a policy's POLICY_SETTINGS and POLICY_SCOPE, in the model's terms. ``mode`` is
# exported for the reader but never imported: a new policy starts in preview, an existing one keeps
# the mode this portal gave it.


def policy_entry(policy: InactivityPolicy) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": policy.name, "mode": policy.mode}
    entry.update({name: getattr(policy, name) for name in POLICY_SETTINGS})
    entry["products"] = sorted({p.key for p in policy.products.all()})
    entry["include_groups"] = sorted(g.name for g in policy.include_groups.all())
    entry["exclude_groups"] = sorted(g.name for g in policy.exclude_groups.all())
    return entry


def exemption_entry(exemption: Exemption) -> dict[str, Any]:
    policy, account, group = exemption.policy, exemption.account, exemption.group
    return {
        "kind": exemption.kind,
        "policy": policy.name if policy is not None else None,
        "account": account.account_id if account is not None else None,
        "group": group.name if group is not None else None,
        "email_pattern": exemption.email_pattern,
        "reason": exemption.reason,
        "expires_at": exemption.expires_at.isoformat() if exemption.expires_at else None,
    }


def policies_document(organization: Organization, *, now: datetime) -> dict[str, Any]:
    """Every policy of ``organization`` (by name) and its exemptions still in force at ``now``."""
    policies = (
        InactivityPolicy.objects.filter(organization=organization)
        .prefetch_related("products", "include_groups", "exclude_groups")
        .order_by("name", "pk")
    )
    exemptions = (
        Exemption.objects.filter(organization=organization)
        .unexpired(now)
        .select_related("policy", "account", "group")
        .order_by("created_at", "pk")
    )
    return {
        "format": FORMAT,
        "version": VERSION,
        "organization": organization.org_id,
        "exported_at": now.isoformat(),
        "policies": [policy_entry(policy) for policy in policies],
        "exemptions": [exemption_entry(exemption) for exemption in exemptions],
    }
