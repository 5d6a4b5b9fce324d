"""Seat prices and the money a number of seats is worth, per currency.

Amounts in different currencies are never added together: a saving is a sum per currency, and the
products that have no price are named apart (their seats are not worth nothing, they are unknown).
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from accounts.models import SeatPrice

MONTHS_PER_YEAR = 12


@dataclass(frozen=True)
class Price:
    """One seat, per month."""

    monthly: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.monthly:.2f} {self.currency}"


@dataclass(frozen=True)
class Amount:
    currency: str
    monthly: Decimal

    @property
    def yearly(self) -> Decimal:
        return self.monthly * MONTHS_PER_YEAR

    def text(self, *, yearly: bool = False) -> str:
        return f"{self.yearly if yearly else self.monthly:.2f} {self.currency}"


@dataclass
class Savings:
    """Money a number of freed seats saves: a sum per currency, and the products without a price."""

    monthly: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    unpriced: set[str] = field(default_factory=set)

    def add(self, price: Price | None, seats: int, product: str) -> None:
        if seats <= 0:
            return
        if price is None:
            self.unpriced.add(product)
        else:
            self.monthly[price.currency] += price.monthly * seats

    def merge(self, other: "Savings") -> None:
        for currency, amount in other.monthly.items():
            self.monthly[currency] += amount
        self.unpriced |= other.unpriced

    @property
    def amounts(self) -> list[Amount]:
        """One amount per currency, in currency order."""
        return [Amount(currency, self.monthly[currency]) for currency in sorted(self.monthly)]

    @property
    def unpriced_products(self) -> list[str]:
        return sorted(self.unpriced)

    def __bool__(self) -> bool:
        return bool(self.monthly) or bool(self.unpriced)

    def text(self, *, yearly: bool = False) -> str:
        """``"120.00 EUR; 45.50 USD"`` (empty when nothing is priced)."""
        return "; ".join(amount.text(yearly=yearly) for amount in self.amounts)


def seat_prices(product_pks: Iterable[int]) -> dict[int, Price]:
    """``{product pk: price}`` for those of ``product_pks`` that have one (one query)."""
    pks = list(set(product_pks))
    if not pks:
        return {}
    rows = SeatPrice.objects.filter(product_id__in=pks).values_list("product_id", "monthly_price", "currency")
    return {pk: Price(monthly, currency) for pk, monthly, currency in rows}


def savings_for(
    seats: Iterable[tuple[int, int]], prices: dict[int, Price], names: dict[int, str] | None = None
) -> Savings:
    """What ``(product pk, seats)`` pairs save, with ``prices`` from :func:`seat_prices`;
    ``names`` names the products without a price."""
    savings = Savings()
    for product_pk, count in seats:
        savings.add(prices.get(product_pk), count, (names or {}).get(product_pk, str(product_pk)))
    return savings


@dataclass(frozen=True)
class SavingLine:
    """One currency's saving: per month now (``today``, None when not asked), and over a horizon."""

    currency: str
    monthly: Decimal
    today: Decimal | None = None

    @property
    def yearly(self) -> Decimal:
        return self.monthly * MONTHS_PER_YEAR


def saving_lines(savings: Savings, today: Savings | None = None) -> list[SavingLine]:
    """``savings`` per currency, with ``today``'s amount in the same currency beside it."""
    return [
        SavingLine(
            amount.currency, amount.monthly, None if today is None else today.monthly.get(amount.currency, Decimal(0))
        )
        for amount in savings.amounts
    ]
