from django.db import models


class Product(models.Model):
    """A product instance (site) of the organization: Jira Software on acme, Confluence on acme ..."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="products")
    key = models.CharField(max_length=64, help_text="e.g. jira-software, confluence")
    resource_id = models.CharField("resource ARI", max_length=300)
    name = models.CharField(max_length=200, blank=True)
    seats_total = models.PositiveIntegerField(null=True, blank=True)
    seats_used = models.PositiveIntegerField(null=True, blank=True)
    seats_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["organization", "resource_id"], name="product_unique_per_org")]

    def __str__(self) -> str:
        return self.name or self.key


class ProductGrant(models.TextChoices):
    GROUP = "group", "Through a group"
    DIRECT = "direct", "Direct role"
    UNKNOWN = "unknown", "Unknown"


class ProductAccess(models.Model):
    """An account's access to a product, with when they last used it (None = never)."""

    # No single-column indexes (db_index=False), as for Membership: the unique (account, product)
    # and the (product, last_active) indexes lead with each column and serve its lookups.
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="product_access", db_index=False
    )
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="access", db_index=False)
    last_active = models.DateTimeField(null=True, blank=True)
    granted = models.CharField(max_length=8, choices=ProductGrant.choices, default=ProductGrant.UNKNOWN)

    class Meta:
        verbose_name_plural = "product access"
        constraints = [models.UniqueConstraint(fields=["account", "product"], name="product_access_unique")]
        indexes = [models.Index(fields=["product", "last_active"], name="product_access_activity")]

    def __str__(self) -> str:
        return f"{self.account} → {self.product}"
