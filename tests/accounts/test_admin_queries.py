"""Query counts of the admin lists, pinned: they must not grow with the number of rows."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Group, GroupProductGrant, Membership, Product, ProductAccess, ProductGrant
from policies.models import Exemption
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

# Session, user, the user's permissions (2), the product filter's product list, the capped COUNT,
# the page, its product access and its access end dates (one prefetch each) = 9; a product or group
# filter adds its lookup, the exempted filter its list of email patterns = 10; the sync status above
# the list (organizations with their last sync, the runs to show, the schedule's next slot) = 13; the
# menu's count of access requests waiting for a decision (every admin page, once per request) = 14.
MENU_QUERIES = 1
ACCOUNT_LIST_MAX_QUERIES = 13 + MENU_QUERIES
# Session, user, permissions (2), capped COUNT, the page, its grants (one prefetch), the menu's count.
GROUP_LIST_MAX_QUERIES = 7 + MENU_QUERIES
# Session, user, permissions (2), the group, its organization, capped COUNT, one page of members, the menu.
GROUP_PAGE_MAX_QUERIES = 8 + MENU_QUERIES
# Session, user, permissions (2), COUNT, the page, its seat prices (one prefetch), the key filter's
# DISTINCT, the menu's count.
PRODUCT_LIST_MAX_QUERIES = 8 + MENU_QUERIES


def build_mirror(size: int) -> dict:
    """``size`` accounts, each with two product accesses and three memberships, over 20 groups."""
    org = OrganizationFactory()
    jira = Product.objects.create(organization=org, key="jira-software", resource_id="ari:jira", name="Jira")
    wiki = Product.objects.create(organization=org, key="confluence", resource_id="ari:wiki", name="Confluence")
    groups = Group.objects.bulk_create(
        [Group(organization=org, group_id=f"g{n}", name=f"group-{n}", is_licence_group=n < 2) for n in range(20)]
    )
    GroupProductGrant.objects.create(group=groups[0], product=jira)
    GroupProductGrant.objects.create(group=groups[1], product=wiki)
    refs = {"org": org, "jira": jira, "wiki": wiki, "groups": groups, "group": groups[5]}
    add_accounts(refs, 0, size)
    # Exemptions of every kind, for the exempted filter (policies adds it to the account list).
    Exemption.objects.create(organization=org, account=Account.objects.earliest("pk"), reason="named")
    Exemption.objects.create(organization=org, group=groups[7], reason="a team")
    Exemption.objects.create(organization=org, email_pattern="p1*@example.com", reason="a pattern")
    return refs


def add_accounts(refs: dict, start: int, count: int) -> None:
    """Accounts ``start`` to ``start + count``, their activity spread over every inactivity bucket."""
    now = timezone.now()
    groups = refs["groups"]
    accounts = Account.objects.bulk_create(
        [
            Account(
                organization=refs["org"],
                account_id=f"acc-{n:05d}",
                name=f"Person {n:05d}",
                email=f"p{n}@example.com",
                last_active=None if n % 7 == 0 else now - timedelta(days=(n * 37) % 400),
                managed=n % 3 != 0,
                billable=n % 2 == 0,
                is_org_admin=n % 50 == 0,
                licence_group_count=1,
            )
            for n in range(start, start + count)
        ]
    )
    ProductAccess.objects.bulk_create(
        [
            ProductAccess(account=a, product=p, last_active=a.last_active, granted=ProductGrant.GROUP)
            for a in accounts
            for p in (refs["jira"], refs["wiki"])
        ]
    )
    Membership.objects.bulk_create(
        [Membership(account=a, group=groups[k]) for i, a in enumerate(accounts) for k in {0, 1, 2 + i % 18}]
    )


FILTERS = [
    {},
    {"q": "Person 0001"},
    {"status": "active"},
    {"inactivity": "lt30"},
    {"inactivity": "30-90"},
    {"inactivity": "90-180"},
    {"inactivity": "gt180"},
    {"inactivity": "never"},
    {"product": "jira"},
    {"product": "jira", "product_inactive_days": "90"},
    {"group": "group"},
    {"not_group": "group"},
    {"managed": "true"},
    {"managed": "false"},
    {"account_type": "atlassian"},
    {"is_org_admin": "true"},
    {"billable": "true"},
    {"exempted": "true"},
    {"exempted": "false"},
    {"o": "6"},  # sorted by last active
]


def _params(filters: dict, refs: dict) -> dict:
    return {key: (str(refs[value].pk) if value in ("jira", "group") else value) for key, value in filters.items()}


def _count_queries(client, url, params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params).status_code == 200
    return len(queries)


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "&".join(f"{k}={v}" for k, v in f.items()) or "none")
def test_the_account_list_runs_a_bounded_number_of_queries_with_each_filter(
    client_for, alice, filters, django_assert_max_num_queries
):
    refs = build_mirror(300)
    client = client_for(alice)
    url = reverse("admin:accounts_account_changelist")
    client.get(url)  # warm the session and content-type caches
    with django_assert_max_num_queries(ACCOUNT_LIST_MAX_QUERIES):
        response = client.get(url, _params(filters, refs))
    assert response.status_code == 200


def test_the_account_list_costs_the_same_for_30_and_for_300_accounts(client_for, alice):
    client = client_for(alice)
    url = reverse("admin:accounts_account_changelist")
    refs = build_mirror(30)
    client.get(url)
    small = {str(f): _count_queries(client, url, _params(f, refs)) for f in FILTERS}
    add_accounts(refs, 30, 270)
    large = {str(f): _count_queries(client, url, _params(f, refs)) for f in FILTERS}
    assert large == small


def test_the_group_list_runs_a_bounded_number_of_queries(client_for, alice, django_assert_max_num_queries):
    build_mirror(300)
    client = client_for(alice)
    url = reverse("admin:accounts_group_changelist")
    client.get(url)
    with django_assert_max_num_queries(GROUP_LIST_MAX_QUERIES):
        assert client.get(url).status_code == 200
    with django_assert_max_num_queries(GROUP_LIST_MAX_QUERIES):
        assert client.get(url, {"q": "group-1"}).status_code == 200


def test_a_group_page_with_many_members_loads_one_page_of_them(client_for, alice, django_assert_max_num_queries):
    build_mirror(300)
    group = Group.objects.get(name="group-0")  # every account is a member
    client = client_for(alice)
    url = reverse("admin:accounts_group_change", args=[group.pk])
    client.get(url)
    with django_assert_max_num_queries(GROUP_PAGE_MAX_QUERIES):
        page = client.get(url).content.decode()
    members = page.split('id="group-members"')[1]
    assert members.count(">Person ") == 50
    assert "300 members" in members
    assert ">Person 00050<" in client.get(url, {"member_page": 2}).content.decode()
    assert (
        client.get(url, {"member_q": "Person 00123"}).content.decode().split('id="group-members"')[1].count(">Person ")
        == 1
    )


def test_the_product_list_runs_a_bounded_number_of_queries(client_for, alice, django_assert_max_num_queries):
    build_mirror(300)
    client = client_for(alice)
    client.get(reverse("admin:accounts_product_changelist"))
    with django_assert_max_num_queries(PRODUCT_LIST_MAX_QUERIES):
        assert client.get(reverse("admin:accounts_product_changelist")).status_code == 200


def test_the_indexes_for_sparse_account_pages_exist():
    """Migration 0003: the search's covering index and the partial index over org admins."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Account._meta.db_table)
    assert constraints["account_name_search"]["columns"] == ["name", "id", "email", "account_id"]
    assert constraints["account_org_admins"]["columns"] == ["name", "id"]
