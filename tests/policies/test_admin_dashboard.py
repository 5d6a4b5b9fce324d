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
    assert "Seats enabled policies would free in the next 30 days" in page
    assert "Jira Software" in page.split('id="dashboard-policy-savings"')[1]


def test_users_who_cannot_see_policies_do_not_get_the_panel(make_policy, client_for, nobody):
    make_policy()
    page = client_for(nobody).get(reverse("admin:index")).content.decode()
    assert "dashboard-policy-savings" not in page
