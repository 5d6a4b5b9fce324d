"""A Portal admin confirms an import above IMPORT_BACKGROUND_ROWS and follows it on its page to the result."""

import pytest
from playwright.sync_api import expect

from accounts.models import Account
from tests import taskqueue
from tests.accounts.export_files import export_file
from tests.browser.screenshots import save_screenshots
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.browser


def test_a_large_import_runs_in_the_background_with_progress_and_a_result(
    logged_in_page,
    alice,
    settings,
):
    settings.IMPORT_BACKGROUND_ROWS = 2  # the fixture's 4 accounts are "large"
    org = OrganizationFactory()
    page = logged_in_page(alice)
    page.goto("/admin/accounts/account/import/")
    page.select_option("#id_resource", value="1")  # the Atlassian admin CSV export (seed)
    page.select_option("#id_organization", str(org.pk))
    page.set_input_files(
        "#id_import_file",
        files=[{"name": "users.csv", "mimeType": "text/csv", "buffer": export_file("atlassian_users_export.csv")}],
    )
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("button", name="Confirm import").click()

    expect(page.locator("#import-run-status")).to_contain_text("Running: 0 of 4 accounts handled")
    save_screenshots(page, "import-running", full_page=True)
    assert not Account.objects.exists()

    assert taskqueue.run_queued_tasks() == 1  # what the cluster's worker does
    expect(page.locator("#import-run-status")).to_contain_text("Succeeded: 4 of 4", timeout=10_000)
    expect(page.locator("#import-outcome")).to_contain_text("The mirror was seeded from the file")
    save_screenshots(page, "import-done", full_page=True)
    assert Account.objects.filter(organization=org).count() == 4
