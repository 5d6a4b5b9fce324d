"""Licence cost: the money the seats a policy frees save, per month and per year, per currency, in
the preview (page, CSV), the run report (page, CSV) and the dashboard; products without a price
say so and amounts in different currencies are never added together."""

import csv
import html
import io
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from accounts.models import Product, SeatPrice
from policies.admin.dashboard import CACHE_KEY
from policies.models import PolicyMode
from policies.selectors.preview import policy_preview
from policies.services.runs import policy_run
from tests.policies.conftest import RUN_AT

pytestmark = pytest.mark.django_db
BOTH = ("jira-software", "confluence")


def _price(organization, key: str, monthly: str, currency: str) -> SeatPrice:
    product = Product.objects.get(organization=organization, key=key)
    return SeatPrice.objects.create(
        organization=organization, product=product, monthly_price=Decimal(monthly), currency=currency
    )


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.delete(CACHE_KEY)
    yield
    cache.delete(CACHE_KEY)


class TestPreview:
    def test_the_preview_turns_the_seats_it_frees_into_money_per_month_and_per_year(self, make_policy, mirrored):
        _price(mirrored, "jira-software", "7.75", "USD")
        policy = make_policy(mode=PolicyMode.PREVIEW)
        preview = policy_preview(policy, RUN_AT)
        [jira] = preview.seats
        assert jira.today > 0
        assert jira.horizon >= jira.today
        assert jira.monthly_today == Decimal("7.75") * jira.today
        assert jira.yearly_horizon == Decimal("7.75") * jira.horizon * 12
        [line] = preview.saving_lines
        assert (line.currency, line.today, line.monthly) == ("USD", Decimal("7.75") * jira.today, jira.monthly_horizon)
        assert line.yearly == Decimal("93.00") * jira.horizon
        assert not preview.savings_horizon.unpriced

    def test_mixed_currencies_are_shown_per_currency_and_never_added(self, make_policy, mirrored):
        _price(mirrored, "jira-software", "7.75", "USD")
        _price(mirrored, "confluence", "5.10", "EUR")
        preview = policy_preview(make_policy(mode=PolicyMode.PREVIEW, products=BOTH), RUN_AT)
        seats = {seat.product: seat for seat in preview.seats}
        assert seats["Jira Software"].horizon > 0
        assert seats["Confluence"].horizon > 0
        lines = {line.currency: line.monthly for line in preview.saving_lines}
        assert lines == {
            "EUR": Decimal("5.10") * seats["Confluence"].horizon,
            "USD": Decimal("7.75") * seats["Jira Software"].horizon,
        }

    def test_a_product_without_a_price_says_so_and_is_not_counted_as_free(
        self, make_policy, mirrored, client_for, alice
    ):
        _price(mirrored, "jira-software", "7.75", "USD")
        policy = make_policy(mode=PolicyMode.PREVIEW, products=BOTH)
        preview = policy_preview(policy, RUN_AT)
        assert preview.savings_horizon.unpriced_products == ["Confluence"]
        assert {line.currency for line in preview.saving_lines} == {"USD"}
        with time_machine.travel(RUN_AT, tick=False):
            page = client_for(alice).get(reverse("admin:policies_inactivitypolicy_preview", args=[policy.pk]))
        text = html.unescape(page.content.decode())
        assert "No price set for this product" in text
        assert "No price per seat for Confluence" in text
        jira = next(seat for seat in preview.seats if seat.product == "Jira Software")
        assert f"{jira.yearly_horizon:.2f} USD" in text

    def test_the_preview_page_shows_each_currency_on_its_own_line(self, make_policy, mirrored, client_for, alice):
        _price(mirrored, "jira-software", "7.75", "USD")
        _price(mirrored, "confluence", "5.10", "EUR")
        policy = make_policy(mode=PolicyMode.PREVIEW, products=BOTH)
        with time_machine.travel(RUN_AT, tick=False):
            page = client_for(alice).get(reverse("admin:policies_inactivitypolicy_preview", args=[policy.pk]))
        text = page.content.decode()
        assert 'data-currency="EUR"' in text
        assert 'data-currency="USD"' in text
        assert "never added together" in text

    def test_the_preview_csv_says_what_each_account_acted_on_saves(self, make_policy, mirrored, client_for, alice):
        _price(mirrored, "jira-software", "7.75", "USD")
        _price(mirrored, "confluence", "5.10", "EUR")
        policy = make_policy(mode=PolicyMode.PREVIEW, products=BOTH)
        with time_machine.travel(RUN_AT, tick=False):
            response = client_for(alice).get(
                reverse("admin:policies_inactivitypolicy_preview_csv", args=[policy.pk]) + "?show=act"
            )
        rows = _csv(response)
        assert rows
        for row in rows:
            expected = []
            if "Confluence" in row["products"]:
                expected.append("5.10 EUR")
            if "Jira Software" in row["products"]:
                expected.append("7.75 USD")
            assert row["saving_per_month"] == "; ".join(expected)
        both = next(row for row in rows if row["saving_per_month"].count(";") == 1)
        assert both["saving_per_year"] == "61.20 EUR; 93.00 USD"

    def test_a_notify_only_policy_saves_nothing(self, make_policy, mirrored):
        _price(mirrored, "jira-software", "7.75", "USD")
        preview = policy_preview(make_policy(mode=PolicyMode.PREVIEW, action="notify"), RUN_AT)
        assert not preview.saving_lines
        assert not preview.seats


class TestRunReport:
    def test_the_run_page_and_its_csv_show_what_the_run_saved(
        self, make_policy, mirrored, atlassian, client_for, alice
    ):
        _price(mirrored, "jira-software", "12.00", "GBP")
        policy = make_policy()
        result = policy_run(policy=policy, now=RUN_AT, client=atlassian)
        done = result.counts["executed_done"]
        assert done > 0
        page = client_for(alice).get(reverse("admin:policies_policyrun_change", args=[result.run.pk]))
        section = html.unescape(page.content.decode()).split('id="run-savings"')[1].split("</fieldset>")[0]
        assert f"{Decimal('12.00') * done:.2f} GBP" in section
        assert f"{Decimal('144.00') * done:.2f} GBP" in section
        rows = _csv(client_for(alice).get(reverse("admin:policies_policyrun_affected_csv", args=[result.run.pk])))
        executed = [row for row in rows if row["executed_by_this_run"] == "yes" and row["status"] == "done"]
        assert len(executed) == done
        assert {row["saving_per_month"] for row in executed} == {"12.00 GBP"}
        assert {row["saving_per_year"] for row in executed} == {"144.00 GBP"}

    def test_a_dry_run_saved_nothing_and_says_where_to_look(self, make_policy, mirrored, atlassian, client_for, alice):
        _price(mirrored, "jira-software", "12.00", "GBP")
        result = policy_run(policy=make_policy(mode=PolicyMode.PREVIEW), now=RUN_AT, client=atlassian)
        page = client_for(alice).get(reverse("admin:policies_policyrun_change", args=[result.run.pk]))
        section = page.content.decode().split('id="run-savings"')[1].split("</fieldset>")[0]
        assert "a dry run changes nothing" in section
        assert "GBP" not in section


class TestDashboard:
    def test_the_dashboard_shows_the_money_next_to_the_seats(self, make_policy, mirrored, client_for, alice):
        _price(mirrored, "jira-software", "7.75", "USD")
        make_policy(warning_days=[14])
        make_policy(name="Confluence idle", products=("confluence",), mode=PolicyMode.PREVIEW, warning_days=[14])
        page = html.unescape(client_for(alice).get(reverse("admin:index")).content.decode())
        panel = page.split('id="dashboard-policy-savings"')[1]
        jira_row = panel.split("Jira Software</td>")[1].split("</tr>")[0]
        seats = int(jira_row.split('<td class="count">')[1].split("<")[0])
        assert seats > 0
        assert f"{Decimal('7.75') * seats:.2f} / {Decimal('93.00') * seats:.2f} USD" in jira_row
        confluence_row = panel.split("Confluence</td>")[1].split("</tr>")[0]
        assert "No price set" in confluence_row
        assert "No price per seat for" in panel
        assert "Confluence" in panel.split('id="dashboard-unpriced"')[1]


class TestApi:
    def test_the_api_preview_gives_the_savings_per_currency(self, make_policy, mirrored, client_for, alice):
        from rest_framework.test import APIClient

        _price(mirrored, "jira-software", "7.75", "USD")
        _price(mirrored, "confluence", "5.10", "EUR")
        policy = make_policy(mode=PolicyMode.PREVIEW, products=BOTH)
        expected = policy_preview(policy, RUN_AT)
        api = APIClient()
        api.force_login(alice)
        with time_machine.travel(RUN_AT, tick=False):
            body = api.get(reverse("api:policy-preview", args=[policy.pk])).json()
        per_currency = {entry["currency"]: entry for entry in body["savings"]}
        assert sorted(per_currency) == ["EUR", "USD"]
        for line in expected.saving_lines:
            assert Decimal(per_currency[line.currency]["per_month"]) == line.monthly
            assert Decimal(per_currency[line.currency]["per_year"]) == line.yearly
        jira = next(seat for seat in body["seats"] if seat["product"] == "Jira Software")
        assert (jira["price_per_month"], jira["currency"]) == ("7.75", "USD")
        assert body["products_without_price"] == []
