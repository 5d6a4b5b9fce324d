"""Rate limits per token, kept in the shared cache (a database table here, Redis when configured)."""

import pytest
from django.core.cache import caches
from django.urls import reverse

from tests.api.conftest import issue_token

pytestmark = pytest.mark.django_db
ACCOUNTS = reverse("api:account-list")


@pytest.fixture
def tight(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api": "3/minute", "api_write": "1/minute"},
    }


def test_a_token_over_its_rate_gets_429_with_retry_after(token_client, audrey, mirror, tight):
    client = token_client(audrey)
    assert [client.get(ACCOUNTS).status_code for _ in range(3)] == [200, 200, 200]
    response = client.get(ACCOUNTS)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_each_token_has_its_own_budget(token_client, audrey, mirror, tight):
    first, second = token_client(audrey), token_client(audrey)
    for _ in range(3):
        first.get(ACCOUNTS)
    assert first.get(ACCOUNTS).status_code == 429
    assert second.get(ACCOUNTS).status_code == 200


def test_writes_have_a_tighter_budget(api_as, alice, mirror, tight):
    client = api_as(alice)
    body = {"action": "activate", "reason": "x", "account_ids": [mirror["accounts"][0].pk]}
    assert client.post(reverse("api:account-bulk-list"), body, format="json").status_code == 200
    assert client.post(reverse("api:account-bulk-list"), body, format="json").status_code == 429
    assert client.get(ACCOUNTS).status_code == 200  # reading goes on


def test_the_count_lives_in_the_shared_cache_not_in_the_process(token_client, audrey, mirror, tight, settings):
    assert "LocMem" not in settings.CACHES["default"]["BACKEND"]
    client = token_client(audrey)
    client.get(ACCOUNTS)
    token = audrey.api_tokens.get()
    # A fresh cache connection (as another process would open) sees the same history.
    other_process = caches.create_connection("default")
    assert len(other_process.get(f"throttle_api_token-{token.pk}")) == 1


def test_a_session_user_is_counted_per_user(api_as, audrey, mirror, tight):
    client = api_as(audrey)
    for _ in range(3):
        client.get(ACCOUNTS)
    assert api_as(audrey).get(ACCOUNTS).status_code == 429  # a second browser of the same user
    assert issue_token  # tokens of that user have budgets of their own (see above)
