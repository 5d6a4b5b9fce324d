from django.db import models


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    DEACTIVATED = "deactivated", "Deactivated"
    PENDING_DELETION = "pending_deletion", "Pending deletion"
    NOT_IN_DIRECTORY = "not_in_directory", "Not in a directory"
    REMOVED = "removed", "Removed"
    # Atlassian sent a status the portal does not know: mirrored, reported by the sync, never acted on.
    UNKNOWN = "unknown", "Unknown"


class AccountType(models.TextChoices):
    ATLASSIAN = "atlassian", "Atlassian"
    APP = "app", "App"
    CUSTOMER = "customer", "Customer"
    UNKNOWN = "unknown", "Unknown"


class Account(models.Model):
    """One Atlassian account in one organization. Never a portal login."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="accounts")
    account_id = models.CharField(max_length=128)
    email = models.CharField(max_length=254, null=True, blank=True, help_text="Empty when the person hides it.")
    name = models.CharField(max_length=300, blank=True)
    account_type = models.CharField(max_length=16, choices=AccountType.choices, default=AccountType.ATLASSIAN)
    status = models.CharField(max_length=20, choices=AccountStatus.choices, default=AccountStatus.ACTIVE)
    status_changed_at = models.DateTimeField(null=True, blank=True, help_text="When the mirror saw this status begin.")
    managed = models.BooleanField(default=False, help_text="Claimed by the organization (verified domain).")
    is_org_admin = models.BooleanField("org admin", default=False)
    management_source = models.CharField(
        max_length=16,
        blank=True,
        help_text="invited, or synced: provisioned by an identity provider (SCIM), whose lifecycle "
        "Atlassian refuses to change through its API.",
    )
    directory_id = models.CharField(
        "directory",
        max_length=200,
        null=True,
        blank=True,
        editable=False,
        help_text="The Atlassian directory the account belongs to, as the last sync saw it: suspend, restore "
        "and removal name it. Empty for a managed account in no directory.",
    )
    added_to_org = models.DateTimeField(null=True, blank=True)
    last_active = models.DateTimeField(null=True, blank=True, help_text="Latest activity over all products.")
    billable = models.BooleanField(default=False)
    licence_group_count = models.PositiveIntegerField("licence groups", default=0)
    restored_at = models.DateTimeField(null=True, blank=True, help_text="Last time the portal gave access back.")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    portal_changed_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Last time a portal service changed this account in Atlassian (and in the mirror).",
    )
    return_on = models.DateField(
        "return date",
        null=True,
        blank=True,
        editable=False,
        help_text="On this day the portal gives back what its policies took from the account, and tells the "
        "person. Set through accounts.services.returns (admin, API, import column return_on).",
    )
    # The daily job's claim on a due return date (a conditional UPDATE, as enforcements are claimed).
    # Nullable: the sync's upsert writes only its own columns and leaves the others NULL.
    return_claimed_by = models.CharField(max_length=64, null=True, blank=True, editable=False)
    return_claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    imported_as_of = models.DateTimeField(
        "imported, not yet synced",
        null=True,
        blank=True,
        editable=False,
        help_text=(
            "Set when an import of an Atlassian CSV export changed this account and no sync has seen it since: "
            "the date of that file. Policies leave the account alone until a sync confirms it; the next sync "
            "that sees the account clears this."
        ),
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "account_id"], name="account_unique_per_org"),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "id"], name="account_org_status"),
            models.Index(fields=["organization", "last_active", "id"], name="account_org_last_active"),
            models.Index(fields=["last_active", "id"], name="account_last_active"),
            models.Index(fields=["status", "id"], name="account_status"),
            models.Index(fields=["managed", "id"], name="account_managed"),
            models.Index(fields=["account_type", "id"], name="account_type"),
            models.Index(fields=["email"], name="account_email"),
            models.Index(fields=["name", "id"], name="account_name"),
            models.Index(fields=["return_on"], name="account_return_on"),
        ]
        permissions = [
            ("activate_account", "Can restore or re-enable an account"),
            ("suspend_account", "Can suspend or deactivate an account"),
            ("change_membership", "Can add or remove group memberships"),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.account_id

    @property
    def provisioned_by_idp(self) -> bool:
        """Provisioned by an identity provider (SCIM): Atlassian refuses lifecycle changes (DESIGN.md 5.11)."""
        return self.management_source == MANAGED_BY_IDP


# Atlassian's v2 ``managementSource`` of an account an identity provider provisions.
MANAGED_BY_IDP = "synced"
