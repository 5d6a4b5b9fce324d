"""Pages work in a real browser under the Content-Security-Policy: Chromium reports nothing blocked
on the sign-in page, the admin, the account list and its group picker, a policy page with its email
preview, the public /access/ page and the API's Swagger UI."""

import pytest
from playwright.sync_api import expect

from accounts.models import Account
from tests.browser.conftest import PASSWORD
from tests.policies.conftest import make_policy, mirrored  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

# Records every violation the page's policy reports, from the first script on (Playwright's init
# scripts run outside the page's CSP).
_RECORD = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


class Watched:
    """A page whose CSP violations (DOM events and console lines) are collected."""

    def __init__(self, page):
        self.page = page
        self.console: list[str] = []
        page.on("console", self._console)
        page.add_init_script(_RECORD)

    def _console(self, message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def visit(self, url: str):
        response = self.page.goto(url)
        assert response.ok, f"{url}: {response.status}"
        assert "content-security-policy" in response.headers, url
        self.page.wait_for_load_state("networkidle")
        self.assert_clean(url)
        return response

    def sign_in(self, username: str):
        """Through the real sign-in form (django-axes checks it), checking the form page on the way."""
        self.visit("/admin/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", PASSWORD)
        self.page.click("input[type=submit]")
        self.page.wait_for_url("**/admin/")
        self.page.wait_for_load_state("networkidle")
        self.assert_clean("/admin/ after signing in")

    def assert_clean(self, where: str = ""):
        recorded = self.page.evaluate("window.__cspViolations || []")
        assert recorded == [], f"{where}: {recorded}"
        assert self.console == [], f"{where}: {self.console}"


@pytest.fixture
def watched(browser, live_server):
    contexts = []

    def open_page() -> Watched:
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return Watched(context.new_page())

    yield open_page
    for context in contexts:
        context.close()


def test_signing_in_and_the_admin_pages_report_no_violation(watched, alice, mirrored, make_policy):  # noqa: F811
    page = watched()
    page.sign_in("alice")
    expect(page.page.locator(".portal-dashboard")).to_be_visible()

    page.visit("/admin/accounts/account/")
    account = Account.objects.order_by("pk").first()
    page.visit(f"/admin/accounts/account/{account.pk}/change/")
    page.visit("/admin/governance/auditevent/")
    page.visit("/admin/axes/accessattempt/")
    policy = make_policy()
    page.visit(f"/admin/policies/inactivitypolicy/{policy.pk}/change/")
    expect(page.page.locator("#email-preview-warning iframe")).to_be_visible()


def test_the_group_picker_script_runs_under_the_policy(watched, alice, mirrored):  # noqa: F811
    page = watched()
    page.sign_in("alice")
    page.visit("/admin/accounts/account/")
    error = page.page.locator("#group-filter-form .picker-error")
    expect(error).to_be_hidden()
    page.page.fill("#group-filter-text", "no group has this name")
    page.page.locator("#group-filter-form").get_by_role("button", name="Apply").click()
    expect(error).to_have_text("Pick a group from the suggestions.")
    expect(error).to_be_visible()
    page.assert_clean("group picker")


def test_the_public_access_page_reports_no_violation(watched, db):
    page = watched()
    page.visit("/access/")
    expect(page.page.locator("form")).to_be_visible()


def test_swagger_ui_renders_and_reports_no_violation(watched, alice):
    page = watched()
    page.sign_in("alice")
    page.visit("/api/docs/")
    expect(page.page.locator("#swagger-ui .info .title")).to_contain_text("Atlassian governance portal API")
    expect(page.page.locator("#swagger-ui .opblock").first).to_be_visible()
    page.assert_clean("/api/docs/ after rendering")
