"""Account lifecycle in Atlassian: suspend/restore, deactivate/enable, delete/cancel-delete.

All keyword-only; ``client`` is an AtlassianClient (tests pass one bound to the simulator).
Org admins are refused unless ``allow_org_admin`` is passed: taking an org admin out by
mistake can lock the organization out of its own administration.
"""

from collections.abc import Callable
from typing import Any

from django.utils import timezone

from accounts.models import Account, AccountStatus
from accounts.services.errors import ServiceRefused, idp_refusal, refuse_without_directory
from accounts.services.remote import perform
from governance.atlassian.client import AtlassianClient
from governance.audit.models import AuditAction
from governance.audit.record import Actor


def _refuse_org_admin(account: Account, allow_org_admin: bool, what: str) -> None:
    if account.is_org_admin and not allow_org_admin:
        raise ServiceRefused(f"{account} is an organization admin; the portal does not {what} org admins.")


def _refuse_unmanaged(account: Account, what: str) -> None:
    if not account.managed:
        raise ServiceRefused(
            f"{account} is not a managed account (its domain is not claimed by the organization); "
            f"Atlassian only lets an organization {what} managed accounts. Suspend it instead."
        )


def _refuse_idp(account: Account, what: str) -> None:
    # Atlassian answers 403 externalDirectory.scim: nothing is sent (DESIGN.md 5.11).
    if account.provisioned_by_idp:
        raise idp_refusal(account, what)


def _status_change(new_status: str, *, restored: bool = False) -> Callable[[Account], dict[str, Any]]:
    def apply(account: Account) -> dict[str, Any]:
        now = timezone.now()
        changed: dict[str, Any] = {}
        if account.status != new_status:
            changed.update(status=new_status, status_changed_at=now)
        changed["billable"] = account.billable if new_status == AccountStatus.ACTIVE else False
        if restored:
            changed["restored_at"] = now
        return changed

    return apply


def _lifecycle(
    account: Account,
    client: AtlassianClient,
    actor: Actor,
    reason: str,
    correlation_id: str,
    action: str,
    remote: Callable[[], object],
    status: str,
    restored: bool = False,
) -> Account:
    """One status change in Atlassian, mirrored (then read back through ``client``) and audited
    (accounts.services.remote.perform)."""
    return perform(
        account=account,
        actor=actor,
        action=action,
        reason=reason,
        correlation_id=correlation_id,
        before={"status": account.status},
        remote=remote,
        mirror=_status_change(status, restored=restored),
        client=client,
    )


def account_suspend(
    *,
    account: Account,
    client: AtlassianClient,
    actor: Actor,
    reason: str,
    correlation_id: str = "",
    allow_org_admin: bool = False,
) -> Account:
    """Suspend access in the organization's directory: frees the seat, keeps groups and roles."""
    _refuse_org_admin(account, allow_org_admin, "suspend")
    directory = refuse_without_directory(account, "suspend")
    return _lifecycle(
        account,
        client,
        actor,
        reason,
        correlation_id,
        AuditAction.ACCOUNT_SUSPENDED,
        lambda: client.user_suspend(account.account_id, directory_id=directory),
        AccountStatus.SUSPENDED,
    )


def account_restore(
    *, account: Account, client: AtlassianClient, actor: Actor, reason: str, correlation_id: str = ""
) -> Account:
    """Lift a suspension: access, groups and roles come back as they were."""
    directory = refuse_without_directory(account, "restore")
    return _lifecycle(
        account,
        client,
        actor,
        reason,
        correlation_id,
        AuditAction.ACCOUNT_RESTORED,
        lambda: client.user_restore(account.account_id, directory_id=directory),
        AccountStatus.ACTIVE,
        restored=True,
    )


def account_deactivate(
    *,
    account: Account,
    client: AtlassianClient,
    actor: Actor,
    reason: str,
    correlation_id: str = "",
    allow_org_admin: bool = False,
) -> Account:
    """Deactivate the Atlassian account (managed accounts only): no login to any product."""
    _refuse_org_admin(account, allow_org_admin, "deactivate")
    _refuse_unmanaged(account, "deactivate")
    _refuse_idp(account, "deactivate")
    return _lifecycle(
        account,
        client,
        actor,
        reason,
        correlation_id,
        AuditAction.ACCOUNT_DEACTIVATED,
        lambda: client.lifecycle_disable(account.account_id, message=reason[:200] or None),
        AccountStatus.DEACTIVATED,
    )


def account_enable(
    *, account: Account, client: AtlassianClient, actor: Actor, reason: str, correlation_id: str = ""
) -> Account:
    """Re-enable a deactivated managed account."""
    _refuse_idp(account, "re-enable")
    return _lifecycle(
        account,
        client,
        actor,
        reason,
        correlation_id,
        AuditAction.ACCOUNT_ENABLED,
        lambda: client.lifecycle_enable(account.account_id),
        AccountStatus.ACTIVE,
        restored=True,
    )


def account_delete(
    *,
    account: Account,
    client: AtlassianClient,
    actor: Actor,
    reason: str,
    correlation_id: str = "",
    allow_org_admin: bool = False,
) -> Account:
    """Schedule deletion of a managed account; Atlassian keeps a 14-day grace to cancel it."""
    _refuse_org_admin(account, allow_org_admin, "delete")
    _refuse_unmanaged(account, "delete")
    _refuse_idp(account, "delete")
    return _lifecycle(
        account,
        client,
        actor,
        reason,
        correlation_id,
        AuditAction.ACCOUNT_DELETION_SCHEDULED,
        lambda: client.lifecycle_delete(account.account_id),
        AccountStatus.PENDING_DELETION,
    )


def account_cancel_delete(
    *, account: Account, client: AtlassianClient, actor: Actor, reason: str, correlation_id: str = ""
) -> Account:
    """Cancel a scheduled deletion inside the grace period; the account is active again."""
    _refuse_idp(account, "cancel the deletion of")
    return _lifecycle(
        account,
        client,
        actor,
        reason,
        correlation_id,
        AuditAction.ACCOUNT_DELETION_CANCELLED,
        lambda: client.lifecycle_cancel_delete(account.account_id),
        AccountStatus.ACTIVE,
        restored=True,
    )


def account_activate(
    *, account: Account, client: AtlassianClient, actor: Actor, reason: str, correlation_id: str = ""
) -> Account:
    """Whatever brings this account back: restore a suspension, enable a deactivation, cancel a deletion."""
    by_status: dict[str, Callable[..., Account]] = {
        AccountStatus.SUSPENDED: account_restore,
        AccountStatus.DEACTIVATED: account_enable,
        AccountStatus.PENDING_DELETION: account_cancel_delete,
    }
    service = by_status.get(account.status)
    if service is None:
        raise ServiceRefused(f"{account} is {account.get_status_display().lower()}; there is nothing to activate.")
    return service(account=account, client=client, actor=actor, reason=reason, correlation_id=correlation_id)
