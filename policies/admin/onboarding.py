"""Onboarding rules in the admin: rules saved through ``onboarding_rule_save``, a preview page (who
would get what: accounts first seen since the rule exists, or every existing account) from which
the rule is applied to existing accounts, and the queue of items a review-mode rule (or the cap)
left for a decision."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.clients import MissingCredentials, client_for
from governance.audit.record import Actor
from policies.admin.forms import GuardedActionsMixin, confirm_with_reason, single_organization
from policies.models import OnboardingItem, OnboardingRule, PolicyMode
from policies.models.onboarding import DECIDABLE_STATUSES, RULE_FIELDS
from policies.selectors.onboarding import SCOPES, onboarding_preview
from policies.services.onboarding import (
    OnboardingRefused,
    onboarding_item_approve,
    onboarding_item_reject,
    onboarding_rule_apply,
    onboarding_rule_save,
)

PREVIEW_ROWS = 500  # shown on the page; the counts cover every account
REVIEW_PERMISSION = "policies.review_onboardingitem"


class OnboardingRuleForm(forms.ModelForm):
    change_reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Reason")

    class Meta:
        model = OnboardingRule
        fields = RULE_FIELDS


@admin.register(OnboardingRule)
class OnboardingRuleAdmin(admin.ModelAdmin):
    form = OnboardingRuleForm
    list_display = ("name", "organization", "enabled", "mode", "email_pattern", "cap_per_run", "preview_link")
    list_filter = ("enabled", "mode", "organization")
    search_fields = ("name", "email_pattern")
    filter_horizontal = ("member_of", "add_groups")
    show_facets = admin.ShowFacets.NEVER
    fieldsets = (
        (None, {"fields": ("organization", "name", "description", "enabled", "mode")}),
        (
            "When the sync first sees an account that matches",
            {
                "fields": ("email_pattern", "directory_id", "claim_scope", "account_type", "member_of"),
                "description": "Every condition given must hold; an empty one matches everyone. An organization-"
                "wide \u201cnever act on\u201d exemption keeps a rule off the accounts it covers.",
            },
        ),
        ("Add it to these groups", {"fields": ("add_groups", "cap_per_run", "change_reason")}),
    )

    @admin.display(description="preview")
    def preview_link(self, rule: OnboardingRule) -> str:
        url = reverse("admin:policies_onboardingrule_preview", args=[rule.pk])
        return format_html(
            '<a href="{}">New accounts</a> · <a href="{}?scope=existing">Existing accounts</a>', url, url
        )

    def get_changeform_initial_data(self, request):
        return {**single_organization(), **super().get_changeform_initial_data(request)}

    def get_readonly_fields(self, request, obj=None):
        return ("mode",) if obj is None else ("organization",)  # a new rule starts in preview

    def save_model(self, request, obj, form, change):
        m2m = {name: form.cleaned_data[name] for name in ("member_of", "add_groups") if name in form.cleaned_data}
        onboarding_rule_save(
            rule=obj, actor=Actor.from_request(request), m2m=m2m, reason=form.cleaned_data.get("change_reason", "")
        )

    def save_related(self, request, form, formsets, change):
        pass  # the service set the groups, audited; form.save_m2m() would write them again, unaudited

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/preview/", view(self.preview_view), name="policies_onboardingrule_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request, object_id):
        """GET: who would get what. POST (scope existing): apply the rule to existing accounts, as the
        preview showed them (refused when the matching accounts changed since)."""
        rule = self.get_object(request, object_id)
        if rule is None:
            raise Http404("No such rule.")
        if not self.has_view_permission(request, rule):
            raise PermissionDenied
        scope = request.GET.get("scope", "new")
        if scope not in dict(SCOPES):
            scope = "new"
        if request.method == "POST":
            if not self.has_change_permission(request, rule):
                raise PermissionDenied
            return self._apply_existing(request, rule)
        preview = onboarding_preview(rule, timezone.now(), scope=scope)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview: {rule.name}",
            "opts": self.opts,
            "original": rule,
            "rule": rule,
            "preview": preview,
            "rows": [(m, preview.names(m)) for m in preview.matches[:PREVIEW_ROWS]],
            "scope": scope,
            "scopes": SCOPES,
            "change_url": reverse("admin:policies_onboardingrule_change", args=[rule.pk]),
            "can_apply": scope == "existing"
            and rule.mode != PolicyMode.PREVIEW
            and bool(preview.matches)
            and self.has_change_permission(request, rule),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/policies/onboardingrule/preview.html", context)

    def _apply_existing(self, request, rule):
        back = reverse("admin:policies_onboardingrule_preview", args=[rule.pk]) + "?scope=existing"
        try:
            expected = int(request.POST.get("expected", ""))
        except ValueError:
            raise PermissionDenied from None
        if rule.mode == PolicyMode.PREVIEW:
            messages.error(request, "The rule is in preview: switch it to review or enforce first.")
            return HttpResponseRedirect(back)
        try:
            with client_for(rule.organization) as client:
                counts = onboarding_rule_apply(
                    rule=rule,
                    client=client,
                    actor=Actor.from_request(request),
                    now=timezone.now(),
                    scope="existing",
                    expected=expected,
                )
        except (OnboardingRefused, MissingCredentials) as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(back)
        summary = ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in counts.items()) or "nothing to do"
        messages.success(request, f"Applied to existing accounts: {summary}.")
        return HttpResponseRedirect(back)


@admin.register(OnboardingItem)
class OnboardingItemAdmin(GuardedActionsMixin, admin.ModelAdmin):
    """The onboarding queue: items of review-mode rules, and accounts a run's cap left out."""

    list_display = ("account", "rule", "status", "group_list", "created_at", "decided_by", "error")
    list_filter = ("status", "rule")
    list_select_related = ("account", "rule", "decided_by")
    search_fields = ("account__name", "account__email", "rule__name")
    ordering = ("-created_at", "-id")
    show_facets = admin.ShowFacets.NEVER
    actions = ["approve_selected", "reject_selected"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm(REVIEW_PERMISSION)

    @admin.display(description="groups")
    def group_list(self, item: OnboardingItem) -> str:
        from accounts.models import Group

        return ", ".join(Group.objects.filter(pk__in=item.groups).order_by("name").values_list("name", flat=True))

    @admin.action(description="Approve selected (add to the groups now)…", permissions=["review"])
    def approve_selected(self, request, queryset):
        reason, response = confirm_with_reason(
            self,
            request,
            queryset,
            title="Approve onboarding",
            button="Approve and add",
            intro="Each account is added now to the rule's groups it is still not in. Only items awaiting a "
            "decision are considered.",
        )
        if response is not None:
            return response
        actor = Actor.from_request(request)
        done = failed = 0
        refused: list[str] = []
        for item in queryset.filter(status__in=DECIDABLE_STATUSES).select_related("rule__organization", "account"):
            try:
                status = onboarding_item_approve(item=item, actor=actor, reason=reason or "")
            except (OnboardingRefused, MissingCredentials) as exc:
                refused.append(f"{item.account} ({exc})")
                continue
            done, failed = (done + 1, failed) if status == "done" else (done, failed + 1)
        messages.info(request, f"Added: {done}. Failed: {failed}.")
        if refused:
            messages.warning(request, "Not approved: " + "; ".join(refused))
        return None

    @admin.action(description="Reject selected (never add)…", permissions=["review"])
    def reject_selected(self, request, queryset):
        reason, response = confirm_with_reason(
            self,
            request,
            queryset,
            title="Reject onboarding",
            button="Reject",
            intro="Nothing is done to these accounts. Only items awaiting a decision are considered.",
        )
        if response is not None:
            return response
        actor = Actor.from_request(request)
        rejected = 0
        for item in queryset.filter(status__in=DECIDABLE_STATUSES).select_related("rule__organization"):
            try:
                onboarding_item_reject(item=item, actor=actor, reason=reason or "")
            except OnboardingRefused:
                continue
            rejected += 1
        messages.info(request, f"Rejected: {rejected}.")
        return None
