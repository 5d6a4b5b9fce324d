"""An admin finds dormant accounts and suspends some; help desk is not offered that."""

import pytest
from playwright.sync_api import expect

from accounts.filtersets import AccountFilterSet
from accounts.models import Account, Group
from accounts.sync.runner import organization_sync

pytestmark = pytest.mark.browser


@pytest.fixture
def mirrored(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    return organization


def _dormant_plain_accounts() -> list[Account]:
    """Accounts the "Inactive over 180 days" filter lists that the portal may suspend, in list order."""
    data = {"inactivity": "gt180", "status": "active", "is_org_admin": "false"}
    return list(AccountFilterSet(data, queryset=Account.objects.order_by("name", "id")).qs)


def test_an_admin_filters_to_dormant_accounts_and_suspends_two_of_them(logged_in_page, alice, simulator, mirrored):
    page = logged_in_page(alice)
    page.goto("/admin/accounts/account/")
    filters = page.locator("#changelist-filter")
    filters.get_by_role("link", name="Inactive over 180 days").click()
    page.wait_for_url("**inactivity=gt180**")
    filters.locator("details[data-filter-title='status']").get_by_role("link", name="Active", exact=True).click()
    page.wait_for_url("**status=active**")

    targets = _dormant_plain_accounts()[:2]
    assert len(targets) == 2, "the simulated org has dormant accounts"
    for account in targets:
        page.check(f"input.action-select[value='{account.pk}']")
    page.select_option("select[name=action]", "bulk_suspend")
    page.get_by_role("button", name="Go").first.click()

    expect(page.locator("#bulk-count")).to_have_text("2")
    page.fill("textarea[name=reason]", "Dormant for more than 180 days")
    page.get_by_role("button", name="Yes, suspend").click()

    expect(page.locator("#bulk-summary")).to_contain_text("2 done")
    for account in targets:
        expect(page.locator("#bulk-results")).to_contain_text(str(account))
        assert simulator.state.user(account.account_id).status == "suspended"
        account.refresh_from_db()
        assert account.status == "suspended"


def test_the_confirmation_asks_for_a_reason_before_doing_anything(logged_in_page, alice, simulator, mirrored):
    page = logged_in_page(alice)
    target = _dormant_plain_accounts()[0]
    page.goto("/admin/accounts/account/?inactivity=gt180")
    page.check(f"input.action-select[value='{target.pk}']")
    page.select_option("select[name=action]", "bulk_suspend")
    page.get_by_role("button", name="Go").first.click()
    page.get_by_role("button", name="Yes, suspend").click()
    expect(page.locator("#bulk-action-form")).to_contain_text("Give a reason")
    assert simulator.state.user(target.account_id).status == "active"


def test_the_group_filter_finds_a_group_as_you_type(logged_in_page, alice, mirrored):
    group = Group.objects.get(name="jira-software-users")
    page = logged_in_page(alice)
    page.goto("/admin/accounts/account/")
    page.fill("#group-filter-text", "jira-software-users")
    expect(page.locator("#group-filter-id")).to_have_value(str(group.pk))
    page.locator("#group-filter-form").get_by_role("button", name="Apply").click()
    page.wait_for_url(f"**group={group.pk}**")
    expect(page.locator("#changelist-filter")).to_contain_text("Member of jira-software-users")


def test_help_desk_is_offered_activate_but_not_suspend(logged_in_page, hank, mirrored):
    page = logged_in_page(hank)
    page.goto("/admin/accounts/account/")
    offered = page.locator("select[name=action] option").evaluate_all("options => options.map(o => o.value)")
    assert "bulk_activate" in offered
    assert "bulk_suspend" not in offered
    assert "bulk_deactivate" not in offered


def test_a_suspension_slower_than_the_page_may_take_says_where_the_rest_goes_on(
    logged_in_page, alice, simulator, mirrored, settings, monkeypatch
):
    from django_q.conf import Conf

    from tests.browser.screenshots import save_screenshots

    settings.ATLASSIAN_CONCURRENCY = 1
    settings.BULK_ACTION_INLINE_BUDGET = 0.2  # spent during the first account: 3 calls of 100 ms
    simulator.faults.latency_ms = 100
    monkeypatch.setattr(Conf, "SYNC", True)  # the background part runs at once, as a cluster would
    targets = _dormant_plain_accounts()[:4]
    page = logged_in_page(alice)
    page.goto("/admin/accounts/account/?inactivity=gt180")
    for account in targets:
        page.check(f"input.action-select[value='{account.pk}']")
    page.select_option("select[name=action]", "bulk_suspend")
    page.get_by_role("button", name="Go").first.click()
    page.fill("textarea[name=reason]", "Dormant for more than 180 days")
    page.get_by_role("button", name="Yes, suspend").click()

    expect(page.locator("#bulk-continued")).to_contain_text("could not be started")
    save_screenshots(page, "bulk-result-continued", fits=True)
    page.locator("#bulk-continued").get_by_role("link", name="Follow their progress").click()
    expect(page.locator("#content")).to_contain_text("Succeeded")
    assert {simulator.state.user(a.account_id).status for a in targets} == {"suspended"}
