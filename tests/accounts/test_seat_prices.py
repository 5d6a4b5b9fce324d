"""Seat prices: set on the organization's admin page, validated (not negative, ISO 4217), audited,
shown read-only on the product list."""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import SeatPrice
from governance.audit.models import AuditAction, AuditEvent
from tests.accounts.test_admin_organizations import _form
from tests.factories import OrganizationFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(db):
    return OrganizationFactory(org_id="acme", name="Acme", api_base="https://api.atlassian.com")


@pytest.fixture
def jira(org):
    return ProductFactory(organization=org, key="jira-software", name="Jira Software")


def _with_prices(org, *rows: dict, initial: int = 0) -> dict:
    data = _form(org)
    data.update({"seat_prices-TOTAL_FORMS": str(len(rows)), "seat_prices-INITIAL_FORMS": str(initial)})
    for i, row in enumerate(rows):
        data.update({f"seat_prices-{i}-{key}": value for key, value in row.items()})
    return data


def _post(client, org, *rows, initial=0):
    return client.post(
        reverse("admin:accounts_organization_change", args=[org.pk]), _with_prices(org, *rows, initial=initial)
    )


def test_an_admin_sets_a_price_per_seat_on_the_organization_page_and_it_is_audited(client_for, alice, org, jira):
    response = _post(client_for(alice), org, {"product": jira.pk, "monthly_price": "7.75", "currency": "usd"})
    assert response.status_code == 302, response.content.decode()[:3000]
    price = SeatPrice.objects.get(product=jira)
    assert (str(price.monthly_price), price.currency, price.organization) == ("7.75", "USD", org)
    [event] = AuditEvent.objects.filter(action=AuditAction.SEAT_PRICE_SET)
    assert event.after == {"product": "jira-software", "monthly_price": "7.75", "currency": "USD"}
    assert event.before is None
    assert event.actor_name == "alice"


def test_changing_and_removing_a_price_are_audited_with_the_old_value(client_for, alice, org, jira):
    price = SeatPrice.objects.create(organization=org, product=jira, monthly_price="7.75", currency="USD")
    row = {"id": price.pk, "organization": org.pk, "product": jira.pk, "monthly_price": "8.15", "currency": "USD"}
    assert _post(client_for(alice), org, row, initial=1).status_code == 302
    [changed] = AuditEvent.objects.filter(action=AuditAction.SEAT_PRICE_SET)
    assert (changed.before["monthly_price"], changed.after["monthly_price"]) == ("7.75", "8.15")
    assert _post(client_for(alice), org, {**row, "DELETE": "on"}, initial=1).status_code == 302
    assert not SeatPrice.objects.exists()
    [removed] = AuditEvent.objects.filter(action=AuditAction.SEAT_PRICE_REMOVED)
    assert removed.before["monthly_price"] == "8.15"


@pytest.mark.parametrize(
    ("price", "currency", "message"),
    [
        ("-1", "EUR", "greater than or equal to 0"),
        ("abc", "EUR", "Enter a number"),
        ("5", "EURO", "at most 3 characters"),
        ("5", "ABC", "is not an ISO 4217 currency code"),
        ("5", "XAU", "is not an ISO 4217 currency code"),
    ],
)
def test_a_negative_price_or_an_unknown_currency_is_refused(client_for, alice, org, jira, price, currency, message):
    response = _post(client_for(alice), org, {"product": jira.pk, "monthly_price": price, "currency": currency})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not SeatPrice.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.SEAT_PRICE_SET).exists()


def test_only_the_organization_s_own_products_can_be_priced(client_for, alice, org, jira):
    other = ProductFactory(organization=OrganizationFactory(org_id="other"), key="confluence")
    response = _post(client_for(alice), org, {"product": other.pk, "monthly_price": "5", "currency": "EUR"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not SeatPrice.objects.exists()


def test_the_service_refuses_a_product_of_another_organization(org, jira):
    from django.core.exceptions import ValidationError

    from accounts.services.prices import seat_price_save
    from governance.audit.record import Actor

    other = OrganizationFactory(org_id="other")
    with pytest.raises(ValidationError, match="Not a product of organization"):
        seat_price_save(
            price=SeatPrice(organization=other, product=jira, monthly_price="1", currency="EUR"), actor=Actor.system()
        )


def test_auditors_see_prices_but_cannot_change_them(client_for, audrey, org, jira):
    SeatPrice.objects.create(organization=org, product=jira, monthly_price="7.75", currency="USD")
    page = client_for(audrey).get(reverse("admin:accounts_organization_change", args=[org.pk])).content.decode()
    assert "7.75" in page
    response = _post(client_for(audrey), org, {"product": jira.pk, "monthly_price": "1", "currency": "USD"})
    assert response.status_code == 403
    assert SeatPrice.objects.get().monthly_price == Decimal("7.75")


def test_the_product_list_shows_the_price_or_that_there_is_none(client_for, alice, org, jira):
    ProductFactory(organization=org, key="confluence", name="Confluence", resource_id="ari:confluence")
    SeatPrice.objects.create(organization=org, product=jira, monthly_price="7.75", currency="USD")
    page = client_for(alice).get(reverse("admin:accounts_product_changelist")).content.decode()
    assert "7.75 USD" in page
    assert "no price set" in page
