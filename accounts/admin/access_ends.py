"""Access given until a date: the list the help desk works from (extend, decline an extension,
give back what ended). Every change goes through accounts/services/access_ends.py."""

from datetime import timedelta

from django.contrib import admin, messages
from django.utils import timezone

from accounts.clients import client_for
from accounts.models import MembershipEnd
from accounts.services.access_ends import (
    EndRefused,
    membership_end_extend,
    membership_end_extension_reject,
    membership_end_restore,
)
from accounts.services.errors import ServiceRefused
from governance.admin_tools import ReadOnlyAdminMixin
from governance.atlassian.client import AtlassianClient
from governance.atlassian.errors import AtlassianError
from governance.audit.record import Actor

EXTEND_DAYS = 30


@admin.register(MembershipEnd)
class MembershipEndAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("account", "group", "expires_at", "status", "extension_status", "warned_days", "granted_by_name")
    list_filter = ("status", "extension_status")
    list_select_related = ("account", "group")
    search_fields = ("account__name", "account__email", "group__name")
    ordering = ("expires_at", "id")
    actions = ["extend", "reject_extension", "give_back"]
    raw_id_fields = ("account", "group")

    def has_decide_permission(self, request):
        return request.user.has_perm("accounts.decide_membershipend")

    def _each(self, request, queryset, apply, done_word: str) -> None:
        done, refused = [], []
        for end in queryset.select_related("account__organization", "group"):
            try:
                apply(end)
            except (EndRefused, ServiceRefused, AtlassianError) as exc:
                refused.append(f"{end} ({exc})")
            else:
                done.append(str(end))
        if done:
            messages.success(request, f"{done_word}: {len(done)} — {'; '.join(done[:20])}.")
        if refused:
            messages.error(request, f"Not done: {len(refused)} — {'; '.join(refused[:20])}.")

    @admin.action(description=f"Extend selected by {EXTEND_DAYS} days", permissions=["decide"])
    def extend(self, request, queryset):
        actor = Actor.from_request(request)

        def apply(end):
            membership_end_extend(
                end=end,
                expires_at=max(end.expires_at, timezone.now()) + timedelta(days=EXTEND_DAYS),
                actor=actor,
                reason=f"Extended by {EXTEND_DAYS} days in the admin"
                + (f" on request: {end.extension_justification[:200]}" if end.extension_justification else ""),
            )

        self._each(request, queryset, apply, "Extended")

    @admin.action(description="Decline the extension requests of selected", permissions=["decide"])
    def reject_extension(self, request, queryset):
        actor = Actor.from_request(request)
        reason = "Declined in the admin: the access ends on its date."
        self._each(
            request,
            queryset,
            lambda end: membership_end_extension_reject(end=end, actor=actor, reason=reason),
            "Declined",
        )

    @admin.action(description="Give back selected (ended) memberships", permissions=["decide"])
    def give_back(self, request, queryset):
        actor = Actor.from_request(request)
        clients: dict[int, AtlassianClient] = {}

        def apply(end):
            organization = end.account.organization
            if organization.pk not in clients:
                clients[organization.pk] = client_for(organization)
            membership_end_restore(
                end=end, client=clients[organization.pk], actor=actor, reason="Given back in the admin"
            )

        try:
            self._each(request, queryset, apply, "Given back")
        finally:
            for client in clients.values():
                client.close()
