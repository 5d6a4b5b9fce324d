"""Reading the mirror through the API: what an account looks like, query counts, and filters that
select exactly what the admin's account list selects for the same query string."""

import random
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from cryptography.fernet import Fernet
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Account, AccountStatus, AccountType, GroupProductGrant, ProductGrant
from tests.clock import SUITE_NOW
from tests.factories import (
    AccountFactory,
    GroupFactory,
    MembershipFactory,
    OrganizationFactory,
    ProductAccessFactory,
    ProductFactory,
)

pytestmark = pytest.mark.django_db
NOW = SUITE_NOW  # the admin session is signed in at the run's clock: travelling far from it would end it
ACCOUNTS = reverse("api:account-list")


def _walk(client, url: str) -> list[dict]:
    """Every result of a listing, following the next links."""
    rows = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        rows += response.json()["results"]
        url = response.json()["next"]
    return rows


@pytest.fixture
def varied(db):
    """60 accounts spread over statuses, buckets, claim, type, groups and products (seeded)."""
    rng = random.Random(7)
    org = OrganizationFactory()
    jira = ProductFactory(organization=org, key="jira-software", name="Jira Software")
    wiki = ProductFactory(organization=org, key="confluence", name="Confluence")
    groups = [GroupFactory(organization=org, name=f"team-{i}") for i in range(4)]
    GroupProductGrant.objects.create(group=groups[0], product=jira, roles=["atlassian/user"])
    for i in range(60):
        days = rng.choice([None, 1, 10, 29, 31, 60, 89, 91, 150, 179, 181, 400])
        account = AccountFactory(
            organization=org,
            name=f"{rng.choice(['Ada', 'Alan', 'Grace', 'Linus'])} {i}",
            status=rng.choice(list(AccountStatus.values)),
            account_type=rng.choice([AccountType.ATLASSIAN, AccountType.ATLASSIAN, AccountType.APP]),
            managed=rng.random() < 0.6,
            is_org_admin=rng.random() < 0.1,
            billable=rng.random() < 0.5,
            last_active=None if days is None else NOW - timedelta(days=days, hours=1),
        )
        for product in (jira, wiki):
            if rng.random() < 0.6:
                product_days = rng.choice([None, 5, 45, 100, 200, 500])
                ProductAccessFactory(
                    account=account,
                    product=product,
                    last_active=None if product_days is None else NOW - timedelta(days=product_days),
                    granted=rng.choice(list(ProductGrant.values)),
                )
        for group in rng.sample(groups, rng.randint(0, 3)):
            MembershipFactory(account=account, group=group)
    return {"org": org, "jira": jira, "wiki": wiki, "groups": groups}


def _query_strings(varied) -> list[dict]:
    jira, wiki, groups = varied["jira"].pk, varied["wiki"].pk, [g.pk for g in varied["groups"]]
    return [
        {},
        {"status": "active"},
        {"status": "suspended"},
        {"inactivity": "lt30"},
        {"inactivity": "30-90"},
        {"inactivity": "90-180"},
        {"inactivity": "gt180"},
        {"inactivity": "never"},
        {"managed": "true"},
        {"managed": "false", "status": "active"},
        {"account_type": "app"},
        {"is_org_admin": "true"},
        {"billable": "false", "inactivity": "gt180"},
        {"product": jira},
        {"product": wiki, "product_inactive_days": 90},
        {"product": jira, "product_inactive_days": 30, "managed": "true"},
        {"group": groups[0]},
        {"not_group": groups[1]},
        {"group": groups[2], "not_group": groups[3], "inactivity": "gt180"},
        {"q": "ada"},
        {"q": "grace 1"},
    ]


class TestFiltersAgreeWithTheAdmin:
    def test_the_same_query_string_selects_the_same_accounts_as_the_admin_list(self, api_as, client_for, alice, varied):
        api, admin = api_as(alice), client_for(alice)
        with time_machine.travel(NOW, tick=False):
            for params in _query_strings(varied):
                query = urlencode(params)
                page = admin.get(reverse("admin:accounts_account_changelist") + "?" + query)
                assert page.status_code == 200, params
                admin_ids = set(page.context["cl"].queryset.values_list("pk", flat=True))
                api_ids = [row["id"] for row in _walk(api, f"{ACCOUNTS}?{query}&page_size=7")]
                assert len(api_ids) == len(set(api_ids)), params
                assert set(api_ids) == admin_ids, params
                if params:
                    assert len(admin_ids) < Account.objects.count(), params  # each filter filters

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"inactivity": "lately"}, "inactivity"),
            ({"status": "asleep"}, "status"),
            ({"managed": "maybe"}, "managed"),
            ({"group": "999999"}, "group"),
            ({"product": "abc"}, "product"),
            ({"product_inactive_days": "90"}, "product_inactive_days"),
            ({"ordering": "password"}, "ordering"),
            ({"page_size": "0"}, "page_size"),
            ({"page_size": "100000"}, "page_size"),
            ({"cursor": "not-a-cursor"}, "cursor"),
        ],
    )
    def test_a_bad_filter_is_400_naming_the_field(self, api_as, alice, varied, params, field):
        response = api_as(alice).get(ACCOUNTS, params)
        assert response.status_code == 400
        assert field in response.json()


class TestAnAccount:
    def test_it_carries_its_product_access_and_groups(self, api_as, alice):
        jira = ProductFactory(key="jira-software", name="Jira Software")
        team = GroupFactory(name="team-blue")
        ada = AccountFactory(name="Ada", last_active=NOW)
        ProductAccessFactory(account=ada, product=jira, last_active=NOW, granted=ProductGrant.GROUP)
        MembershipFactory(account=ada, group=team)
        body = api_as(alice).get(reverse("api:account-detail", args=[ada.pk])).json()
        assert body["account_id"] == ada.account_id
        assert body["products"] == [
            {
                "product": jira.pk,
                "product_key": "jira-software",
                "product_name": "Jira Software",
                "last_active": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "granted": "group",
            }
        ]
        assert body["groups"] == [{"id": team.pk, "group_id": team.group_id, "name": "team-blue"}]

    def test_a_page_costs_the_same_queries_for_5_or_50_accounts(self, api_as, alice, varied, django_assert_num_queries):
        client = api_as(alice)
        with CaptureQueriesContext(connection) as small:
            client.get(ACCOUNTS, {"page_size": 5})
        # Session, user, permissions, throttle (cache read and write); then the page itself: the
        # accounts, their product access, their groups and their access end dates (one query each,
        # whatever the page size).
        page_queries = [q["sql"] for q in small.captured_queries if '"accounts_' in q["sql"]]
        assert len(page_queries) == 4, page_queries
        with django_assert_num_queries(len(small.captured_queries)):
            response = client.get(ACCOUNTS, {"page_size": 50})
        assert len(response.json()["results"]) == 50

    def test_an_unknown_id_is_404(self, api_as, alice):
        assert api_as(alice).get(reverse("api:account-detail", args=[987654])).status_code == 404
        assert api_as(alice).get("/api/accounts/99999999999999999999999/").status_code == 404


class TestOtherLists:
    def test_groups_filter_by_licence_flag_and_name(self, api_as, alice, varied):
        varied["groups"][0].is_licence_group = True
        varied["groups"][0].save()
        client = api_as(alice)
        rows = client.get(reverse("api:group-list"), {"is_licence_group": "true"}).json()["results"]
        assert [r["id"] for r in rows] == [varied["groups"][0].pk]
        assert rows[0]["grants"][0]["product_key"] == "jira-software"
        named = client.get(reverse("api:group-list"), {"q": "team-3"}).json()["results"]
        assert [r["name"] for r in named] == ["team-3"]

    def test_memberships_filter_by_group_and_account(self, api_as, alice, varied):
        group = varied["groups"][1]
        rows = _walk(api_as(alice), reverse("api:membership-list") + f"?group={group.pk}&page_size=5")
        assert {r["account"] for r in rows} == set(group.memberships.values_list("account_id", flat=True))
        assert api_as(alice).get(reverse("api:membership-list"), {"group": "1.5"}).status_code == 400

    def test_organizations_never_show_stored_credentials(self, api_as, alice, varied, settings):
        settings.PORTAL_FERNET_KEYS = [Fernet.generate_key().decode()]
        org = varied["org"]
        org.set_api_key("very-secret-admin-key")
        org.save()
        body = api_as(alice).get(reverse("api:organization-detail", args=[org.pk])).content.decode()
        assert "very-secret" not in body
        assert org.api_key_encrypted not in body
        assert "encrypted" not in body
