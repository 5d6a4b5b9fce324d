"""The four portal roles and the model permissions each holds.

Applied by a data migration for fresh installs and again after every ``migrate`` (a
post_migrate receiver), so models added by later migrations get their permissions too.
Auditors can view everything and change nothing.

No role may add, change or delete anything of django-q2 (schedules, queued tasks, results): a
schedule names a function the cluster calls, so that would be running code (DESIGN.md 5.13).
Admins and auditors see the task queue read-only; cadence is changed where it belongs
(SYNC_SCHEDULE_CRON, a policy's cron). Only superusers, who are no portal role, edit schedules.
"""

from dataclasses import dataclass

PORTAL_ADMINS = "Portal admins"
HELP_DESK = "Help desk"
AUDITORS = "Auditors"
# Decide the access review items assigned to them, and see nothing else (policies.reviews).
REVIEWERS = "Reviewers"


@dataclass(frozen=True)
class PortalApp:
    """What the roles hold of one app's models: admins and auditors view them all; ``help_desk``
    also gives the help desk every view, ``admin_writes`` gives admins every add, change and delete;
    ``help_desk_extra`` names further codenames (Meta.permissions) the help desk holds, and
    ``reviewer_perms`` the only codenames the Reviewers role holds of this app."""

    help_desk: bool = False
    admin_writes: bool = False
    help_desk_extra: tuple[str, ...] = ()
    reviewer_perms: tuple[str, ...] = ()


# The portal's apps by label. This app's own (audit events, runs, API tokens) is here; the apps
# above it register theirs from their AppConfig.ready (register_portal_app), since this module
# may not know them.
_PORTAL_APPS: dict[str, PortalApp] = {"governance": PortalApp()}
# axes: failed sign-ins (AccessAttempt) and sign-in history (AccessLog), governance.signin.
_READ_ALSO = ("django_q", "auth", "axes")  # view permissions only, for admins and auditors

# Extra (non-CRUD) permission codenames admins hold, by app.
_ADMIN_EXTRA = {
    # API tokens are created and revoked by portal admins (governance.api.tokens checks that a
    # token never carries more permissions than its creator holds).
    "governance": [
        "add_apitoken",
        "change_apitoken",
        # Webhook subscriptions (governance.notifications); their delivery log stays read-only.
        "add_webhooksubscription",
        "change_webhooksubscription",
        "delete_webhooksubscription",
    ],
    # Lifting a sign-in lockout deletes its attempt rows (the admin's audited "Unlock" actions).
    "axes": ["delete_accessattempt"],
    # Operators: add and change (deactivate) on the Users page, never delete, and only within what
    # the admin holds (governance.operators.rules: no superusers, no user-level permissions).
    "auth": ["add_user", "change_user"],
}
# Apps of which no role gets anything but view, whatever the rules below or the extras say.
_VIEW_ONLY = ("django_q",)


def register_portal_app(
    app_label: str,
    *,
    help_desk: bool = False,
    admin_writes: bool = False,
    help_desk_extra: tuple[str, ...] = (),
    reviewer_perms: tuple[str, ...] = (),
) -> None:
    """Give the roles ``app_label``'s permissions (see :class:`PortalApp`). Applied at the next
    ``migrate`` (and by the roles migration on a fresh install): call it from ``AppConfig.ready``."""
    _PORTAL_APPS[app_label] = PortalApp(help_desk, admin_writes, tuple(help_desk_extra), tuple(reviewer_perms))


def role_permissions(permissions) -> dict[str, set[int]]:
    """Map each role to the ids of the permissions it should hold, from ``(id, app_label, codename)`` rows."""
    roles: dict[str, set[int]] = {PORTAL_ADMINS: set(), HELP_DESK: set(), AUDITORS: set(), REVIEWERS: set()}
    for perm_id, app_label, codename in permissions:
        is_view = codename.startswith("view_")
        if app_label in _VIEW_ONLY and not is_view:
            continue
        app = _PORTAL_APPS.get(app_label)
        if is_view and (app is not None or app_label in _READ_ALSO):
            roles[AUDITORS].add(perm_id)
            roles[PORTAL_ADMINS].add(perm_id)
        if app is not None and app.help_desk and is_view:
            roles[HELP_DESK].add(perm_id)
        # Add/change/delete only where the app registered admin_writes: never the audit trail
        # or run records of this app (its API-token rights are the named extras below).
        if app is not None and app.admin_writes and not is_view:
            roles[PORTAL_ADMINS].add(perm_id)
        if app is not None and codename in app.help_desk_extra:
            roles[HELP_DESK].add(perm_id)
        if app is not None and codename in app.reviewer_perms:
            roles[REVIEWERS].add(perm_id)
        if codename in _ADMIN_EXTRA.get(app_label, []):
            roles[PORTAL_ADMINS].add(perm_id)
    return roles


def ensure_portal_roles(group_model, permission_model) -> None:
    """Create the role groups and set exactly their permissions (idempotent)."""
    rows = permission_model.objects.values_list("id", "content_type__app_label", "codename")
    for role, perm_ids in role_permissions(rows).items():
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.set(perm_ids)


def sync_roles_after_migrate(sender, using="default", **kwargs):
    from django.contrib.auth.models import Group, Permission

    ensure_portal_roles(Group.objects.db_manager(using).model, Permission)
