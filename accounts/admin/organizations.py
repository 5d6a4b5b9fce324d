"""Organizations: connection settings, with the API key and Jira token write-only.

A secret typed here is encrypted at once (PORTAL_FERNET_KEYS) and is never rendered back, put in
the audit trail or exported: the form only ever says whether one is stored.
"""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.admin.sync_views import sync_now_view, sync_run_view
from accounts.models import Organization, Product, SeatPrice
from accounts.preflight import FAIL, PASS, WARN, organization_check
from accounts.services.organizations import EDITABLE_FIELDS, organization_save
from accounts.services.prices import seat_price_delete, seat_price_save
from governance.audit.record import Actor

# Write-only secret inputs. Named apart from Organization.api_key(): a read-only admin field with
# a model method's name would call it and print the decrypted key.
SECRET_FIELDS = ("new_api_key", "new_jira_api_token")
FORM_ONLY_FIELDS = (*SECRET_FIELDS, "forget_secrets")
# "Check connection" answers inside the web request: a sample of users, few retries, short waits.
CHECK_USER_SAMPLE = 1000
CHECK_CLIENT_OPTIONS = {"max_attempts": 2, "max_total_wait": 10.0, "timeout": (5.0, 20.0)}


def _secret_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        # render_value=False: a stored or just-typed secret never goes back to the browser.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep what is stored; it is never shown again.",
    )


def _formfield(db_field, **kwargs):
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")  # Atlassian is only ever reached over https
    return db_field.formfield(**kwargs)


class OrganizationForm(forms.ModelForm):
    new_api_key = _secret_field("Admin API key")
    new_jira_api_token = _secret_field("Jira API token")
    forget_secrets = forms.BooleanField(
        label="Forget the stored key and token", required=False, help_text="Then read them from the environment."
    )

    class Meta:
        model = Organization
        fields = EDITABLE_FIELDS
        formfield_callback = _formfield

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean returns
        typed = [name for name in SECRET_FIELDS if cleaned.get(name)]
        if typed and not settings.PORTAL_FERNET_KEYS:
            raise forms.ValidationError("PORTAL_FERNET_KEYS must be set before a key can be stored in the portal.")
        if typed and cleaned.get("forget_secrets"):
            raise forms.ValidationError("Either type a new key or forget the stored one, not both.")
        keeps_key = bool(self.instance.api_key_encrypted) and not cleaned.get("forget_secrets")
        if not cleaned.get("credentials_from_env") and not (cleaned.get("new_api_key") or keeps_key):
            self.add_error("new_api_key", "Without credentials from the environment, an Admin API key is needed.")
        return cleaned


class SeatPriceForm(forms.ModelForm):
    class Meta:
        model = SeatPrice
        fields = ("product", "monthly_price", "currency")

    def clean_currency(self):
        # "eur" is EUR: the code is validated (ISO 4217) in capitals.
        return (self.cleaned_data.get("currency") or "").strip().upper()


class SeatPriceInline(admin.TabularInline):
    """Prices per seat of the organization's products: saved through ``seat_price_save`` (audited)."""

    model = SeatPrice
    form = SeatPriceForm
    extra = 1
    verbose_name = "price per seat"
    verbose_name_plural = "prices per seat (what the policies' freed seats are worth)"

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        # Only this organization's products can be priced here (a new organization has none yet).
        products = Product.objects.filter(organization=obj) if obj is not None else Product.objects.none()
        field = formset.form.base_fields["product"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = products
        return formset


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationForm
    inlines = [SeatPriceInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("__str__", "org_id", "api_base", "site_url", "credentials_from_env", "last_complete_sync_at")
    search_fields = ("name", "org_id")
    show_facets = admin.ShowFacets.NEVER
    actions = None
    fieldsets = (
        (None, {"fields": ("org_id", "name")}),
        ("Atlassian", {"fields": ("api_base", "site_url", "cloud_id", "directory_id", "jira_email")}),
        (
            "Credentials",
            {"fields": ("credentials_from_env", "stored_credentials", *FORM_ONLY_FIELDS)},
        ),
        ("Sync", {"fields": ("last_complete_sync_at", "group_id_form", "created_at")}),
    )

    def get_readonly_fields(self, request, obj=None):
        # The org id keys the whole mirror: changing it would orphan every account.
        fixed = ("org_id",) if obj is not None else ()
        return (*fixed, "stored_credentials", "last_complete_sync_at", "group_id_form", "created_at")

    def get_fieldsets(self, request, obj=None):
        editable = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        if editable:
            return self.fieldsets
        # View-only (auditors): no secret inputs at all.
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f not in FORM_ONLY_FIELDS]})
            for name, opts in self.fieldsets
        ]

    def get_inlines(self, request, obj):
        # Prices are per product: an organization being added has none yet (the first sync brings them).
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # deleting an organization would cascade over its whole mirror

    @admin.display(description="stored in the portal")
    def stored_credentials(self, obj):
        if obj is None or obj.pk is None:
            return "nothing yet"
        pairs = (("API key", obj.api_key_encrypted), ("Jira token", obj.jira_token_encrypted))
        stored = [label for label, value in pairs if value]
        return ", ".join(stored) + " (encrypted)" if stored else "nothing"

    def save_model(self, request, obj, form, change):
        # ``obj`` holds the form's values already (ModelForm); the service saves and audits it.
        organization_save(
            organization=obj,
            actor=Actor.from_request(request),
            previous={n: form.initial.get(n) for n in form.changed_data if n in EDITABLE_FIELDS} if change else None,
            new_api_key=form.cleaned_data.get("new_api_key", ""),
            new_jira_api_token=form.cleaned_data.get("new_jira_api_token", ""),
            forget_secrets=bool(form.cleaned_data.get("forget_secrets")),
        )

    def save_formset(self, request, form, formset, change):
        """Seat prices go through their services, one audited change each."""
        if formset.model is not SeatPrice:
            return super().save_formset(request, form, formset, change)
        actor = Actor.from_request(request)
        prices = formset.save(commit=False)
        for price in formset.deleted_objects:
            seat_price_delete(price=price, actor=actor)
        for price in prices:
            price.organization = form.instance
            seat_price_save(price=price, actor=actor)
        return None

    # -- "Check connection": the read-only preflight (accounts/preflight.py) ----------------------------
    def get_urls(self):
        view = self.admin_site.admin_view(self.check_connection_view)
        sync_now = self.admin_site.admin_view(lambda request, object_id: sync_now_view(self, request, object_id))
        sync_run = self.admin_site.admin_view(lambda request, run_id: sync_run_view(self, request, run_id))
        return [
            path("sync/<int:run_id>/", sync_run, name="accounts_organization_sync_run"),
            path("<path:object_id>/check-connection/", view, name="accounts_organization_check"),
            path("<path:object_id>/sync-now/", sync_now, name="accounts_organization_sync_now"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk and self.has_change_permission(request, obj):
            context["check_url"] = reverse("admin:accounts_organization_check", args=[obj.pk])
            context["sync_now_url"] = reverse("admin:accounts_organization_sync_now", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def check_connection_view(self, request, object_id):
        """GET explains and offers the button; POST runs the checks and shows them.

        Only those who may change the connection settings may test them: the checks spend the
        organization's rate-limit budget. Nothing is written, in Atlassian or here, so nothing is
        audited.
        """
        organization = self.get_object(request, object_id)
        if organization is None:
            raise Http404("No such organization.")
        if not self.has_change_permission(request, organization):
            raise PermissionDenied
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        checks = None
        if request.method == "POST":
            checks = organization_check(organization=organization, user_limit=CHECK_USER_SAMPLE, **CHECK_CLIENT_OPTIONS)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Check connection: {organization}",
            "opts": self.opts,
            "original": organization,
            "organization": organization,
            "checks": checks,
            "failed": any(c.outcome == FAIL for c in checks or ()),
            "counts": None if checks is None else {o: sum(c.outcome == o for c in checks) for o in (PASS, WARN, FAIL)},
            "sample": CHECK_USER_SAMPLE,
            "change_url": reverse("admin:accounts_organization_change", args=[organization.pk]),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/accounts/organization/check_connection.html", context)
