import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class AccessRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending (waiting for a decision)"
    APPROVED = "approved", "Approved"
    AUTO_APPROVED = "auto_approved", "Approved automatically"
    REJECTED = "rejected", "Rejected"
    FULFILLED = "fulfilled", "Fulfilled"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class AccessRequestKind(models.TextChoices):
    RESTORE = "restore", "Give back what a policy removed"
    KEEP = "keep", "Keep access a policy was about to remove"


# At most one of these per enforcement (database constraint): a second link cannot start a second request.
OPEN_REQUEST_STATUSES = (
    AccessRequestStatus.PENDING,
    AccessRequestStatus.APPROVED,
    AccessRequestStatus.AUTO_APPROVED,
)
APPROVED_STATUSES = (AccessRequestStatus.APPROVED, AccessRequestStatus.AUTO_APPROVED)
CLOSED_STATUSES = (AccessRequestStatus.FULFILLED, AccessRequestStatus.REJECTED, AccessRequestStatus.EXPIRED)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


class AccessRequest(models.Model):
    """A person asking for access back (or to keep it), made from the link in a policy email.

    It reverses exactly one enforcement: what that enforcement removed is given back through
    the accounts services, automatically when the policy allows self-service restore and no
    deny rule applies, otherwise after a help-desk or portal-admin approval.
    """

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="access_requests")
    enforcement = models.ForeignKey(
        "policies.Enforcement", on_delete=models.CASCADE, related_name="access_requests", help_text="What it reverses."
    )
    kind = models.CharField(max_length=16, choices=AccessRequestKind.choices, default=AccessRequestKind.RESTORE)
    email = models.CharField(max_length=254, blank=True, help_text="The mirrored account's address when asked.")
    justification = models.TextField(blank=True)
    restores = models.JSONField(default=dict, blank=True, help_text="What was removed, as shown to the requester.")
    status = models.CharField(
        max_length=16, choices=AccessRequestStatus.choices, default=AccessRequestStatus.PENDING, db_index=True
    )
    decision_reason = models.TextField(blank=True, help_text="Why it was approved, queued, rejected or expired.")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="A pending request expires at this time.")
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    correlation_id = models.CharField(max_length=64, default=new_correlation_id, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["enforcement"],
                condition=Q(status__in=OPEN_REQUEST_STATUSES),
                name="one_open_access_request_per_enforcement",
            )
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="accessrequest_status_created"),
            models.Index(fields=["status", "expires_at"], name="accessrequest_status_expiry"),
        ]
        permissions = [("decide_accessrequest", "Can approve or reject access requests")]

    def __str__(self) -> str:
        return f"Access request #{self.pk} for {self.email or self.account_id} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_REQUEST_STATUSES
