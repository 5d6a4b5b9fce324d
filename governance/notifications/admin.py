"""Webhook subscriptions (URL and secret write-only) and their delivery log (read-only)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html_join

from governance.admin_tools.readonly import ReadOnlyAdminMixin
from governance.audit.record import Actor
from governance.notifications.events import event_choices
from governance.notifications.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from governance.notifications.services import (
    EDITABLE_FIELDS,
    webhook_delete,
    webhook_save,
    webhook_send_test,
    webhook_validate,
)

WRITE_ONLY = ("new_url", "new_secret")


class WebhookSubscriptionForm(forms.ModelForm):
    new_url = forms.CharField(
        label="URL",
        required=False,
        max_length=2000,
        # Never rendered back: a Slack URL is a credential.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Write-only (https://…). Leave empty to keep the stored one; it is never shown again.",
    )
    new_secret = forms.CharField(
        label="Signing secret",
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only; webhooks only (Slack messages are not signed). Leave empty to keep the stored one.",
    )
    events = forms.MultipleChoiceField(choices=event_choices, widget=forms.CheckboxSelectMultiple, required=False)

    class Meta:
        model = WebhookSubscription
        fields = EDITABLE_FIELDS

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean returns
        candidate = WebhookSubscription(
            pk=self.instance.pk,
            kind=cleaned.get("kind") or self.instance.kind,
            events=cleaned.get("events") or [],
            url_encrypted=self.instance.url_encrypted,
            secret_encrypted=self.instance.secret_encrypted,
        )
        try:
            webhook_validate(
                subscription=candidate, new_url=cleaned.get("new_url", ""), new_secret=cleaned.get("new_secret", "")
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error({"url": "new_url", "secret": "new_secret"}.get(field, field), messages)
        return cleaned


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ("name", "kind", "url_host", "enabled", "event_list", "updated_at")
    list_filter = ("kind", "enabled")
    search_fields = ("name",)
    actions = None
    change_form_template = "admin/governance/webhooksubscription/change_form.html"
    fieldsets = ((None, {"fields": ("name", "kind", "enabled", "events", "url_host", "stored", *WRITE_ONLY)}),)

    def get_readonly_fields(self, request, obj=None):
        return ("url_host", "stored")

    def get_fieldsets(self, request, obj=None):
        editable = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        if editable:
            return self.fieldsets
        return ((None, {"fields": ("name", "kind", "enabled", "events", "url_host", "stored")}),)

    @admin.display(description="events")
    def event_list(self, obj):
        return ", ".join(obj.events)

    @admin.display(description="stored in the portal")
    def stored(self, obj):
        if obj is None or obj.pk is None:
            return "nothing yet"
        return "URL and signing secret (encrypted)" if obj.has_secret else "URL (encrypted)"

    # -- "Send a test message" ---------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view(self.send_test_view)
        return [
            path("<path:object_id>/send-test/", view, name="governance_webhooksubscription_send_test"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["can_send_test"] = self.has_change_permission(request, obj)
            context["send_test_url"] = reverse("admin:governance_webhooksubscription_send_test", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def send_test_view(self, request, object_id):
        """POST only (it sends something): one signed ``test`` event now; the result as a message."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        subscription = self.get_object(request, unquote(object_id))
        if subscription is None:
            raise Http404("No such webhook subscription.")
        if not self.has_change_permission(request, subscription):
            raise PermissionDenied
        delivery = webhook_send_test(subscription=subscription, actor=Actor.from_request(request))
        last = delivery.attempts[-1]
        log_url = reverse("admin:governance_webhookdelivery_change", args=[delivery.pk])
        if delivery.status == DeliveryStatus.DELIVERED:
            messages.success(request, f"Test message delivered (HTTP {last['status_code']}). Delivery log: {log_url}")
        else:
            why = last.get("error") or f"HTTP {last.get('status_code')}"
            messages.error(request, f"Test message not delivered: {why}. Delivery log: {log_url}")
        return HttpResponseRedirect(reverse("admin:governance_webhooksubscription_change", args=[subscription.pk]))

    def save_model(self, request, obj, form, change):
        webhook_save(
            subscription=obj,
            actor=Actor.from_request(request),
            previous={n: form.initial.get(n) for n in form.changed_data if n in EDITABLE_FIELDS} if change else None,
            new_url=form.cleaned_data.get("new_url", ""),
            new_secret=form.cleaned_data.get("new_secret", ""),
        )

    def delete_model(self, request, obj):
        webhook_delete(subscription=obj, actor=Actor.from_request(request))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What was sent where, and every attempt: written by the delivery tasks only."""

    list_display = ("created_at", "event", "subscription", "status", "attempt_count", "next_attempt_at")
    list_filter = ("status", "event")
    list_select_related = ("subscription",)
    show_facets = admin.ShowFacets.NEVER
    fields = ("subscription", "event", "event_id", "status", "created_at", "delivered_at", "next_attempt_at")
    readonly_fields = (*fields, "attempt_log", "payload")

    def get_fields(self, request, obj=None):
        return (*self.fields, "attempt_log", "payload")

    @admin.display(description="attempts")
    def attempt_count(self, obj):
        return len(obj.attempts)

    @admin.display(description="attempt log")
    def attempt_log(self, obj):
        rows = [
            (a.get("at", ""), a.get("status_code") or "-", a.get("error") or "ok", a.get("ms", ""))
            for a in obj.attempts
        ]
        return format_html_join("\n", "<div>{} · HTTP {} · {} · {} ms</div>", rows) or "No attempt yet."
