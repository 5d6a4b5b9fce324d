"""Access review campaigns: people named as reviewers say, item by item, whether access stays.

A campaign has a scope (``ReviewScope``): the members of chosen groups (one item per membership),
the holders of chosen products (one item per account and product), the organization admins or the
external accounts (one item per account); optionally only external accounts. Each item has one
reviewer. At the deadline, or when an admin closes it, what was revoked (and, when the campaign says
so, what nobody decided) is taken away through the accounts services, at most ``max_revocations``
items unless a person raises the cap. What each scope's revoke does is in
policies/services/review_scopes.py.
"""

from django.conf import settings
from django.db import models


class CampaignStatus(models.TextChoices):
    OPEN = "open", "Open (reviewers are deciding)"
    HALTED = "halted", "Halted by its cap (raise the cap, then close again)"
    CLOSED = "closed", "Closed"


class ReviewScope(models.TextChoices):
    GROUPS = "groups", "Members of chosen groups"
    PRODUCTS = "products", "Holders of chosen products"
    ORG_ADMINS = "org_admins", "Organization admins"
    EXTERNAL = "external", "External accounts"


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
    REVOKED = "revoked", "Access removed"
    ALREADY_GONE = "already_gone", "Already without that access"
    FAILED = "failed", "Could not be removed"
    RESTORED = "restored", "Removed, then given back"
    # The Admin API cannot reliably take the organization admin role away: a person does it.
    HANDED_OFF = "handed_off", "To be done by hand in Atlassian"


class GiveBackStatus(models.TextChoices):
    """The person's request, from the link in the removal email, to have a revoked item back."""

    NONE = "", "Not asked"
    REQUESTED = "requested", "Asked for: waiting for the help desk"
    FULFILLED = "fulfilled", "Given back"
    REFUSED = "refused", "Refused"


class ReviewCampaign(models.Model):
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="review_campaigns")
    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=16, choices=ReviewScope.choices, default=ReviewScope.GROUPS)
    groups = models.ManyToManyField(
        "accounts.Group", related_name="review_campaigns", blank=True, help_text="Whose members (scope: groups)."
    )
    products = models.ManyToManyField(
        "accounts.Product",
        related_name="review_campaigns",
        blank=True,
        help_text="Whose holders (scope: products).",
    )
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
    # When the review_campaign.due and .overdue notifications went out (each once per campaign).
    due_notified_at = models.DateTimeField(null=True, blank=True)
    overdue_notified_at = models.DateTimeField(null=True, blank=True)
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
    # The membership reviewed (scope groups) or the product access (scope products); neither for
    # the organization admin role and the external account itself.
    group = models.ForeignKey("accounts.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("accounts.Product", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_items")
    decision = models.CharField(max_length=8, choices=ReviewDecision.choices, blank=True)
    reason = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=ItemOutcome.choices, blank=True, default=ItemOutcome.PENDING)
    outcome_detail = models.TextField(blank=True)
    acted_at = models.DateTimeField(null=True, blank=True)
    # What a product revocation took (the product-access plan: groups and roles), which is what
    # giving it back restores.
    removed = models.JSONField(default=dict, blank=True)
    # The person's request to have it back (policies/services/review_give_back.py). The nonce is
    # bound into the link of the removal email, set when the access is removed and rotated once the
    # link is used, so a link asks once.
    give_back_nonce = models.CharField(max_length=32, blank=True)
    give_back_status = models.CharField(
        max_length=10, choices=GiveBackStatus.choices, blank=True, default=GiveBackStatus.NONE, db_index=True
    )
    give_back_justification = models.TextField(blank=True)
    give_back_requested_at = models.DateTimeField(null=True, blank=True)
    give_back_decided_at = models.DateTimeField(null=True, blank=True)
    give_back_refusal = models.TextField(blank=True, help_text="Why the help desk refused the request.")

    class Meta:
        ordering = ["campaign", "group__name", "account__email", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "account", "group"],
                condition=models.Q(group__isnull=False),
                name="one_review_item_per_membership",
            ),
            models.UniqueConstraint(
                fields=["campaign", "account", "product"],
                condition=models.Q(product__isnull=False),
                name="one_review_item_per_product_access",
            ),
            models.UniqueConstraint(
                fields=["campaign", "account"],
                condition=models.Q(group__isnull=True, product__isnull=True),
                name="one_review_item_per_account",
            ),
        ]
        indexes = [models.Index(fields=["reviewer", "campaign"], name="reviewitem_reviewer")]
        permissions = [
            ("decide_reviewitem", "Can decide own review items"),
            ("restore_reviewitem", "Can give back what a review revoked"),
        ]

    def __str__(self) -> str:
        return f"{self.account}: {self.access}"

    @property
    def access(self) -> str:
        """What is reviewed, in words: the group, the product, or what the scope itself means."""
        if self.group_id is not None:
            return str(self.group)
        if self.product_id is not None:
            return str(self.product)
        if self.campaign.scope == ReviewScope.ORG_ADMINS:
            return "organization admin role"
        return "access to the organization"


# What a person sets when starting a campaign (the admin's form and the API both take these).
CAMPAIGN_START_FIELDS = (
    "organization",
    "name",
    "scope",
    "groups",
    "products",
    "external_only",
    "reviewer",
    "fallback_reviewer",
    "deadline",
    "remind_days_before",
    "undecided",
    "max_revocations",
)
