"""A Portal admin clicks "Sync now" on the dashboard and watches the sync's progress page until it ends."""

import pytest
from playwright.sync_api import expect

from accounts.models import Account
from governance.schedules import apply_schedules
from tests import taskqueue
from tests.browser.screenshots import save_screenshots

pytestmark = pytest.mark.browser


def test_sync_now_queues_a_sync_whose_page_follows_it_to_the_end(logged_in_page, alice, organization):
    apply_schedules()
    page = logged_in_page(alice)
    status = page.locator("#sync-status")
    expect(status).to_contain_text("never")
    expect(status).to_contain_text("Next scheduled")
    save_screenshots(page, "dashboard-sync-status", full_page=True)
    status.get_by_role("button", name="Sync now").click()

    expect(page.locator("#sync-run-status")).to_contain_text("Queued: waiting for a task worker")
    save_screenshots(page, "sync-queued", full_page=True)
    page.goto("/admin/")
    page.locator("#sync-status").get_by_role("button", name="Show progress").click()
    expect(page.locator(".messagelist")).to_contain_text("already queued")

    assert taskqueue.run_queued_tasks() == 1  # what the cluster's worker does
    users = Account.objects.filter(organization=organization).count()
    # The page refreshes itself: no click needed to see the end.
    expect(page.locator("#sync-run-status")).to_contain_text("Succeeded", timeout=10_000)
    expect(page.locator("#sync-run-progress")).to_contain_text(f"{users} of {users} accounts processed")
    save_screenshots(page, "sync-done", full_page=True)

    page.goto("/admin/accounts/account/")
    expect(page.locator("#sync-status .sync-last")).to_contain_text("Succeeded")
    save_screenshots(page, "accounts-list-sync-status", full_page=True)
