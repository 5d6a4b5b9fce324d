"""API tokens in the admin: create one (its secret is shown on the next page, once), list, revoke.

Tokens are never edited or deleted: a revoked token stays listed, as the audit trail refers to it.
Creating needs ``governance.add_apitoken``, revoking ``governance.change_apitoken``; a token may be
made for yourself, or for a user whose every permission you hold (``tokens.may_issue``).
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from governance.api.models import ApiToken
from governance.api.tokens import api_token_create, api_token_revoke, may_issue
from governance.audit.record import Actor

LIFETIMES = (("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never expires"))

# Rendered from a string: the page exists only as the answer to the creating POST.
_CREATED_PAGE = """{% extends "admin/base_site.html" %}
{% block content %}
<p>Copy the secret of <strong>{{ token.name }}</strong> (for {{ token.user }}) now.
It is not stored and will <strong>never be shown again</strong>: if it is lost, revoke the token and
create another.</p>
<p><input type="text" id="api-token-secret" readonly size="80" value="{{ secret }}"
onfocus="this.select()"></p>
<p>Send it as <code>Authorization: Token &lt;secret&gt;</code> (or <code>Bearer</code>).
{% if token.expires_at %}It expires on {{ token.expires_at|date:"Y-m-d H:i" }} UTC.{% endif %}</p>
<p><a href="{{ changelist_url }}">Back to the API tokens</a></p>
{% endblock %}
"""


class ApiTokenAddForm(forms.ModelForm):
    lifetime = forms.ChoiceField(choices=LIFETIMES, initial="90", required=False)

    class Meta:
        model = ApiToken
        fields = ("user", "name")

    def __init__(self, *args, issuer=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.issuer = issuer
        users = get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")
        user_field = self.fields["user"]
        assert isinstance(user_field, forms.ModelChoiceField)  # the form field of a foreign key
        user_field.queryset = users
        user_field.help_text = "The token acts with this user's permissions."
        if issuer is not None:
            user_field.initial = issuer.pk

    def clean_user(self):
        user = self.cleaned_data["user"]
        if self.issuer is not None and not may_issue(self.issuer, user):
            raise forms.ValidationError(
                "You can create tokens for yourself, or for a user whose every permission you hold."
            )
        return user

    def expires_at(self):
        days = self.cleaned_data.get("lifetime")
        return timezone.now() + timedelta(days=int(days)) if days else None


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "state_display", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    list_select_related = ("user",)
    search_fields = ("name", "=prefix", "user__username")
    ordering = ("-created_at", "-id")
    show_facets = admin.ShowFacets.NEVER
    actions = ["revoke_selected"]
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "created_at",
        "created_by",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )

    # -- permissions: create and revoke only; a token page is read-only ----------------------------------
    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return False
        return super().has_change_permission(request)  # what the revoke action needs

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # -- creating ------------------------------------------------------------------------------------------
    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)

        class AddForm(ApiTokenAddForm):
            def __init__(self, *args, **form_kwargs):
                super().__init__(*args, issuer=request.user, **form_kwargs)

        return AddForm

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "name", "lifetime")
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if add:  # one button: the next page shows the secret
            context.update(show_save_and_add_another=False, show_save_and_continue=False)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        obj.expires_at = form.expires_at()
        obj.created_by = request.user
        _token, secret = api_token_create(token=obj, actor=Actor.from_request(request))
        obj._issued_secret = secret  # only in memory, for response_add

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "title": "API token created",
            "opts": self.opts,
            "token": obj,
            "secret": obj._issued_secret,
            "changelist_url": reverse("admin:governance_apitoken_changelist"),
        }
        template = engines["django"].from_string(_CREATED_PAGE)
        response = TemplateResponse(request, template, context)
        response["Cache-Control"] = "no-store"
        return response

    # -- list and revoke -------------------------------------------------------------------------------------
    @admin.display(description="state")
    def state_display(self, obj):
        return obj.state()

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_selected(self, request, queryset):
        actor = Actor.from_request(request)
        revoked = [
            t
            for t in queryset.select_related("user")
            if api_token_revoke(token=t, actor=actor, reason="revoked in the admin")
        ]
        if revoked:
            messages.success(request, f"Revoked {len(revoked)}: {', '.join(str(t) for t in revoked)}.")
        else:
            messages.warning(request, "The selected tokens were already revoked.")
