"""The identity team's list: accounts a policy would act on that an identity provider provisions.

Atlassian refuses lifecycle calls (deactivate, delete) for accounts provisioned through SCIM
(403 ``externalDirectory.scim``), so the portal sends none; their enforcements wait as "Action
needed in the identity provider" (DESIGN.md 5.11). This CSV, downloadable from a policy run and
mailed to ``IDP_TEAM_EMAIL`` after a run that found any, tells the identity team what to do there.
"""

from collections.abc import Iterable, Iterator

from governance.csvexport import csv_lines
from policies.models import Enforcement, EnforcementStatus

IDP_HEADER = (
    "atlassian_account_id",
    "name",
    "email",
    "identity_provider",
    "action_needed",
    "policy",
    "since",
    "reason",
)


def idp_enforcements(policy_pk: int):
    """The policy's cases waiting for the identity provider, oldest first."""
    return (
        Enforcement.objects.filter(policy_id=policy_pk, status=EnforcementStatus.IDP_ACTION_NEEDED)
        .select_related("account", "account__organization", "policy")
        .order_by("updated_at", "pk")
    )


def idp_rows(enforcements: Iterable[Enforcement]) -> Iterator[tuple]:
    for e in enforcements:
        account = e.account
        yield (
            account.account_id,
            account.name,
            account.email or "",
            account.organization.directory_name(account.directory_id),
            e.action,
            e.policy.name,
            e.updated_at.isoformat(),
            e.reason,
        )


def idp_csv_text(enforcements: Iterable[Enforcement]) -> str:
    return "".join(csv_lines(IDP_HEADER, idp_rows(enforcements)))
