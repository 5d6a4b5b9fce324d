"""An admin runs an enforcing policy now: a confirmation page with the counts and a required
reason comes first; confirming queues the run. Screenshots at 1280 and 800 px are kept in
test-results/screenshots/ (tests/browser/screenshots.py)."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.sync.runner import organization_sync
from governance.runs.models import RunStatus, TaskRun
from policies.selectors.preview import policy_preview
from policies.tasks import run_policy_now
from tests.browser.screenshots import FOLDER, save_screenshots
from tests.factories import jira_suspend_policy

pytestmark = pytest.mark.browser


@pytest.fixture
def policy(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    organization.refresh_from_db()
    return jira_suspend_policy(organization)


def test_run_now_shows_the_counts_asks_for_a_reason_and_then_queues_the_run(
    logged_in_page, alice, simulator, policy, monkeypatch
):
    queued = []
    monkeypatch.setattr("policies.admin.run_now.async_task", lambda func, *args, **kw: queued.append((func, args)))
    due = policy_preview(policy, timezone.now()).today_counts["act"]
    assert due > 0, "the simulated org has dormant Jira users"

    page = logged_in_page(alice)
    page.goto(f"/admin/policies/inactivitypolicy/{policy.pk}/change/")
    page.locator("#policy-run-now").click()
    expect(page.locator("#run-count-act")).to_contain_text(f"Suspend {due} accounts")
    expect(page.locator("#run-cap-verdict")).to_contain_text("Within the cap")
    expect(page.locator("#run-seats")).to_contain_text("Jira Software")
    save_screenshots(page, "policy-run-now-confirm", full_page=True, fits=True)

    page.locator("#run-confirm").click()  # no reason yet
    expect(page.locator("#run-confirm-form")).to_contain_text("Give a reason")
    assert not queued
    assert not TaskRun.objects.filter(name="policy").exists()

    page.fill("textarea[name=reason]", "Quarterly licence clean-up")
    page.locator("#run-confirm").click()
    expect(page.locator("ul.messagelist")).to_contain_text(f"Run of {policy.name} queued")
    ((func, args),) = queued
    assert func == "policies.tasks.run_policy_now"
    assert run_policy_now(*args) == RunStatus.SUCCEEDED  # what the worker then does
    run = TaskRun.objects.get(name="policy")
    assert run.counts["executed_done"] == due

    page.goto(f"/admin/policies/policyrun/{run.pk}/change/")
    expect(page.locator("#run-start-reason")).to_contain_text("Quarterly licence clean-up")


def test_the_preview_shows_where_the_cap_halts(logged_in_page, alice, policy):
    policy.warning_days = [14]
    policy.cap_absolute, policy.cap_percent = 50, 5.0
    policy.save()
    page = logged_in_page(alice)
    page.goto(f"/admin/policies/inactivitypolicy/{policy.pk}/preview/")
    expect(page.locator("#cap-halt-day")).to_contain_text("the run halts here")
    expect(page.locator("#cap")).to_contain_text("A run today would halt before warning anyone")
    # The account table below is as wide as the preview's columns (the wide-lists work fits it).
    save_screenshots(page, "policy-preview-cap", full_page=True)
    page.locator("#preview-summary").screenshot(path=str(FOLDER / "policy-preview-cap-summary-1280.png"))
