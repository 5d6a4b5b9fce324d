"""Forms of the policies admin, and the reason-required confirmation step its actions share."""

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from croniter import croniter
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from accounts.models import Organization
from policies.email_templates import PLACEHOLDERS, TemplateProblem, check_template
from policies.models import Exemption, InactivityPolicy
from policies.models.policies import POLICY_SCOPE, POLICY_SETTINGS

PLACEHOLDER_HELP = (
    "Placeholders: "
    + ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    + ", written exactly so (no format such as {name:>20}, no {name!r}); {{ and }} give a literal brace."
)


if TYPE_CHECKING:  # what the mixin below is mixed into (a plain class when running)
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object


def single_organization() -> dict:
    """``{"organization": pk}`` when the portal mirrors exactly one organization (the usual case)."""
    pks = list(Organization.objects.values_list("pk", flat=True)[:2])
    return {"organization": pks[0]} if len(pks) == 1 else {}


def field_names(fieldsets: Iterable[tuple[object, Any]]) -> list[str]:
    """Every field name in admin ``fieldsets``, in order: a read-only admin's ``readonly_fields``."""
    entries: Iterable[str | Sequence[str]] = (entry for _title, options in fieldsets for entry in options["fields"])
    # An entry is a name, or a tuple of names shown on one line.
    return [name for entry in entries for name in ((entry,) if isinstance(entry, str) else entry)]


class WarningDaysField(forms.CharField):
    """``14, 3`` in the form, ``[14, 3]`` in the model (the model's ``clean`` checks the range)."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value):
        text = (super().to_python(value) or "").strip().strip("[]")
        if not text:
            return []
        try:
            return [int(part) for part in re.split(r"[,\s]+", text) if part]
        except ValueError:
            raise forms.ValidationError("Whole numbers separated by commas, e.g. 14, 3.") from None

    def has_changed(self, initial, data):
        try:
            return sorted(self.to_python(data)) != sorted(initial or [])
        except forms.ValidationError:
            return True


class InactivityPolicyForm(forms.ModelForm):
    warning_days = WarningDaysField(
        required=False,
        help_text="Days before the action to send a warning, largest first, e.g. 14, 3. Empty: no warning.",
    )
    change_reason = forms.CharField(
        label="Reason for this change",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Recorded in the audit trail with the change.",
    )

    class Meta:
        model = InactivityPolicy
        fields = (
            "name",
            "organization",
            "mode",
            *POLICY_SCOPE,
            *POLICY_SETTINGS,
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "schedule_cron" in self.fields:
            self.fields["schedule_cron"].label = "Schedule"
            self.fields["schedule_cron"].help_text = (
                "When the policy runs on its own, as a cron expression (minute hour day month weekday) in the "
                f"portal's time zone ({settings.TIME_ZONE}): 30 6 * * * is 06:30 every day, 0 7 * * 1-5 is 07:00 "
                "on weekdays. A run waits for a recent successful sync."
            )
        for name in ("warning_body", "action_body"):
            field = self.fields.get(name)
            if isinstance(field, forms.CharField):
                field.strip = False  # a body's final newline is part of the email

    def _clean_template(self, name: str) -> str:
        # Browsers send textareas with CRLF; the templates are stored with LF, so an untouched
        # template is not recorded as changed.
        value = (self.cleaned_data.get(name) or "").replace("\r\n", "\n")
        try:
            check_template(value)
        except TemplateProblem as exc:
            raise forms.ValidationError(str(exc)) from None
        return value

    def clean_warning_subject(self):
        return self._clean_template("warning_subject")

    def clean_warning_body(self):
        return self._clean_template("warning_body")

    def clean_action_subject(self):
        return self._clean_template("action_subject")

    def clean_action_body(self):
        return self._clean_template("action_body")

    def clean_schedule_cron(self):
        value = (self.cleaned_data.get("schedule_cron") or "").strip()
        if not croniter.is_valid(value):
            raise forms.ValidationError("Not a cron expression; for example 30 6 * * * (06:30 every day).")
        return value

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean returns
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        if organization is None:
            return cleaned
        for name in ("products", "include_groups", "exclude_groups"):
            strangers = [str(obj) for obj in cleaned.get(name) or [] if obj.organization_id != organization.pk]
            if strangers:
                self.add_error(name, f"Not in organization {organization}: {', '.join(strangers)}.")
        return cleaned

    def m2m_values(self) -> dict:
        """The many-to-many values for ``policy_save(m2m=...)``: the form never writes them itself."""
        return {name: list(self.cleaned_data[name]) for name in ("products", "include_groups", "exclude_groups")}


class ExemptionForm(forms.ModelForm):
    class Meta:
        model = Exemption
        fields = ("organization", "kind", "policy", "account", "group", "email_pattern", "reason", "expires_at")
        widgets = {"reason": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    # The rules (one subject, a reason, a future expiry, one organization) live in
    # Exemption.clean(), which the ModelForm runs, so the API and the services apply them too.


def names(items: list, limit: int = 20) -> str:
    """``a, b, c and 7 more``: the items an action touched, for its result message."""
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        strip=True,
        error_messages={"required": "Give a reason: it is recorded in the audit trail."},
    )


CONFIRM_FIELD = "_confirm"


def confirm_with_reason(modeladmin, request, queryset, *, title: str, button: str, intro: str = ""):
    """The confirmation step of an admin action that needs a reason.

    Returns ``(reason, None)`` once the user confirmed with a reason, else ``(None, response)``:
    the confirmation page, posted back to the changelist (filters in its query string), so the
    action, its permission and "all N matching" are checked again when confirmed.
    """
    data, response = confirm_with_form(
        modeladmin, request, queryset, form_class=ReasonForm, title=title, button=button, intro=intro
    )
    return (data["reason"] if data is not None else None), response


def confirm_with_form(
    modeladmin, request, queryset, *, form_class: type[ReasonForm], title: str, button: str, intro: str = ""
):
    """:func:`confirm_with_reason` asking for the fields of ``form_class`` (a ``ReasonForm`` with
    more fields, shown above the reason) too: ``(cleaned_data, None)`` once confirmed."""
    form = form_class(request.POST if CONFIRM_FIELD in request.POST else None)
    if CONFIRM_FIELD in request.POST and form.is_valid():
        return form.cleaned_data, None
    select_across = request.POST.get("select_across") == "1"
    shown = list(queryset[:100])
    total = queryset.count()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "button": button,
        "opts": modeladmin.model._meta,
        "form": form,
        "extra_fields": [field for field in form if field.name != "reason"],
        "objects": shown,
        "total": total,
        "more": max(total - len(shown), 0),
        "action": request.POST.get("action", ""),
        "select_across": "1" if select_across else "0",
        # With "all N" selected the action re-reads the filter; otherwise the exact rows.
        "selected": [obj.pk for obj in shown] if select_across else request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "confirm_field": CONFIRM_FIELD,
    }
    request.current_app = modeladmin.admin_site.name
    return None, TemplateResponse(request, "admin/policies/confirm_action.html", context)


class GuardedActionsMixin(_ModelAdmin):
    """A POST naming one of this admin's actions that the user may not run is a 403, not a quiet
    "no action selected" message: an auditor's attempt is refused as clearly as any other write."""

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST" and "action" in request.POST:
            known = {getattr(action, "__name__", action) for action in self.actions or ()}
            allowed = self.get_actions(request)
            if any(name in known and name not in allowed for name in request.POST.getlist("action")):
                raise PermissionDenied
        return super().changelist_view(request, extra_context)
