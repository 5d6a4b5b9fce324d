"""Group memberships given until a date: what ``expire_access`` warns about and removes.

A side table keyed by account and group rather than columns on ``Membership``: the sync deletes
and re-creates membership rows as Atlassian reports them, and the end date, its warnings and an
extension request must outlive that; a removed row also stays, so what ended can be given back.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


def new_nonce() -> str:
    return secrets.token_urlsafe(12)


class AccessEndStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    REMOVING = "removing", "Being removed"
    REMOVED = "removed", "Removed on its end date"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Removal failed"
    RESTORED = "restored", "Given back after it ended"


class ExtensionStatus(models.TextChoices):
    NONE = "", "None asked"
    PENDING = "pending", "Pending (waiting for the help desk)"
    APPROVED = "approved", "Extended"
    REJECTED = "rejected", "Rejected"


# At most one of these per account and group (database constraint).
OPEN_END_STATUSES = (AccessEndStatus.SCHEDULED, AccessEndStatus.REMOVING)


class MembershipEnd(models.Model):
    """The date an account's membership of a group ends (and so the product access it grants)."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="membership_ends")
    group = models.ForeignKey("accounts.Group", on_delete=models.CASCADE, related_name="membership_ends")
    expires_at = models.DateTimeField("access until")
    status = models.CharField(max_length=16, choices=AccessEndStatus.choices, default=AccessEndStatus.SCHEDULED)
    reason = models.TextField(blank=True, help_text="Why the access was given until this date.")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_by_name = models.CharField(max_length=254, blank=True)
    # The last warning sent (7 or 1 days ahead); cleared when the date moves.
    warned_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # Bound into the extension link; rotated when a request is made or the date moves.
    nonce = models.CharField(max_length=32, default=new_nonce)
    extension_status = models.CharField(
        max_length=16, choices=ExtensionStatus.choices, default=ExtensionStatus.NONE, blank=True
    )
    extension_justification = models.TextField(blank=True)
    extension_requested_at = models.DateTimeField(null=True, blank=True)
    extensions = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["expires_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "group"],
                condition=Q(status__in=OPEN_END_STATUSES),
                name="one_open_membership_end",
            )
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="membershipend_status_expiry")]
        permissions = [("decide_membershipend", "Can extend or end access given until a date")]
        verbose_name = "access with an end date"
        verbose_name_plural = "access with an end date"

    def __str__(self) -> str:
        return f"{self.account} in {self.group} until {self.expires_at:%Y-%m-%d}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_END_STATUSES
