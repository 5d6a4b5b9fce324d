from django.db import models


class Group(models.Model):
    """An Atlassian group. Licence groups grant product roles (``GroupProductGrant``)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="groups")
    group_id = models.CharField(max_length=200)
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    directory_id = models.CharField(max_length=200, blank=True)
    external_synced = models.BooleanField(
        "synced from identity provider", default=False, help_text="Membership is managed by the IdP: not editable."
    )
    managed_by = models.CharField(max_length=32, blank=True)
    member_count = models.PositiveIntegerField(default=0)
    is_licence_group = models.BooleanField("licence group", default=False)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "group_id"], name="group_unique_per_org")]
        indexes = [models.Index(fields=["organization", "name"], name="group_org_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def editable(self) -> bool:
        return not self.external_synced


class GroupProductGrant(models.Model):
    """A product role a group grants: membership in the group is a seat in the product."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="grants")
    product = models.ForeignKey("accounts.Product", on_delete=models.CASCADE, related_name="group_grants")
    roles = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "product"], name="grant_unique")]

    def __str__(self) -> str:
        return f"{self.group} → {self.product}"


class Membership(models.Model):
    """An account's membership of a group."""

    # No index of their own (db_index=False): the unique (account, group) and the (group, account)
    # indexes below lead with each, so lookups and cascades by either use those. The two single-column
    # indexes only cost writes: a first sync of 100,000 users inserts about a million rows here, and
    # SQLite's index work was a third of the sync's CPU (issue 20, part 2).
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "group"], name="membership_unique")]
        indexes = [models.Index(fields=["group", "account"], name="membership_group_account")]

    def __str__(self) -> str:
        return f"{self.account} in {self.group}"
