"""The admin's Users page for portal operators, replacing Django's own.

Portal admins add operators, change their details and roles, and deactivate them (untick *Active*:
the account and its history stay, its API tokens are revoked). Nobody deletes an operator here:
the audit trail names them. Every save goes through ``governance.operators.services`` (one audit
event each); an operator the viewer may not manage (a superuser, or someone holding permissions
the viewer lacks) is shown read-only.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction

from governance.audit.record import Actor
from governance.operators.forms import OperatorChangeForm, OperatorCreationForm, for_actor
from governance.operators.rules import ROLE_NAMES, may_manage
from governance.operators.services import operator_create, operator_password_changed, operator_update

User = get_user_model()

_DETAILS = (None, {"fields": ("username", "password")})
_PERSONAL = ("Personal info", {"fields": ("first_name", "last_name", "email")})
_DATES = ("Important dates", {"fields": ("last_login", "date_joined")})


class OperatorAdmin(UserAdmin):
    form = OperatorChangeForm
    add_form = OperatorCreationForm
    list_display = ("username", "full_name", "email", "roles_display", "is_active", "last_login")
    list_filter = ("is_active", "groups")
    readonly_fields = ("last_login", "date_joined")
    show_facets = admin.ShowFacets.NEVER

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    # -- who may do what ----------------------------------------------------------------------------------
    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or may_manage(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: the audit trail and the run history name operators

    # -- the form -------------------------------------------------------------------------------------------
    def get_fieldsets(self, request, obj=None):
        if obj is None:
            password = ("usable_password", "password1", "password2")
            return ((None, {"fields": ("username", *password)}), _PERSONAL, ("Access", {"fields": ("roles",)}))
        access = ["is_active", "roles"]
        if request.user.is_superuser:
            access += ["is_staff", "is_superuser", "user_permissions"]
        if not self.has_change_permission(request, obj):
            access[access.index("roles")] = "roles_display"
            return ((None, {"fields": ("username",)}), _PERSONAL, ("Access", {"fields": access}), _DATES)
        return (_DETAILS, _PERSONAL, ("Access", {"fields": access}), _DATES)

    def get_form(self, request, obj=None, change=False, **kwargs):
        return for_actor(super().get_form(request, obj, change=change, **kwargs), request.user)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        superuser_fields = {}
        if request.user.is_superuser and change:
            superuser_fields = {
                "is_staff": data["is_staff"],
                "is_superuser": data["is_superuser"],
                "user_permissions": data["user_permissions"],
            }
        actor = Actor.from_request(request)
        if not change:
            operator_create(user=obj, roles=list(data["roles"]), by=request.user, actor=actor)
            return
        operator_update(
            user=obj,
            by=request.user,
            actor=actor,
            roles=list(data["roles"]),
            username=data["username"],
            email=data["email"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            is_active=data["is_active"],
            **superuser_fields,
        )

    def save_related(self, request, form, formsets, change):
        """Roles and permissions were saved by the service, with the audit event."""

    @transaction.atomic
    def user_change_password(self, request, id, form_url=""):
        """Django's password page, with an audit event in the same transaction as the new password."""
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, id)
            location = response.get("Location", "")
            if user is not None and request.path not in location:  # not the "conflicting data" retry
                operator_password_changed(user=user, by=request.user, actor=Actor.from_request(request))
        return response

    # -- list columns -------------------------------------------------------------------------------------
    @admin.display(description="name")
    def full_name(self, obj):
        return obj.get_full_name()

    @admin.display(description="roles")
    def roles_display(self, obj):
        names = [group.name for group in obj.groups.all() if group.name in ROLE_NAMES]
        if obj.is_superuser:
            names.insert(0, "Superuser")
        return ", ".join(names) or "none"


admin.site.unregister(User)
admin.site.register(User, OperatorAdmin)
