from datetime import datetime
from typing import Self

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class ExemptionKind(models.TextChoices):
    EXEMPT = "exempt", "Never act on"
    NEVER_RESTORE = "never_restore", "Never restore automatically"


class ExemptionQuerySet(models.QuerySet):
    def unexpired(self, now: datetime) -> Self:
        """Those still in force at ``now``: no expiry, or one still ahead."""
        return self.filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))


class Exemption(models.Model):
    """Keeps an account, a group's members or an email pattern out of policies (or out of self-service)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="exemptions")
    kind = models.CharField(max_length=16, choices=ExemptionKind.choices, default=ExemptionKind.EXEMPT)
    policy = models.ForeignKey(
        "policies.InactivityPolicy", null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: every policy."
    )
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.CASCADE)
    group = models.ForeignKey("accounts.Group", null=True, blank=True, on_delete=models.CASCADE)
    email_pattern = models.CharField(
        max_length=200, blank=True, help_text="Shell-style, case-insensitive, e.g. *@executives.example.com"
    )
    reason = models.TextField()
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ExemptionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "expires_at"], name="exemption_org_expiry")]

    def __str__(self) -> str:
        subject = self.account or self.group or self.email_pattern
        return f"{self.get_kind_display()}: {subject}"

    def clean(self):
        given = [bool(self.account_id), bool(self.group_id), bool(self.email_pattern)]
        if sum(given) != 1:
            raise ValidationError("An exemption names exactly one of: an account, a group, an email pattern.")
        errors = {}
        if not (self.reason or "").strip():
            errors["reason"] = "Say why this exemption exists."
        # Only a new exemption must end in the future: ending one early (exemption_expire)
        # sets its expiry to now, and an old one may have passed its date since.
        if self.pk is None and self.expires_at is not None and self.expires_at <= timezone.now():
            errors["expires_at"] = "Give a moment in the future, or leave it empty for no expiry."
        for name in ("policy", "account", "group"):
            related = getattr(self, name) if getattr(self, f"{name}_id") else None
            if related is not None and self.organization_id and related.organization_id != self.organization_id:
                errors[name] = f"Not in organization {self.organization}."
        if errors:
            raise ValidationError(errors)
