"""Access review items in the admin: reviewers see and decide their own (keep or revoke, with a
reason, one by one or several at once); Portal admins and the help desk give back what a closed
review removed (with a reason). Read-only otherwise. The campaigns: reviews.py."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import Http404
from django.urls import reverse

from accounts.clients import MissingCredentials, client_for
from governance.admin_tools import ReadOnlyAdminMixin
from governance.audit.record import Actor
from policies.admin.forms import GuardedActionsMixin, confirm_with_reason, field_names, names
from policies.models import CampaignStatus, GiveBackStatus, ItemOutcome, ReviewCampaign, ReviewDecision, ReviewItem
from policies.services.review_give_back import item_give_back_refuse
from policies.services.review_items import RESTORE_PERMISSION, item_restore, items_decide, items_of
from policies.services.reviews import DECIDE_PERMISSION, ReviewRefused


class CampaignFilter(admin.SimpleListFilter):
    """The reviewer's email link names the campaign so; only campaigns with items this user sees."""

    title = "access review"
    parameter_name = "campaign__id__exact"

    def lookups(self, request, model_admin):
        seen = items_of(request.user).values("campaign_id")
        return [(str(c.pk), c.name) for c in ReviewCampaign.objects.filter(pk__in=seen).order_by("-created_at")]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(campaign_id=int(value))
        return queryset


class DecisionFilter(admin.SimpleListFilter):
    title = "decision"
    parameter_name = "decision"

    def lookups(self, request, model_admin):
        return [("undecided", "Undecided"), *ReviewDecision.choices]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "undecided":
            return queryset.filter(decision="")
        if value in ReviewDecision.values:
            return queryset.filter(decision=value)
        return queryset


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnlyAdminMixin, GuardedActionsMixin, admin.ModelAdmin):
    list_display = ("account", "access", "campaign", "reviewer", "decision", "reason", "decided_at", "outcome")
    list_filter = (CampaignFilter, DecisionFilter, "outcome", "give_back_status")
    list_select_related = ("account", "group", "product", "campaign", "reviewer")
    search_fields = ("account__email", "account__name", "group__name", "product__name")
    search_help_text = "Email or name of the account, or the group's or product's name."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["keep_selected", "revoke_selected", "restore_selected", "refuse_give_back_selected"]
    change_form_template = "admin/policies/reviewitem/change_form.html"
    fieldsets = (
        (None, {"fields": ("campaign", "account", "access", "reviewer")}),
        ("Decision", {"fields": ("decision", "reason", "decided_at")}),
        ("At close", {"fields": ("outcome", "outcome_detail", "acted_at", "removed")}),
        (
            "Asked back by the person",
            {
                "fields": (
                    "give_back_status",
                    "give_back_justification",
                    "give_back_requested_at",
                    "give_back_decided_at",
                    "give_back_refusal",
                )
            },
        ),
    )
    readonly_fields = field_names(fieldsets)

    def get_queryset(self, request):
        # A reviewer's own items only (items_of): the list, the item pages and the actions alike.
        return items_of(request.user)

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm(DECIDE_PERMISSION)

    def has_restore_permission(self, request) -> bool:
        return request.user.has_perm(RESTORE_PERMISSION)

    @admin.display(description="access reviewed")
    def access(self, obj):
        return obj.access

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Another reviewer's item is no item at all here (not Django's "perhaps it was deleted" redirect).
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404("No such review item.")
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["changelist_url"] = reverse("admin:policies_reviewitem_changelist")
            context["can_decide"] = (
                self.has_decide_permission(request)
                and obj.reviewer_id == request.user.pk
                and obj.campaign.status == CampaignStatus.OPEN
            )
            context["can_restore"] = self.has_restore_permission(request) and obj.outcome == ItemOutcome.REVOKED
            context["can_refuse"] = context["can_restore"] and obj.give_back_status == GiveBackStatus.REQUESTED
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.action(description="Keep selected (access stays)…", permissions=["decide"])
    def keep_selected(self, request, queryset):
        return self._decide(request, queryset, ReviewDecision.KEEP)

    @admin.action(description="Revoke selected (access removed at close)…", permissions=["decide"])
    def revoke_selected(self, request, queryset):
        return self._decide(request, queryset, ReviewDecision.REVOKE)

    def _decide(self, request, queryset, decision: str):
        keep = decision == ReviewDecision.KEEP
        reason, response = confirm_with_reason(
            self,
            request,
            queryset,
            title="Keep access" if keep else "Revoke access",
            button="Keep" if keep else "Revoke",
            intro="Access stays after the review."
            if keep
            else "The access is removed when the review closes (an organization admin's role is handed to a person "
            "to remove by hand). You may change your mind until then.",
        )
        if response is not None:
            return response
        own = list(queryset.filter(reviewer=request.user, campaign__status=CampaignStatus.OPEN))
        skipped = queryset.count() - len(own)
        try:
            done = items_decide(
                items=own, decision=decision, reason=reason, user=request.user, actor=Actor.from_request(request)
            )
        except ReviewRefused as exc:
            messages.error(request, f"Not decided: {exc}")
            return None
        if done:
            messages.success(request, f"{'Kept' if keep else 'Revoked'}: {done} — {names([str(i) for i in own])}.")
        if skipped:
            messages.warning(request, f"Left alone: {skipped} (not yours, or their review is no longer open).")
        return None

    @admin.action(description="Give back what the review removed…", permissions=["restore"])
    def restore_selected(self, request, queryset):
        reason, response = confirm_with_reason(
            self,
            request,
            queryset,
            title="Give back what an access review removed",
            button="Give back",
            intro="Each item gets back exactly what closing its review took in Atlassian: the group membership, "
            "the product's groups and roles, or the suspension lifted. Items not removed are left alone.",
        )
        if response is not None:
            return response
        actor = Actor.from_request(request)
        done, failed = [], []
        revoked = queryset.filter(outcome=ItemOutcome.REVOKED).select_related("campaign__organization")
        skipped = queryset.count() - revoked.count()
        for item in revoked.order_by("pk"):
            try:
                with client_for(item.campaign.organization) as client:
                    item_restore(item=item, client=client, actor=actor, reason=reason)
            except (ReviewRefused, MissingCredentials) as exc:
                failed.append(f"{item} ({exc})")
                continue
            done.append(str(item))
        if done:
            messages.success(request, f"Given back: {len(done)} — {names(done)}.")
        if failed:
            messages.error(request, f"Not given back: {names(failed)}")
        if skipped:
            messages.warning(request, f"Left alone: {skipped} (their access was not removed by the review).")
        return None

    @admin.action(description="Refuse the person's request to give it back…", permissions=["restore"])
    def refuse_give_back_selected(self, request, queryset):
        reason, response = confirm_with_reason(
            self,
            request,
            queryset,
            title="Refuse the request to give access back",
            button="Refuse the request",
            intro="The access stays removed. The reason is recorded and emailed to the person. Items nobody asked "
            "back are left alone.",
        )
        if response is not None:
            return response
        actor = Actor.from_request(request)
        done, skipped = [], []
        for item in queryset.select_related("account", "group", "product", "campaign").order_by("pk"):
            try:
                item_give_back_refuse(item=item, actor=actor, reason=reason)
            except ReviewRefused:
                skipped.append(str(item))
                continue
            done.append(str(item))
        if done:
            messages.success(request, f"Refused: {len(done)} — {names(done)}.")
        if skipped:
            messages.warning(request, f"Left alone (nobody waiting for an answer): {names(skipped)}.")
        return None
