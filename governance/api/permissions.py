"""Permissions of the API: the admin's model permissions, reading included.

DRF's ``DjangoModelPermissions`` lets any authenticated user read (GET maps to no permission); here
reading needs the model's ``view_`` permission, as in the admin, so a user without a role sees
nothing and an auditor, who holds only ``view_`` permissions, can read everything and write nothing.

Actions that are not plain create/update/delete (``expire``, ``approve``, ``run`` ...) name what they
need in the view's ``action_permissions``: ``{"expire": ["policies.change_exemption"]}`` (all of
them), or ``AnyOf(...)`` when one of several is enough.
"""

from dataclasses import dataclass

from rest_framework.permissions import DjangoModelPermissions


@dataclass(frozen=True)
class AnyOf:
    """Holding any one of ``perms`` is enough (the exact one is checked by the view once it knows)."""

    perms: tuple[str, ...]

    def __init__(self, *perms: str):
        object.__setattr__(self, "perms", perms)

    def allowed(self, user) -> bool:
        return any(user.has_perm(perm) for perm in self.perms)


class ModelPermissions(DjangoModelPermissions):
    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        required = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if isinstance(required, AnyOf):
            return required.allowed(user)
        if required is not None:
            return user.has_perms(required)
        return super().has_permission(request, view)
