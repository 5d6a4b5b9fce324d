"""The wide lists an IT admin reads all day fit the screen: at 1280 px the accounts, enforcements
and audit-event tables are no wider than the viewport (no horizontal scrolling) and their rows are
at most two lines; at 800 px they stay usable. Screenshots of each at both widths are kept."""

import pytest

from accounts.sync.runner import organization_sync
from governance.audit.record import Actor
from policies.services.runs import policy_run
from tests.browser.screenshots import save_screenshots
from tests.factories import jira_suspend_policy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTS = {
    "accounts": "/admin/accounts/account/",
    "enforcements": "/admin/policies/enforcement/",
    "audit-events": "/admin/governance/auditevent/",
}


@pytest.fixture
def busy_org(organization, atlassian):
    """A mirrored organization with a policy run behind it: every list has rows."""
    assert organization_sync(organization=organization, client=atlassian).ok
    organization.refresh_from_db()
    policy_run(policy=jira_suspend_policy(organization), actor=Actor.system("layout test"))
    return organization


def _measure(page) -> dict:
    return page.evaluate(
        """() => {
            const table = document.querySelector('#result_list');
            const box = table.closest('.results');
            const rows = [...table.querySelectorAll('tbody tr')];
            const line = parseFloat(getComputedStyle(table.querySelector('tbody td')).lineHeight) || 18;
            return {
                table: table.getBoundingClientRect().right,
                // The table scrolls inside its container when wider than it: count that too.
                overflow: box.scrollWidth - box.clientWidth,
                viewport: document.documentElement.clientWidth,
                scroll: document.documentElement.scrollWidth,
                tallest: Math.max(...rows.map(r => r.getBoundingClientRect().height)),
                line: line,
                rows: rows.length,
            };
        }"""
    )


@pytest.mark.parametrize("name", list(LISTS))
def test_the_list_fits_1280_px_with_rows_of_at_most_two_lines(name, logged_in_page, alice, busy_org):
    page = logged_in_page(alice)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(LISTS[name])
    save_screenshots(page, f"list-{name}")
    page.set_viewport_size({"width": 1280, "height": 900})
    found = _measure(page)
    assert found["rows"] > 0
    assert found["table"] <= found["viewport"], found
    assert found["scroll"] <= found["viewport"], found
    assert found["overflow"] <= 0, found
    # Two lines of text plus the cell's padding.
    assert found["tallest"] <= 2 * found["line"] + 20, found
