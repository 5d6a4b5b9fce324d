"""A person follows the link in their action email, asks for their access back, and gets it.

Chromium (Playwright) against pytest-django's live server and the in-process Atlassian simulator.
Tasks run inline (django-q2 sync mode), so the fulfilment happens inside the form's POST.
"""

import re

import pytest
from django.core import mail
from django_q.conf import Conf

from accounts.models import Account
from policies.models import AccessRequest, Enforcement, EnforcementStatus
from policies.models.access_requests import AccessRequestStatus
from tests.policies.conftest import make_policy, mirrored  # noqa: F401  (fixtures)
from tests.policies.test_access_support import warn_then_act

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

_LINK = re.compile(r"(https?://\S+/access/restore/[^/\s]+/)")


@pytest.fixture
def visitor(browser, live_server):
    """A fresh browser context on the live server: an anonymous visitor, not logged in."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def test_following_the_email_link_restores_the_account(
    make_policy,  # noqa: F811
    simulator,
    live_server,
    settings,
    monkeypatch,
    visitor,
):
    settings.PORTAL_BASE_URL = live_server.url
    monkeypatch.setattr(Conf, "SYNC", True)
    policy = make_policy(warning_days=[14])
    enforcement = warn_then_act(policy)
    assert enforcement is not None
    assert enforcement.status == EnforcementStatus.DONE
    account = enforcement.account
    assert simulator.state.user(account.account_id).status == "suspended"
    notice = next(m for m in reversed(mail.outbox) if account.email in m.to and "was suspended" in m.subject)
    link = _LINK.search(notice.body).group(1)
    assert link.startswith(live_server.url)

    visitor.goto(link)
    assert visitor.locator("h1").inner_text() == "Ask for your Atlassian access back"
    assert "Account: suspended" in visitor.locator(".panel").inner_text()
    visitor.get_by_label("Why do you need this access? (optional)").fill("Back from a long project abroad")
    visitor.get_by_role("button", name="Give me my access back").click()
    visitor.wait_for_selector("h1:has-text('Your access is back')")

    request = AccessRequest.objects.get(account=account)
    assert request.status == AccessRequestStatus.FULFILLED
    assert simulator.state.user(account.account_id).status == "active"
    account = Account.objects.get(pk=account.pk)
    assert account.restored_at is not None
    assert Enforcement.objects.get(pk=enforcement.pk).status == EnforcementStatus.REVERSED
    assert any(account.email in m.to and "access is back" in m.subject for m in mail.outbox)

    # The link is used up; the page offers the email path instead.
    visitor.goto(link)
    assert visitor.locator("h1").inner_text() == "This link no longer works"
    visitor.get_by_role("link", name="Ask for a new link by email").click()
    visitor.wait_for_selector("input[type=email]")
