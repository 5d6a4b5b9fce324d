"""Failed sign-ins and sign-in history in the admin; Portal admins lift lockouts here.

django-axes' own admins are switched off (``AXES_ENABLE_ADMIN = False``) and registered here
instead: read-only for everyone, and the only way to delete attempts is the audited "Unlock"
actions (permission ``axes.delete_accessattempt``, held by Portal admins; governance.roles).
"""

from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.contrib import admin, messages

from governance.audit.record import Actor
from governance.signin.lockouts import with_failures
from governance.signin.services import signin_unlock


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AccessAttempt)
class AccessAttemptAdmin(_ReadOnly):
    """One row per username, address and browser that failed to sign in recently."""

    list_display = ("attempt_time", "username", "ip_address", "failures_since_start", "locked_out", "user_agent")
    search_fields = ("username", "ip_address")
    ordering = ("-attempt_time",)
    fields = ("username", "ip_address", "failures_since_start", "locked_out", "attempt_time", "path_info", "user_agent")
    readonly_fields = fields
    actions = ["unlock_usernames", "unlock_addresses"]

    def get_queryset(self, request):
        return with_failures(super().get_queryset(request))

    def get_actions(self, request):
        # Deleting rows lifts lockouts: only through the audited actions below.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        return obj is None and super().has_delete_permission(request)

    @admin.display(description="locked out")
    def locked_out(self, obj) -> str:
        locked = []
        if obj.username_failures >= settings.PORTAL_LOGIN_FAILURE_LIMIT:
            locked.append("username")
        if obj.address_failures >= settings.PORTAL_LOGIN_FAILURE_LIMIT_PER_IP:
            locked.append("address")
        return " and ".join(locked) or "no"

    @admin.action(description="Unlock the selected usernames", permissions=["delete"])
    def unlock_usernames(self, request, queryset):
        usernames = sorted({u for u in queryset.values_list("username", flat=True) if u})
        signin_unlock(usernames=usernames, actor=Actor.from_request(request))
        self._report(request, "usernames", usernames)

    @admin.action(description="Unlock the selected addresses", permissions=["delete"])
    def unlock_addresses(self, request, queryset):
        addresses = sorted({a for a in queryset.values_list("ip_address", flat=True) if a})
        signin_unlock(addresses=addresses, actor=Actor.from_request(request))
        self._report(request, "addresses", addresses)

    def _report(self, request, kind: str, unlocked: list[str]) -> None:
        if unlocked:
            self.message_user(request, f"Unlocked {', '.join(unlocked)}.", messages.SUCCESS)
        else:
            self.message_user(request, f"The selected rows name no {kind}: nothing was unlocked.", messages.WARNING)


@admin.register(AccessLog)
class AccessLogAdmin(_ReadOnly):
    """Every successful sign-in, with its sign-out time."""

    list_display = ("attempt_time", "logout_time", "username", "ip_address", "user_agent")
    search_fields = ("username", "ip_address")
    ordering = ("-attempt_time",)
    fields = ("username", "ip_address", "attempt_time", "logout_time", "path_info", "user_agent")
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None):
        return False
