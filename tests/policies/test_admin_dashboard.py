import pytest
from django.core.cache import cache
from django.urls import reverse

from policies.admin.dashboard import CACHE_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.delete(CACHE_KEY)
    yield
    cache.delete(CACHE_KEY)


def test_the_admin_index_shows_the_seats_policies_would_free(make_policy, client_for, alice):
    make_policy(warning_days=[14])
    page = client_for(alice).get(reverse("admin:index")).content.decode()
    assert "Seats policies would free in the next 30 days" in page
    assert "Jira Software" in page.split('id="dashboard-policy-savings"')[1]


def test_users_who_cannot_see_policies_do_not_get_the_panel(make_policy, client_for, nobody):
    make_policy()
    page = client_for(nobody).get(reverse("admin:index")).content.decode()
    assert "dashboard-policy-savings" not in page


def test_seats_a_preview_policy_would_free_are_labelled_as_such(make_policy, client_for, alice):
    from policies.models import PolicyMode

    make_policy(mode=PolicyMode.PREVIEW)
    page = client_for(alice).get(reverse("admin:index")).content.decode()
    row = page.split('id="dashboard-policy-savings"')[1].split("Jira Software</td>")[1].split("</tr>")[0]
    acting, preview = row.split("</td>")[1:3]
    assert acting.endswith('<td class="count">0')
    assert not preview.endswith("—")
    assert int(preview.rsplit(">", 1)[1]) > 0


def test_what_waits_for_a_decision_is_on_the_dashboard_and_in_the_menu(make_policy, client, client_for, hank, audrey):
    from tests.policies.test_access_support import act, path_for

    enforcement = act(make_policy(self_service_restore=False))
    client.post(path_for(enforcement), {"justification": "Back on the project"})
    desk = client_for(hank)
    index = desk.get(reverse("admin:index")).content.decode()
    waiting = index.split('id="dashboard-waiting"')[1].split("</div>")[0]
    assert "?decision=pending" in waiting
    assert '<td class="count">1</td>' in waiting
    # Any admin page's menu (the navigation sidebar) says so too.
    assert "Access requests (1 pending)" in desk.get(reverse("admin:policies_enforcement_changelist")).content.decode()


def test_nothing_waiting_shows_no_count_in_the_menu(make_policy, client_for, hank):
    make_policy()
    assert "pending)" not in client_for(hank).get(reverse("admin:index")).content.decode()
