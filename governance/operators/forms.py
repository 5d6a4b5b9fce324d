"""The Users page's forms: details, whether the operator may sign in, and their portal roles.

Each form is made for the person filling it in (``for_actor``): the role choices are the roles they
may give, and ``clean`` runs the services' own checks so a refusal is a message on the form, not a
403 page. Superusers also see Django's superuser, staff and user-permission fields.
"""

from typing import TYPE_CHECKING

from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group

from governance.operators.rules import ROLE_NAMES, grantable_roles
from governance.operators.services import OperatorRefused, check_operator_change

ROLES_HELP = (
    "Portal admins: everything, operators included. Help desk: read accounts, re-activate accounts, decide "
    "access requests. Auditors: read everything, change nothing. You can give only roles whose every "
    "permission you hold."
)


def _roles_field() -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=Group.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=ROLES_HELP,
    )


if TYPE_CHECKING:  # what the mixin below is mixed into (a plain class when running)
    _FormBase = forms.ModelForm
else:
    _FormBase = object


class _OperatorFormMixin(_FormBase):
    actor = None

    def _limit_roles(self):
        allowed = [group.pk for group in grantable_roles(self.actor)]
        roles = self.fields["roles"]
        assert isinstance(roles, forms.ModelMultipleChoiceField)
        roles.queryset = Group.objects.filter(pk__in=allowed).order_by("name")

    def _refusal(self, *, user, roles, is_active=True) -> None:
        data = self.cleaned_data
        permissions = data.get("user_permissions") if "user_permissions" in self.fields else None
        try:
            check_operator_change(
                by=self.actor,
                user=user,
                roles=roles,
                is_superuser=bool(data.get("is_superuser")) and not user.is_superuser,
                user_permissions=permissions,
                is_active=is_active,
            )
        except OperatorRefused as refusal:
            raise forms.ValidationError(str(refusal)) from refusal


class OperatorCreationForm(_OperatorFormMixin, AdminUserCreationForm):
    roles = _roles_field()

    class Meta(AdminUserCreationForm.Meta):
        fields = ("username", "first_name", "last_name", "email")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._limit_roles()

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # what the form's clean returns
        self._refusal(user=self._meta.model(), roles=cleaned.get("roles") or [])
        return cleaned


class OperatorChangeForm(_OperatorFormMixin, UserChangeForm):
    roles = _roles_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "roles" in self.fields:
            self._limit_roles()
            if self.instance.pk:
                self.initial["roles"] = list(
                    self.instance.groups.filter(name__in=ROLE_NAMES).values_list("pk", flat=True)
                )

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # what the form's clean returns
        stored = self._meta.model.objects.get(pk=self.instance.pk)
        self._refusal(user=stored, roles=cleaned.get("roles") or [], is_active=cleaned.get("is_active", True))
        return cleaned


def for_actor(form_class, actor):
    """``form_class`` bound to the operator filling it in (the admin instantiates forms itself)."""
    return type(form_class.__name__, (form_class,), {"actor": actor})
