"""Onboarding rules: "when the sync first sees an account that matches these conditions, add it to
these groups", and the items they decide (queued for review, done, skipped by the cap...)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from accounts.models import AccountType
from policies.models.policies import ClaimScope, PolicyMode


class OnboardingRule(models.Model):
    """Conditions on a newly seen account, and the groups it is then added to.

    Every condition left empty matches everyone; the ones given must all hold. Modes as policies
    have: preview (nothing changes, the preview lists who would get what), review (items queued
    for approval), enforce (added at once). A new rule starts in preview."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="onboarding_rules")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True, help_text="Disabled rules are never applied.")
    mode = models.CharField(max_length=16, choices=PolicyMode.choices, default=PolicyMode.PREVIEW)
    # Conditions
    email_pattern = models.CharField(
        max_length=200,
        blank=True,
        help_text="Shell-style, case-insensitive, e.g. *@example.com; a bare domain (example.com) means "
        "*@example.com. Empty: any address.",
    )
    directory_id = models.CharField(
        "directory", max_length=200, blank=True, help_text="The directory's id (see the organization). Empty: any."
    )
    claim_scope = models.CharField(max_length=16, choices=ClaimScope.choices, default=ClaimScope.ALL)
    account_type = models.CharField(
        max_length=16,
        blank=True,
        choices=AccountType.choices,
        help_text="Empty: any type.",
    )
    member_of = models.ManyToManyField(
        "accounts.Group",
        blank=True,
        related_name="+",
        help_text="Only members of any of these groups (empty: no condition).",
    )
    # What it gives
    add_groups = models.ManyToManyField(
        "accounts.Group", related_name="+", help_text="The groups the account is added to."
    )
    # Safety
    cap_per_run = models.PositiveIntegerField(
        default=50,
        validators=[MinValueValidator(1)],
        help_text="Most accounts one run (a sync's hook, or one bulk application) may act on or queue; the rest "
        "are recorded as skipped by the cap, for a reviewer to approve.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        pattern = (self.email_pattern or "").strip()
        if pattern and "@" not in pattern and not any(c in pattern for c in "*?["):
            pattern = f"*@{pattern}"  # a bare domain
        self.email_pattern = pattern
        if self.account_type and self.account_type != AccountType.ATLASSIAN and self.claim_scope != ClaimScope.ALL:
            raise ValidationError({"claim_scope": "Only Atlassian accounts are managed or external."})


class OnboardingItemStatus(models.TextChoices):
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"
    SKIPPED_BY_CAP = "skipped_by_cap", "Skipped by the run's cap"
    DONE = "done", "Added"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"


# Items a reviewer may still approve (or reject).
DECIDABLE_STATUSES = (OnboardingItemStatus.AWAITING_REVIEW, OnboardingItemStatus.SKIPPED_BY_CAP)


class OnboardingItem(models.Model):
    """One account a rule would add to its groups: queued (review mode, or beyond the cap), then
    done, rejected or failed. One open item per rule and account (a database constraint)."""

    rule = models.ForeignKey(OnboardingRule, on_delete=models.CASCADE, related_name="items")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    groups = models.JSONField(default=list, help_text="Pks of the groups to add, as decided when queued.")
    status = models.CharField(max_length=16, choices=OnboardingItemStatus.choices, db_index=True)
    error = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    decision_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "account"],
                condition=Q(status__in=["awaiting_review", "skipped_by_cap"]),
                name="one_open_onboarding_item",
            )
        ]
        permissions = [("review_onboardingitem", "Can approve or reject queued onboarding items")]

    def __str__(self) -> str:
        return f"{self.rule}: {self.account} ({self.get_status_display()})"


# What a person sets on a rule (the admin's form and the API's serializer both take these).
RULE_FIELDS = (
    "organization",
    "name",
    "description",
    "enabled",
    "mode",
    "email_pattern",
    "directory_id",
    "claim_scope",
    "account_type",
    "member_of",
    "add_groups",
    "cap_per_run",
)
