"""Who may manage which operator, and which roles they may hand out.

A non-superuser never gives more than they hold: they may grant a portal role only when they hold
every permission of it, and change an operator only when they hold every permission that operator
has (so a Help desk member could never touch a Portal admin, and no one but a superuser touches a
superuser). Superuser status and user-level permissions are a superuser's alone to give: the portal's
access model is its roles (``governance.roles``), and a permission given user by user would
be invisible in the Users page's role column.
"""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from governance.roles import AUDITORS, HELP_DESK, PORTAL_ADMINS, REVIEWERS

ROLE_NAMES = (PORTAL_ADMINS, HELP_DESK, AUDITORS, REVIEWERS)


def role_groups():
    """The portal's role groups, in the order of ``ROLE_NAMES``."""
    groups = {group.name: group for group in Group.objects.filter(name__in=ROLE_NAMES).prefetch_related("permissions")}
    return [groups[name] for name in ROLE_NAMES if name in groups]


def _permission_names(permissions) -> set[str]:
    return {f"{perm.content_type.app_label}.{perm.codename}" for perm in permissions}


def role_permissions(group: Group) -> set[str]:
    return _permission_names(group.permissions.select_related("content_type"))


def may_grant(actor, group: Group) -> bool:
    """Whether ``actor`` may give ``group`` (a role) to someone: they hold all of its permissions."""
    if actor.is_superuser:
        return True
    return role_permissions(group) <= actor.get_all_permissions()


def grantable_roles(actor) -> list[Group]:
    return [group for group in role_groups() if may_grant(actor, group)]


def may_manage(actor, user) -> bool:
    """Whether ``actor`` may change ``user``: a superuser may change anyone; anyone else only a
    non-superuser whose every permission they hold too (themselves included)."""
    if actor.is_superuser:
        return True
    if not actor.is_active or user.is_superuser:
        return False
    # get_all_permissions() is empty for an inactive user: read an inactive operator's own grants.
    held = _permission_names(_grants_of(user))
    return held <= actor.get_all_permissions()


def _grants_of(user):
    return Permission.objects.filter(Q(group__user=user) | Q(user=user)).distinct().select_related("content_type")
