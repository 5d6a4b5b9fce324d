"""A portal user's API tokens are revoked when the user is deactivated, wherever that happens.

The user model is Django's, saved by the admin's Users page, ``manage.py`` commands or code, so
the hook is a signal on it rather than a service: ``pre_save`` reads whether the stored user was
active, ``post_save`` revokes when that changed from active to inactive. Saves that cannot change
``is_active`` (``update_fields`` without it, such as the login's ``last_login``) cost no query.
A queryset ``update(is_active=False)`` sends no signal; such a user's tokens are still refused
while inactive (``api_token_check``), only not revoked.
"""

from governance.api.tokens import api_tokens_revoke_for_user
from governance.audit.record import Actor

OWNER_DEACTIVATED = "owner deactivated"
_WAS_ACTIVE = "_api_tokens_owner_was_active"


def remember_whether_active(sender, instance, raw=False, update_fields=None, **kwargs):
    instance.__dict__.pop(_WAS_ACTIVE, None)
    if raw or instance.pk is None or instance.is_active:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    stored = sender._default_manager.filter(pk=instance.pk).values_list("is_active", flat=True).first()
    instance.__dict__[_WAS_ACTIVE] = bool(stored)


def revoke_tokens_of_deactivated(sender, instance, created=False, raw=False, **kwargs):
    was_active = instance.__dict__.pop(_WAS_ACTIVE, False)
    if raw or created or not was_active or instance.is_active:
        return
    # Who deactivated the user is in the admin's own history; the revocations are the portal's consequence.
    api_tokens_revoke_for_user(user=instance, actor=Actor.system(), reason=OWNER_DEACTIVATED)
