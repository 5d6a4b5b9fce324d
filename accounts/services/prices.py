"""Seat prices: set and removed through the organization's admin page, each change audited."""

from typing import Any

from django.db import transaction

from accounts.models import SeatPrice
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event


def _values(price: SeatPrice) -> dict[str, Any]:
    return {"product": price.product.key, "monthly_price": str(price.monthly_price), "currency": price.currency}


def seat_price_save(*, price: SeatPrice, actor: Actor) -> SeatPrice:
    """Create or change a product's price per seat (validated: not negative, an ISO 4217 currency)."""
    price.currency = (price.currency or "").strip().upper()
    price.full_clean()
    with transaction.atomic():
        previous = SeatPrice.objects.filter(pk=price.pk).select_related("product").first() if price.pk else None
        before = _values(previous) if previous else None
        price.save()
        after = _values(price)
        if before != after:
            record_event(
                actor=actor,
                action=AuditAction.SEAT_PRICE_SET,
                target=price.product,
                before=before,
                after=after,
                organization=price.organization.org_id,
            )
    return price


def seat_price_delete(*, price: SeatPrice, actor: Actor) -> None:
    """Forget a product's price: its seats are shown as "no price" again."""
    with transaction.atomic():
        record_event(
            actor=actor,
            action=AuditAction.SEAT_PRICE_REMOVED,
            target=price.product,
            before=_values(price),
            organization=price.organization.org_id,
        )
        price.delete()
