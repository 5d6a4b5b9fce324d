"""The admin index as an IT admin first sees it after a sync: status, activity, seats (with and
without limits), the trend with its axes, what waits for a decision and what policies would free.
It fits 1280 and 800 px; screenshots of both are kept."""

import pytest

from accounts.sync.runner import organization_sync
from tests.browser.screenshots import save_screenshots
from tests.factories import jira_suspend_policy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_dashboard_after_a_sync(logged_in_page, alice, organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    organization.refresh_from_db()
    jira_suspend_policy(organization)
    page = logged_in_page(alice)
    page.goto("/admin/")
    for panel in ("#dashboard-status", "#dashboard-seats", "#dashboard-trend", "#dashboard-waiting"):
        assert page.locator(panel).is_visible(), panel
    assert page.locator("#dashboard-trend text.trend-label").count() >= 5
    save_screenshots(page, "dashboard", full_page=True, fits=True)
