"""Access review campaigns in the admin: start one over a scope (through ``campaign_start``), close
it or raise its cap (with a reason); portal admins name each group's review owner. Everything else
is read-only, and the evidence is a CSV. The items (decided by their reviewers, given back by
Portal admins and the help desk): review_items.py."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.clients import MissingCredentials, client_for
from governance.audit.record import Actor
from governance.csvexport import streaming_csv_response
from policies.admin.forms import (
    GuardedActionsMixin,
    ReasonForm,
    confirm_with_form,
    confirm_with_reason,
    field_names,
    names,
    single_organization,
)
from policies.models import CampaignStatus, GroupReviewOwner, ReviewCampaign
from policies.models.reviews import CAMPAIGN_START_FIELDS
from policies.selectors.reviews import EVIDENCE_HEADER, evidence_rows, reviewer_candidates, with_progress
from policies.services.reviews import (
    ReviewRefused,
    campaign_check,
    campaign_close,
    campaign_raise_cap,
    campaign_start,
    evidence_exported,
    group_owner_remove,
    group_owner_set,
)


# -- campaigns -----------------------------------------------------------------------------------
class CampaignStartForm(forms.ModelForm):
    class Meta:
        model = ReviewCampaign
        fields = CAMPAIGN_START_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only people who may decide: anyone else's items would stay undecided.
        for name in ("reviewer", "fallback_reviewer"):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = reviewer_candidates()
        self.fields["fallback_reviewer"].help_text = "Reviews the groups that have no review owner."
        self.fields["remind_days_before"].help_text = "Reviewers with undecided items are reminded this long before."
        self.fields["scope"].help_text = (
            "What is reviewed, and what revoking does at close: groups — leave the group; products — lose that "
            "product's access (its licence groups and direct roles); external accounts — suspended; organization "
            "admins — handed to a person to do by hand in Atlassian (the portal does not change admin roles)."
        )

    def clean(self):
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            campaign_check(
                organization=cleaned["organization"],
                name=cleaned.get("name", ""),
                groups=cleaned.get("groups") or [],
                deadline=cleaned["deadline"],
                reviewer=cleaned.get("reviewer"),
                fallback_reviewer=cleaned.get("fallback_reviewer"),
                scope=cleaned["scope"],
                products=cleaned.get("products") or [],
            )
        except ReviewRefused as exc:
            raise ValidationError(str(exc)) from None
        return cleaned


class RaiseCapForm(ReasonForm):
    max_revocations = forms.IntegerField(
        min_value=1,
        max_value=1_000_000,
        label="New cap",
        help_text="Closing may then remove up to this many memberships.",
    )

    field_order = ("max_revocations", "reason")


@admin.register(ReviewCampaign)
class ReviewCampaignAdmin(GuardedActionsMixin, admin.ModelAdmin):
    form = CampaignStartForm
    list_display = ("name", "organization", "scope", "status", "deadline", "progress", "undecided", "max_revocations")
    list_filter = ("status", "scope", "organization")
    list_select_related = ("organization",)
    search_fields = ("name",)
    autocomplete_fields = ("groups",)
    ordering = ("-created_at", "-id")
    show_facets = admin.ShowFacets.NEVER
    actions = ["close_selected", "raise_cap_selected"]
    change_form_template = "admin/policies/reviewcampaign/change_form.html"
    add_fieldsets = (
        (None, {"fields": ("organization", "name", "scope", "groups", "products", "external_only")}),
        ("Reviewers", {"fields": ("reviewer", "fallback_reviewer")}),
        ("Deadline", {"fields": ("deadline", "remind_days_before", "undecided", "max_revocations")}),
    )
    view_fieldsets = (
        (
            None,
            {
                "fields": (
                    "organization",
                    "name",
                    "scope",
                    "groups",
                    "products",
                    "external_only",
                    "status",
                    "status_note",
                )
            },
        ),
        ("Reviewers", {"fields": ("reviewer", "fallback_reviewer", "progress", "items_link")}),
        (
            "Deadline",
            {
                "fields": (
                    "deadline",
                    "remind_days_before",
                    "reminded_at",
                    "due_notified_at",
                    "overdue_notified_at",
                    "undecided",
                    "max_revocations",
                )
            },
        ),
        ("Record", {"fields": ("created_by", "created_at", "closed_at")}),
    )

    def get_queryset(self, request):
        return with_progress(super().get_queryset(request))

    def get_changeform_initial_data(self, request):
        return {**single_organization(), **super().get_changeform_initial_data(request)}

    # -- read-only once started: campaigns change through their actions ------------------------------
    def has_change_permission(self, request, obj=None):
        # Without an object this is the permission the Close and Raise cap actions ask for.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # the campaign and its items are the evidence

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.view_fieldsets

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else field_names(self.view_fieldsets)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm  # every field is read-only: no start-form checks
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:  # not reached: has_change_permission refuses the POST first
            raise PermissionDenied
        data = form.cleaned_data
        campaign = campaign_start(
            organization=data["organization"],
            name=data["name"],
            groups=data["groups"],
            deadline=data["deadline"],
            actor=Actor.from_request(request),
            reviewer=data.get("reviewer"),
            fallback_reviewer=data.get("fallback_reviewer"),
            external_only=data["external_only"],
            undecided=data["undecided"],
            max_revocations=data["max_revocations"],
            remind_days_before=data["remind_days_before"],
            scope=data["scope"],
            products=data.get("products") or [],
        )
        # The admin goes on with ``obj`` (history entry, redirect): make it the started campaign.
        vars(obj).update(vars(campaign))

    def save_related(self, request, form, formsets, change):
        pass  # campaign_start set the groups and products (in its audit event); form.save_m2m() would again

    @admin.display(description="decided")
    def progress(self, obj):
        total = getattr(obj, "n_items", None)
        if total is None:
            total, decided = obj.items.count(), obj.items.exclude(decision="").count()
        else:
            decided = obj.n_decided
        return f"{decided} of {total}"

    @admin.display(description="items")
    def items_link(self, obj):
        url = reverse("admin:policies_reviewitem_changelist") + f"?campaign__id__exact={obj.pk}"
        return format_html('<a href="{}">Items of this campaign</a>', url)

    # -- page: buttons and the evidence ------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/evidence.csv", view(self.evidence_csv), name="policies_reviewcampaign_evidence"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            actions = self.get_actions(request)
            context.update(
                changelist_url=reverse("admin:policies_reviewcampaign_changelist"),
                can_close="close_selected" in actions and obj.status != CampaignStatus.CLOSED,
                can_raise_cap="raise_cap_selected" in actions and obj.status == CampaignStatus.HALTED,
                evidence_url=reverse("admin:policies_reviewcampaign_evidence", args=[obj.pk]),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def evidence_csv(self, request, object_id):
        """Every item: reviewer, decision, time, reason and the action carried out (audited)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None:
            raise Http404("No such access review.")
        evidence_exported(campaign=campaign, actor=Actor.from_request(request), via="admin")
        return streaming_csv_response(
            f"access-review-{campaign.pk}-evidence.csv", EVIDENCE_HEADER, evidence_rows(campaign)
        )

    # -- actions -----------------------------------------------------------------------------------
    @admin.action(description="Close selected reviews (take revoked access away)…", permissions=["change"])
    def close_selected(self, request, queryset):
        reason, response = confirm_with_reason(
            self,
            request,
            queryset,
            title="Close access reviews",
            button="Close",
            intro="Revoked access (and undecided, where the review says so) is removed in Atlassian now; "
            "the rest are kept. A review with more removals than its cap halts instead.",
        )
        if response is not None:
            return response
        actor = Actor.from_request(request)
        closed, halted, failed = [], [], []
        for campaign in queryset.select_related("organization").order_by("pk"):
            if campaign.status == CampaignStatus.CLOSED:
                continue
            try:
                with client_for(campaign.organization) as client:
                    status = campaign_close(campaign=campaign, client=client, actor=actor, reason=reason)
            except MissingCredentials as exc:
                failed.append(f"{campaign} ({exc})")
                continue
            if status == CampaignStatus.CLOSED:
                closed.append(str(campaign))
            else:
                halted.append(f"{campaign} ({campaign.status_note})")
        if closed:
            messages.success(request, f"Closed {len(closed)}: {names(closed)}.")
        if halted:
            messages.warning(request, f"Halted by the cap: {names(halted)}")
        if failed:
            messages.error(request, f"Not closed: {names(failed)}")
        return None

    @admin.action(description="Raise the cap of selected reviews…", permissions=["change"])
    def raise_cap_selected(self, request, queryset):
        data, response = confirm_with_form(
            self,
            request,
            queryset,
            form_class=RaiseCapForm,
            title="Raise the cap of access reviews",
            button="Raise the cap",
            intro="Closing refuses to remove more memberships than the cap. Check the revocations first; "
            "then close the review again.",
        )
        if response is not None:
            return response
        actor = Actor.from_request(request)
        raised = []
        for campaign in queryset.select_related("organization").exclude(status=CampaignStatus.CLOSED):
            campaign_raise_cap(
                campaign=campaign, max_revocations=data["max_revocations"], actor=actor, reason=data["reason"]
            )
            raised.append(str(campaign))
        if raised:
            messages.success(request, f"Cap set to {data['max_revocations']}: {names(raised)}.")
        else:
            messages.warning(request, "Nothing changed: closed reviews keep their cap.")
        return None


# -- group owners ----------------------------------------------------------------------------------
class GroupReviewOwnerForm(forms.ModelForm):
    class Meta:
        model = GroupReviewOwner
        fields = ("group", "user")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get("user")
        if isinstance(field, forms.ModelChoiceField):
            field.queryset = reviewer_candidates()
            field.label = "Reviewer"
            field.help_text = "Reviews this group's members when a campaign names no reviewer."


@admin.register(GroupReviewOwner)
class GroupReviewOwnerAdmin(admin.ModelAdmin):
    form = GroupReviewOwnerForm
    list_display = ("group", "user")
    list_select_related = ("group", "user")
    search_fields = ("group__name", "user__username", "user__email")
    autocomplete_fields = ("group",)
    show_facets = admin.ShowFacets.NEVER

    def get_readonly_fields(self, request, obj=None):
        return ("group",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        owner = group_owner_set(group=obj.group, user=obj.user, actor=Actor.from_request(request))
        vars(obj).update(vars(owner))

    def delete_model(self, request, obj):
        group_owner_remove(owner=obj, actor=Actor.from_request(request))

    def delete_queryset(self, request, queryset):
        actor = Actor.from_request(request)
        for owner in queryset.select_related("group__organization", "user"):
            group_owner_remove(owner=owner, actor=actor)
