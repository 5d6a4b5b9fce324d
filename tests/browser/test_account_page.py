"""An account's page offers that account's actions; one leads to the list's own confirmation page
(count, sample, required reason). Screenshots at 1280 and 800 px are kept."""

import pytest
from playwright.sync_api import expect

from accounts.models import Account, AccountStatus
from accounts.sync.runner import organization_sync
from tests.browser.screenshots import save_screenshots

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_suspending_from_the_account_page_asks_for_a_reason_first(logged_in_page, alice, organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    account = Account.objects.filter(status=AccountStatus.ACTIVE, is_org_admin=False).order_by("pk").first()
    page = logged_in_page(alice)
    page.goto(f"/admin/accounts/account/{account.pk}/change/")
    save_screenshots(page, "account-page", fits=True)
    page.locator("#account-bulk_suspend").click()
    expect(page.locator("#bulk-count")).to_have_text("1")
    assert page.locator("textarea[name=reason]").is_visible()
