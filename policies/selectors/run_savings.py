"""What a policy run saved: the seats its completed actions freed, per product, and their money.

An action the run completed (status done, executed by this run) frees, for a product removal, the
products its plan took away (``removed["resources"]``, the instances' ARIs); for a suspension,
deactivation or deletion, the seats of the account's products in the policy's scope (all its
products when the policy names none), as the preview counts them. Actions given back since
(reversed) save nothing and are not counted.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from accounts.models import Product
from accounts.selectors.prices import (
    MONTHS_PER_YEAR,
    Price,
    SavingLine,
    Savings,
    saving_lines,
    savings_for,
    seat_prices,
)
from governance.runs.models import TaskRun
from policies.models import Enforcement, EnforcementStatus, InactivityPolicy, PolicyAction
from policies.selectors.dashboard import products_held


@dataclass(frozen=True)
class FreedSeats:
    product: str
    seats: int
    price: Price | None

    @property
    def monthly(self) -> Decimal | None:
        return self.price.monthly * self.seats if self.price else None

    @property
    def yearly(self) -> Decimal | None:
        return self.price.monthly * self.seats * MONTHS_PER_YEAR if self.price else None


@dataclass
class RunSavings:
    products: list[FreedSeats] = field(default_factory=list)
    total: Savings = field(default_factory=Savings)
    # enforcement pk -> what its action saves (for the run's CSV)
    by_enforcement: dict[int, Savings] = field(default_factory=dict)

    @property
    def lines(self) -> list[SavingLine]:
        return saving_lines(self.total)


def run_savings(run: TaskRun) -> RunSavings:
    """The seats ``run`` freed and what they save per month and per year, per currency."""
    done = list(
        Enforcement.objects.filter(executed_run_id=run.pk, status=EnforcementStatus.DONE).values_list(
            "pk", "account_id", "policy_id", "action", "removed"
        )
    )
    if not done:
        return RunSavings()
    products = {p.pk: p for p in Product.objects.filter(organization__org_id=run.organization)}
    by_resource = {p.resource_id: p.pk for p in products.values()}
    by_key: dict[str, list[int]] = defaultdict(list)
    for product in products.values():
        by_key[product.key].append(product.pk)
    freed: dict[int, list[int]] = defaultdict(list)
    whole_accounts: dict[int, list[tuple[int, int]]] = defaultdict(list)  # policy pk -> (enforcement, account)
    for pk, account_pk, policy_pk, action, removed in done:
        if action == PolicyAction.REMOVE_PRODUCT_ACCESS:
            removed = removed or {}
            if removed.get("resources"):
                freed[pk] = [by_resource[r] for r in removed["resources"] if r in by_resource]
            else:  # a plan recorded before instances were told apart: its product keys
                freed[pk] = [p for key in removed.get("products", []) for p in by_key[key]]
        elif action != PolicyAction.NOTIFY:
            whole_accounts[policy_pk].append((pk, account_pk))
    scoped = InactivityPolicy.products.through.objects.filter(inactivitypolicy_id__in=list(whole_accounts))
    scope: dict[int, list[int]] = defaultdict(list)
    for policy_pk, product_pk in scoped.values_list("inactivitypolicy_id", "product_id"):
        scope[policy_pk].append(product_pk)
    for policy_pk, cases in whole_accounts.items():
        enforcement_of = {account_pk: pk for pk, account_pk in cases}
        for account_pk, product_pk in products_held(enforcement_of, scope[policy_pk]):
            freed[enforcement_of[account_pk]].append(product_pk)

    prices = seat_prices(products)
    names = {pk: p.name or p.key for pk, p in products.items()}
    seats: dict[int, int] = defaultdict(int)
    result = RunSavings()
    for pk, product_pks in freed.items():
        result.by_enforcement[pk] = savings_for(((p, 1) for p in product_pks), prices, names)
        for product_pk in product_pks:
            seats[product_pk] += 1
    result.products = sorted(
        (FreedSeats(names[pk], count, prices.get(pk)) for pk, count in seats.items()),
        key=lambda row: (-row.seats, row.product),
    )
    for row in result.products:
        result.total.add(row.price, row.seats, row.product)
    return result
