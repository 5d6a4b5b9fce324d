"""The help desk decides an access request on its own page: reads what would be given back, types
a reason, presses Approve; the person's access is back. Chromium against the live server and the
in-process simulator; tasks run inline (django-q2 sync mode)."""

import pytest
from django_q.conf import Conf

from policies.models import AccessRequest
from policies.models.access_requests import AccessRequestStatus
from tests.browser.screenshots import save_screenshots
from tests.policies.conftest import make_policy, mirrored  # noqa: F401  (fixtures)
from tests.policies.test_access_support import act, path_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_hank_approves_a_request_from_its_page(
    make_policy,  # noqa: F811
    simulator,
    client,
    hank,
    logged_in_page,
    monkeypatch,
):
    enforcement = act(make_policy(self_service_restore=False))
    client.post(path_for(enforcement), {"justification": "Back on the project"})
    request = AccessRequest.objects.get(enforcement=enforcement)
    assert request.status == AccessRequestStatus.PENDING
    monkeypatch.setattr(Conf, "SYNC", True)

    page = logged_in_page(hank)
    page.goto(f"/admin/policies/accessrequest/{request.pk}/change/")
    given_back = page.locator("dl.given-back").inner_text()
    assert "suspended, becomes active again" in given_back
    save_screenshots(page, "access-request-decision")
    page.get_by_label("Reason (recorded in the audit trail):").fill("Manager confirmed the project")
    page.locator("#decide-approve").click()
    page.wait_for_selector(".messagelist .success")
    assert "Approved" in page.locator(".messagelist").inner_text()

    request.refresh_from_db()
    assert request.status == AccessRequestStatus.FULFILLED
    assert simulator.state.user(request.account.account_id).status == "active"
    assert page.locator("#decision-panel").count() == 0
