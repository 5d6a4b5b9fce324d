"""The policy admin: editing through ``policy_save``, the preview page and its CSV, the email
preview, and "Run now"."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from accounts.clients import MissingCredentials
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from governance.csp import allow_inline_styles
from governance.csvexport import streaming_csv_response
from governance.runs.models import RunStatus, RunTrigger
from policies import run_status
from policies.admin.forms import PLACEHOLDER_HELP, InactivityPolicyForm, single_organization
from policies.admin.run_now import confirm_view, needs_confirmation
from policies.models import InactivityPolicy, PolicyMode, Trigger
from policies.selectors.preview import CSV_HEADER, SHOW_CHOICES, email_previews, policy_preview, sample_enforcement
from policies.services.policies import policy_delete, policy_save
from policies.services.runs import policy_run

PREVIEW_PER_PAGE = 100
EXTERNAL_ACCOUNTS_HELP = (
    "External accounts (not claimed by your organization) can only be suspended or have product access "
    "removed: deactivate and delete need managed accounts, and a policy with those actions leaves "
    "external accounts alone."
)


def _when(moment) -> str:
    return date_format(timezone.localtime(moment), "Y-m-d H:i") if moment else ""


@admin.register(InactivityPolicy)
class InactivityPolicyAdmin(admin.ModelAdmin):
    form = InactivityPolicyForm
    list_display = (
        "name",
        "organization",
        "enabled",
        "mode",
        "trigger_summary",
        "action",
        "warning_days",
        "last_run",
        "next_run",
        "preview",
    )
    list_filter = ("enabled", "mode", "action", "organization")
    list_select_related = ("organization",)
    search_fields = ("name",)  # also feeds the policy box of the exemption form
    ordering = ("name", "id")
    show_facets = admin.ShowFacets.NEVER
    actions = None  # no bulk delete: each deletion goes through delete_model and is audited
    autocomplete_fields = ("products", "include_groups", "exclude_groups")
    change_form_template = "admin/policies/inactivitypolicy/change_form.html"
    fieldsets = (
        (None, {"fields": ("name", "description", "organization", "enabled", "mode")}),
        (
            "Scope",
            {
                "fields": (
                    "products",
                    "include_groups",
                    "exclude_groups",
                    "claim_scope",
                    "include_org_admins",
                    "include_app_accounts",
                ),
                "description": "Who the policy looks at. Exemptions (their own list) always win.",
            },
        ),
        ("Trigger", {"fields": ("trigger", "trigger_days", "trigger_state")}),
        ("Action", {"fields": ("action",)}),  # the action field's own help says what external accounts allow
        ("Warnings", {"fields": ("warning_days",)}),
        (
            "Safety",
            {
                "fields": ("cap_absolute", "cap_percent", "schedule_cron"),
                "description": "A run that would act on more accounts than the smaller cap halts before acting "
                "and tells the portal admins.",
            },
        ),
        ("Restoration", {"fields": ("self_service_restore", "restore_returning", "justification_required")}),
        (
            "Emails",
            {
                "fields": ("warning_subject", "warning_body", "action_subject", "action_body"),
                "description": PLACEHOLDER_HELP + " The saved templates are previewed at the bottom of this page.",
            },
        ),
        ("Change", {"fields": ("change_reason",)}),
    )

    # -- permissions --------------------------------------------------------------------------------
    def has_delete_permission(self, request, obj=None):
        # A policy that has made decisions stays: its enforcements, runs and restores refer to it.
        if obj is not None and obj.enforcements.exists():
            return False
        return super().has_delete_permission(request, obj)

    def has_run_permission(self, request) -> bool:
        return request.user.has_perm("policies.run_policy")

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        return {**single_organization(), **initial}

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("mode",)  # a new policy always starts in preview (DESIGN.md 5.4)
        return ("organization",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "action" in form.base_fields:
            form.base_fields["action"].help_text = EXTERNAL_ACCOUNTS_HELP
        return form

    def get_queryset(self, request):
        return run_status.with_run_status(super().get_queryset(request))

    # -- list ---------------------------------------------------------------------------------------
    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, obj):
        if obj.last_run_pk is None:
            return "never"
        url = reverse("admin:policies_policyrun_change", args=[obj.last_run_pk])
        return format_html(
            '<a href="{}">{}</a> {}{}',
            url,
            _when(obj.last_run_at),
            run_status.status_label(obj.last_run_status).lower(),
            mark_safe(' <span class="dry-run-badge">dry run</span>') if obj.last_run_dry else "",
        )

    @admin.display(description="next run")
    def next_run(self, obj):
        upcoming = run_status.next_run(obj, timezone.now())
        if upcoming.at is None:
            return upcoming.note
        return format_html(
            '<span title="{}">{}</span>{}',
            obj.schedule_cron,
            _when(upcoming.at),
            f" ({upcoming.note})" if upcoming.note else "",
        )

    @admin.display(description="trigger")
    def trigger_summary(self, obj):
        if obj.trigger == Trigger.IN_STATE:
            return f"{obj.trigger_days} days {obj.trigger_state or '?'}"
        if obj.trigger == Trigger.NEVER_ACTIVE:
            return f"never active {obj.trigger_days} days after joining"
        return f"inactive {obj.trigger_days} days"

    @admin.display(description="preview")
    def preview(self, obj):
        return format_html(
            '<a href="{}">Preview</a>', reverse("admin:policies_inactivitypolicy_preview", args=[obj.pk])
        )

    # -- saving: through the service, which validates, forces preview on create and audits ----------
    def save_model(self, request, obj, form, change):
        policy_save(
            policy=obj,
            actor=Actor.from_request(request),
            m2m=form.m2m_values(),
            reason=form.cleaned_data.get("change_reason", ""),
        )

    def save_related(self, request, form, formsets, change):
        # The many-to-many values went through policy_save(m2m=...) and are in its audit event;
        # form.save_m2m() would write them a second time, unaudited. No inlines to save.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        policy_delete(policy=obj, actor=Actor.from_request(request))

    # -- change page: email preview, buttons --------------------------------------------------------
    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and request.method == "GET":
            # Only for the saved policy: a form sent back with errors holds half-edited values.
            now = timezone.now()
            enforcement, real = sample_enforcement(obj, now)
            context.update(
                email_previews=email_previews(enforcement, now),
                email_sample=enforcement.account,
                email_sample_is_real=real,
            )
        if obj is not None:
            context.update(
                last_run=self.last_run(obj) if hasattr(obj, "last_run_pk") else "",
                next_run=self.next_run(obj) if hasattr(obj, "scheduled_at") else "",
                can_run=self.has_run_permission(request),
                preview_url=reverse("admin:policies_inactivitypolicy_preview", args=[obj.pk]),
                run_url=reverse("admin:policies_inactivitypolicy_run", args=[obj.pk]),
                runs_url=reverse("admin:policies_policyrun_changelist") + f"?policy={obj.pk}",
            )
        response = super().render_change_form(request, context, add, change, form_url, obj)
        if context.get("email_previews"):
            # The previews' HTML is the policy's own email template, shown in a sandboxed frame that
            # inherits this page's Content-Security-Policy: let its inline styles render (no scripts).
            allow_inline_styles(response)
        return response

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/preview/", view(self.preview_view), name="policies_inactivitypolicy_preview"),
            path("<path:object_id>/preview.csv", view(self.preview_csv), name="policies_inactivitypolicy_preview_csv"),
            path("<path:object_id>/run/", view(self.run_view), name="policies_inactivitypolicy_run"),
            *super().get_urls(),
        ]

    def _viewable(self, request, object_id) -> InactivityPolicy:
        policy = self.get_object(request, object_id)
        if policy is None:
            raise Http404("No such policy.")
        if not self.has_view_permission(request, policy):
            raise PermissionDenied
        return policy

    # -- preview ------------------------------------------------------------------------------------
    def preview_view(self, request, object_id):
        policy = self._viewable(request, object_id)
        show = request.GET.get("show", "all")
        if show not in dict(SHOW_CHOICES):
            show = "all"
        preview = policy_preview(policy, timezone.now())
        rows = preview.shown(show)
        page = Paginator(rows, PREVIEW_PER_PAGE).get_page(request.GET.get("page"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview: {policy.name}",
            "opts": self.opts,
            "original": policy,
            "policy": policy,
            "preview": preview,
            "page": page,
            "show": show,
            "show_choices": [(value, label, len(preview.shown(value))) for value, label in SHOW_CHOICES],
            "csv_url": reverse("admin:policies_inactivitypolicy_preview_csv", args=[policy.pk]) + f"?show={show}",
            "change_url": reverse("admin:policies_inactivitypolicy_change", args=[policy.pk]),
            "mode_is_preview": policy.mode == PolicyMode.PREVIEW,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/policies/inactivitypolicy/preview.html", context)

    def preview_csv(self, request, object_id):
        policy = self._viewable(request, object_id)
        show = request.GET.get("show", "all")
        rows = policy_preview(policy, timezone.now()).shown(show if show in dict(SHOW_CHOICES) else "all")
        record_event(
            actor=Actor.from_request(request),
            action=AuditAction.EXPORT_DOWNLOADED,
            target=policy,
            after={"export": "policy preview", "show": show, "rows": len(rows)},
            organization=policy.organization.org_id,
        )
        filename = f"policy-{policy.pk}-preview-{timezone.now():%Y%m%d}.csv"
        return streaming_csv_response(filename, CSV_HEADER, (row.csv_cells() for row in rows))

    # -- run now ------------------------------------------------------------------------------------
    def run_view(self, request, object_id):
        """POST ``_dry_run``, or any run of a policy in preview mode: run it now (nothing changes).
        Otherwise a confirmation page with a required reason first (policies.admin.run_now)."""
        if not self.has_run_permission(request):
            raise PermissionDenied
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        policy = self.get_object(request, object_id)
        if policy is None:
            raise Http404("No such policy.")
        dry_run = "_dry_run" in request.POST
        if request.method == "POST" and not needs_confirmation(policy, dry_run=dry_run):
            return self._run_inline(request, policy, dry_run=dry_run)
        return confirm_view(
            self,
            request,
            policy,
            lambda reason, confirmed: self._run_inline(request, policy, reason=reason, confirmed_act=confirmed),
        )

    def _run_inline(self, request, policy, *, dry_run=False, reason="", confirmed_act=None):
        change_url = reverse("admin:policies_inactivitypolicy_change", args=[policy.pk])
        try:
            result = policy_run(
                policy=policy,
                trigger=RunTrigger.MANUAL,
                actor=Actor.from_request(request),
                dry_run=dry_run,
                reason=reason,
                confirmed_act=confirmed_act,
            )
        except MissingCredentials as exc:
            messages.error(request, f"Not run: {exc}")
            return HttpResponseRedirect(change_url)
        run_url = reverse("admin:policies_policyrun_change", args=[result.run.pk])
        counts = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in sorted(result.counts.items()))
        what = "Dry run" if dry_run else "Run"
        text = format_html(
            '{} <a href="{}">#{}</a> {}{}{}',
            what,
            run_url,
            result.run.pk,
            result.run.get_status_display().lower(),
            f": {result.message}" if result.message else ".",
            f" ({counts})" if counts else "",
        )
        levels: dict[str, int] = {RunStatus.SUCCEEDED: messages.SUCCESS, RunStatus.HALTED: messages.WARNING}
        level = levels.get(result.status, messages.ERROR)
        messages.add_message(request, level, text)
        return HttpResponseRedirect(change_url)
