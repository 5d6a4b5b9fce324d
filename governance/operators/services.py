"""Creating and changing portal operators, each change one audit event.

The admin's Users page calls these; so may a command or a test. The rules of ``rules`` are checked
here, not only in the form, so no other caller can widen anyone's access either.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction

from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from governance.operators.rules import ROLE_NAMES, may_grant, may_manage


class OperatorRefused(PermissionDenied):
    """The change would give someone more than the person making it holds."""


def operator_snapshot(user) -> dict:
    """What the audit trail records about an operator (never the password or its hash)."""
    return {
        "username": user.get_username(),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "roles": sorted(user.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True)),
        "user_permissions": sorted(
            f"{app}.{codename}"
            for app, codename in user.user_permissions.values_list("content_type__app_label", "codename")
        ),
    }


def check_operator_change(*, by, user, roles, is_superuser: bool = False, user_permissions=None, is_active=True):
    """Raise ``OperatorRefused`` unless ``by`` may give ``user`` (as stored; unsaved when new) these
    roles and flags. A superuser may do anything but deactivate themselves; anyone else may change only
    an operator whose every permission they hold, give only roles whose every permission they hold, and
    never make a superuser or give user-level permissions."""
    if user.pk is not None and user.pk == by.pk and not is_active:
        raise OperatorRefused("You cannot deactivate yourself: ask another Portal admin.")
    if by.is_superuser:
        return
    if user.pk is not None and not may_manage(by, user):
        raise OperatorRefused(f"You may not change {user.get_username()}: they hold permissions you do not.")
    if is_superuser:
        raise OperatorRefused("Only a superuser can make someone a superuser.")
    if user_permissions is not None:
        raise OperatorRefused("Only a superuser can give permissions user by user; give a role instead.")
    refused = [group.name for group in roles if not may_grant(by, group)]
    if refused:
        raise OperatorRefused(f"You may not give the role {', '.join(refused)}: it holds permissions you do not.")


def _set_roles(user, roles) -> None:
    """Set the operator's portal roles to ``roles``; groups that are no portal role stay as they were."""
    user.groups.remove(*Group.objects.filter(name__in=ROLE_NAMES).exclude(pk__in=[g.pk for g in roles]))
    user.groups.add(*roles)


def operator_create(*, user, roles, by, actor: Actor, user_permissions=None):
    """Save ``user`` (unsaved, its password set or made unusable by the caller) as an active operator
    who can sign in to the admin, with ``roles`` (portal role groups).

    ``by`` is the portal user making the change (``actor`` says how it is recorded); only a superuser
    may pass ``user_permissions`` or a ``user`` marked superuser.
    """
    check_operator_change(
        by=by, user=user, roles=roles, is_superuser=user.is_superuser, user_permissions=user_permissions
    )
    user.is_staff = user.is_active = True
    user.full_clean(exclude=["password"])
    with transaction.atomic():
        user.save()
        _set_roles(user, roles)
        if user_permissions is not None:
            user.user_permissions.set(user_permissions)
        record_event(actor=actor, action=AuditAction.OPERATOR_CREATED, target=user, after=operator_snapshot(user))
    return user


def operator_update(
    *,
    user,
    by,
    actor: Actor,
    roles,
    email: str,
    first_name: str,
    last_name: str,
    is_active: bool,
    username: str | None = None,
    is_staff: bool | None = None,
    is_superuser: bool | None = None,
    user_permissions=None,
    reason: str = "",
):
    """Change an operator's details, roles and whether they may sign in (deactivating keeps the
    account and its history; their API tokens are revoked, see ``governance.api.signals``).

    ``is_staff``, ``is_superuser`` and ``user_permissions`` None leave them as they are; only a
    superuser may pass the last two. One event: ``operator.deactivated``, ``operator.reactivated``
    or ``operator.updated``.
    """
    stored = get_user_model().objects.get(pk=user.pk)
    check_operator_change(
        by=by,
        user=stored,
        roles=roles,
        is_superuser=bool(is_superuser) and not stored.is_superuser,
        user_permissions=user_permissions,
        is_active=is_active,
    )
    before = operator_snapshot(stored)
    stored.username = username if username is not None else stored.username
    stored.email, stored.first_name, stored.last_name, stored.is_active = email, first_name, last_name, is_active
    if is_staff is not None:
        stored.is_staff = is_staff
    if is_superuser is not None:
        stored.is_superuser = is_superuser
    stored.full_clean(exclude=["password"])
    with transaction.atomic():
        stored.save()
        _set_roles(stored, roles)
        if user_permissions is not None:
            stored.user_permissions.set(user_permissions)
        after = operator_snapshot(stored)
        if before == after:
            return stored
        if before["is_active"] and not is_active:
            action = AuditAction.OPERATOR_DEACTIVATED
        elif not before["is_active"] and is_active:
            action = AuditAction.OPERATOR_REACTIVATED
        else:
            action = AuditAction.OPERATOR_UPDATED
        changed = [key for key in after if before[key] != after[key]]
        record_event(
            actor=actor,
            action=action,
            target=stored,
            before={key: before[key] for key in changed},
            after={key: after[key] for key in changed},
            reason=reason,
        )
    return stored


def operator_password_changed(*, user, by, actor: Actor) -> None:
    """Record that ``by`` set or disabled ``user``'s password (the admin's own form wrote it)."""
    if not may_manage(by, user):
        raise OperatorRefused(f"You may not change {user.get_username()}'s password.")
    what = "set" if user.has_usable_password() else "disabled"
    record_event(actor=actor, action=AuditAction.OPERATOR_PASSWORD_CHANGED, target=user, after={"password": what})
