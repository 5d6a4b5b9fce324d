import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from governance.runs.models import TaskRun
from policies.models.policies import action_label


class EnforcementStatus(models.TextChoices):
    WARNED = "warned", "Warned"
    DUE = "due", "Due"
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"
    APPROVED = "approved", "Approved"
    EXECUTING = "executing", "Executing"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"
    SKIPPED_BY_CAP = "skipped_by_cap", "Skipped by the run's cap"
    REVERSED = "reversed", "Reversed"
    # The account is provisioned by an identity provider (SCIM): Atlassian refuses the action's
    # lifecycle call, so none is sent; the identity team does it there (DESIGN.md 5.11). Open,
    # so the next run neither opens it again nor acts; cancelled once the account leaves scope.
    IDP_ACTION_NEEDED = "idp_action_needed", "Action needed in the identity provider"


# At most one of these per policy and account (database constraint).
OPEN_STATUSES = (
    EnforcementStatus.WARNED,
    EnforcementStatus.DUE,
    EnforcementStatus.AWAITING_REVIEW,
    EnforcementStatus.APPROVED,
    EnforcementStatus.EXECUTING,
    EnforcementStatus.IDP_ACTION_NEEDED,
)


def new_nonce() -> str:
    return secrets.token_hex(8)


class Enforcement(models.Model):
    """One decision about one account under one policy, from the first warning to the action."""

    policy = models.ForeignKey("policies.InactivityPolicy", on_delete=models.PROTECT, related_name="enforcements")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="enforcements")
    status = models.CharField(max_length=24, choices=EnforcementStatus.choices, db_index=True)
    action = models.CharField(max_length=24)
    reason = models.TextField(help_text="Why, in one sentence: product, dates and threshold.")
    inactive_since = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField()
    warned_at = models.DateTimeField(null=True, blank=True, help_text="First warning sent.")
    warnings_sent = models.JSONField(default=list, help_text="Warning offsets (days) already sent.")
    notice_pending = models.CharField(max_length=16, blank=True, help_text="An email still to send: warning/action.")
    notice_failures = models.PositiveIntegerField(default=0)
    notice_error = models.TextField(blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    removed = models.JSONField(default=dict, blank=True, help_text="What the action took away, to give it back.")
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(TaskRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    executed_run = models.ForeignKey(TaskRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    decision_note = models.TextField(blank=True)
    # Changes whenever the row changes state: restore links are bound to it (issue: restoration).
    nonce = models.CharField(max_length=32, default=new_nonce)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "account"],
                condition=Q(status__in=OPEN_STATUSES),
                name="one_open_enforcement_per_policy_account",
            )
        ]
        indexes = [
            models.Index(fields=["policy", "status"], name="enforcement_policy_status"),
            models.Index(fields=["account", "status"], name="enforcement_account_status"),
        ]
        permissions = [("review_enforcement", "Can approve or reject queued enforcements")]

    def __str__(self) -> str:
        return f"{self.policy}: {self.account} ({self.get_status_display()})"

    @property
    def action_label(self) -> str:
        """The action in words ("Remove product access"), for pages and lists."""
        return action_label(self.action)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES
