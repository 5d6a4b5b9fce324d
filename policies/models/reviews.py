"""Access review campaigns: people named as reviewers say, member by member, whether access stays.

A campaign covers the members of chosen groups (optionally only external accounts). Each
(account, group) membership is one item with one reviewer. At the deadline, or when an admin
closes it, what was revoked (and, when the campaign says so, what nobody decided) is taken away
through the accounts services, at most ``max_revocations`` items unless a person raises the cap.
"""

from django.conf import settings
from django.db import models


class CampaignStatus(models.TextChoices):
    OPEN = "open", "Open (reviewers are deciding)"
    HALTED = "halted", "Halted by its cap (raise the cap, then close again)"
    CLOSED = "closed", "Closed"


class UndecidedOutcome(models.TextChoices):
    KEEP = "keep", "Keep access nobody decided on"
    REVOKE = "revoke", "Revoke access nobody decided on"


class ReviewDecision(models.TextChoices):
    KEEP = "keep", "Keep"
    REVOKE = "revoke", "Revoke"


class ItemOutcome(models.TextChoices):
    """The action carried out at close: the evidence's last column."""

    PENDING = "", "Not closed yet"
    ACTING = "acting", "Being taken away"
    KEPT = "kept", "Kept"
    REVOKED = "revoked", "Removed from the group"
    ALREADY_GONE = "already_gone", "Already out of the group"
    FAILED = "failed", "Could not be removed"
    RESTORED = "restored", "Removed, then given back"


class ReviewCampaign(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="review_campaigns")
    name = models.CharField(max_length=200)
    groups = models.ManyToManyField("accounts.Group", related_name="review_campaigns", help_text="Whose members.")
    external_only = models.BooleanField(default=False, help_text="Only accounts from outside the organization.")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Reviews every item. Empty: each group's owner (Review owners), else the fallback.",
    )
    fallback_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    deadline = models.DateTimeField()
    remind_days_before = models.PositiveSmallIntegerField(default=2)
    reminded_at = models.DateTimeField(null=True, blank=True)
    undecided = models.CharField(max_length=8, choices=UndecidedOutcome.choices, default=UndecidedOutcome.KEEP)
    max_revocations = models.PositiveIntegerField(
        default=25, help_text="Closing refuses to remove more than this; a person raises it to go on."
    )
    status = models.CharField(max_length=8, choices=CampaignStatus.choices, default=CampaignStatus.OPEN, db_index=True)
    status_note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class GroupReviewOwner(models.Model):
    """Who reviews a group's members when a campaign names no reviewer."""

    group = models.OneToOneField("accounts.Group", on_delete=models.CASCADE, related_name="review_owner")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.user} reviews {self.group}"


class ReviewItem(models.Model):
    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="items")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey("accounts.Group", on_delete=models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_items")
    decision = models.CharField(max_length=8, choices=ReviewDecision.choices, blank=True)
    reason = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=ItemOutcome.choices, blank=True, default=ItemOutcome.PENDING)
    outcome_detail = models.TextField(blank=True)
    acted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign", "group__name", "account__email", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "account", "group"], name="one_review_item_per_membership")
        ]
        indexes = [models.Index(fields=["reviewer", "campaign"], name="reviewitem_reviewer")]
        permissions = [("decide_reviewitem", "Can decide own review items")]

    def __str__(self) -> str:
        return f"{self.account} in {self.group}"


# What a person sets when starting a campaign (the admin's form and the API both take these).
CAMPAIGN_START_FIELDS = (
    "organization",
    "name",
    "groups",
    "external_only",
    "reviewer",
    "fallback_reviewer",
    "deadline",
    "remind_days_before",
    "undecided",
    "max_revocations",
)
