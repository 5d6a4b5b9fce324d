from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a leaf module: anything may import it, before the app registry is ready
    from accounts.models import Account
    from governance.atlassian.records import DirectoryUser


class ServiceRefused(Exception):
    """The change is not allowed (an org admin, an IdP-synced group, an unmanaged account ...).

    Raised before anything is sent to Atlassian; the message is meant for the person who asked.
    """


class IdentityProviderManaged(ServiceRefused):
    """The account is provisioned by an identity provider (SCIM): Atlassian refuses lifecycle calls
    for it (403 ``externalDirectory.scim``), so none is sent; the change belongs in the identity
    provider (DESIGN.md 5.11). The message names it."""


class ChangedSinceSync(ServiceRefused):
    """Read back right before a destructive action, the account is not what the mirror says any
    more (it became active, changed status, lost the product, moved directory): the action is
    cancelled, with this reason (DESIGN.md 5.10). ``user`` is what Atlassian said, when it listed
    the account, for the mirror."""

    def __init__(self, message: str, *, user: "DirectoryUser | None" = None):
        super().__init__(message)
        self.user = user


def idp_refusal(account: "Account", what: str) -> IdentityProviderManaged:
    idp = account.organization.directory_name(account.directory_id) or "unknown directory"
    return IdentityProviderManaged(
        f"{account} is provisioned by an identity provider ({idp}, SCIM); Atlassian does not let an "
        f"organization {what} such accounts: do it in the identity provider."
    )


def refuse_without_directory(account: "Account", what: str) -> str:
    """The account's directory, for a write that must name it; refused when the mirror knows none."""
    if not account.directory_id:
        raise ServiceRefused(
            f"{account} is in no directory the portal knows of, and Atlassian only lets an organization "
            f"{what} a user in a named directory: run a sync, then try again."
        )
    return account.directory_id
