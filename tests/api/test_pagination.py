"""Cursor pages over large lists: every row exactly once, whatever the ties on the ordering field."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from accounts.models import Account
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db
SAME_MOMENT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ACCOUNTS = reverse("api:account-list")


def _bulk_accounts(n: int, *, last_active=lambda i: SAME_MOMENT) -> list[int]:
    org = OrganizationFactory()
    Account.objects.bulk_create(
        (
            Account(organization=org, account_id=f"bulk-{i:06d}", name="Same Name", last_active=last_active(i))
            for i in range(n)
        ),
        batch_size=2000,
    )
    return list(Account.objects.values_list("pk", flat=True))


def _walk(client, url: str, *, backwards_from_end: bool = False) -> tuple[list[int], int]:
    ids, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        ids += [row["id"] for row in body["results"]]
        pages += 1
        url = body["next"]
    return ids, pages


@pytest.mark.slow
def test_ten_thousand_accounts_with_the_same_last_active_are_each_listed_once(api_as, alice):
    all_ids = _bulk_accounts(10_000)
    client = api_as(alice)
    ids, pages = _walk(client, f"{ACCOUNTS}?ordering=last_active&page_size=500")
    assert pages == 20
    assert len(ids) == 10_000
    assert set(ids) == set(all_ids)
    assert ids == sorted(ids)  # ties broken by id, in the direction of the first field
    descending, _ = _walk(client, f"{ACCOUNTS}?ordering=-last_active,name&page_size=1000")
    assert descending == sorted(all_ids, reverse=True)


def test_pages_are_stable_across_nulls_and_ties_both_ways(api_as, alice):
    # Three values of last_active, a third of them NULL: ties and NULLs everywhere.
    values = [None, SAME_MOMENT, SAME_MOMENT + timedelta(days=1)]
    all_ids = _bulk_accounts(95, last_active=lambda i: values[i % 3])
    client = api_as(alice)
    for ordering in ("last_active", "-last_active", "last_active,-id", "-last_active,name", "name,-last_active"):
        ids, _ = _walk(client, f"{ACCOUNTS}?ordering={ordering}&page_size=7")
        assert sorted(ids) == sorted(all_ids), ordering
        expected = list(Account.objects.order_by(*_django_order(ordering)).values_list("pk", flat=True))
        assert ids == expected, ordering


def _django_order(ordering: str) -> list:
    from django.db.models import F

    terms = []
    for term in ordering.split(","):
        name = term.lstrip("-")
        terms.append(F(name).desc(nulls_last=True) if term.startswith("-") else F(name).asc(nulls_first=True))
    if "id" not in ordering:
        terms.append(F("id").desc() if ordering.startswith("-") else F("id").asc())
    return terms


def test_the_previous_link_walks_back_over_the_same_pages(api_as, alice):
    _bulk_accounts(30, last_active=lambda i: SAME_MOMENT + timedelta(days=i % 4))
    client = api_as(alice)
    forward, url = [], f"{ACCOUNTS}?ordering=last_active&page_size=4"
    while url:
        body = client.get(url).json()
        forward.append([row["id"] for row in body["results"]])
        last, url = body, body["next"]
    backward, url = [], last["previous"]
    while url:
        body = client.get(url).json()
        backward.append([row["id"] for row in body["results"]])
        url = body["previous"]
    assert list(reversed(backward)) == forward[:-1]


def test_a_cursor_from_another_ordering_is_refused(api_as, alice):
    _bulk_accounts(5)
    client = api_as(alice)
    next_url = client.get(f"{ACCOUNTS}?ordering=last_active&page_size=2").json()["next"]
    cursor = next_url.split("cursor=")[1].split("&")[0]
    response = client.get(f"{ACCOUNTS}?ordering=name&page_size=2&cursor={cursor}")
    assert response.status_code == 400
    assert "cursor" in response.json()


def test_large_lists_need_no_count(api_as, alice, django_assert_max_num_queries):
    _bulk_accounts(50)
    client = api_as(alice)
    client.get(ACCOUNTS)
    response = client.get(f"{ACCOUNTS}?page_size=10")
    assert set(response.json()) == {"next", "previous", "results"}  # no "count": no COUNT(*) per page
