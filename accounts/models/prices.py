from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from accounts.currencies import validate_currency


class SeatPrice(models.Model):
    """What one seat of a product costs the organization per month, in one currency.

    Policies' previews, run reports, the dashboard and their CSVs turn the seats a policy frees into
    money with it. A product without a price is shown as such, never as free."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="seat_prices")
    product = models.ForeignKey("accounts.Product", on_delete=models.CASCADE, related_name="seat_prices")
    monthly_price = models.DecimalField(
        "price per seat per month",
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="For a yearly subscription, the yearly price divided by 12.",
    )
    currency = models.CharField(max_length=3, validators=[validate_currency], help_text="ISO 4217, e.g. EUR, USD.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product__key", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["product"], name="seat_price_one_per_product"),
            models.CheckConstraint(condition=models.Q(monthly_price__gte=0), name="seat_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product}: {self.monthly_price} {self.currency} per seat per month"

    def clean(self) -> None:
        self.currency = (self.currency or "").strip().upper()
        if self.product_id and self.organization_id and self.product.organization_id != self.organization_id:
            raise ValidationError({"product": f"Not a product of organization {self.organization}."})
