"""What policies add to the account admin and API: ``?exempted=`` and the account page's sections
on exemptions, enforcements and access requests."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.filtersets import AccountFilterSet
from accounts.models import Account
from policies.engine import email_matches
from policies.filtersets import email_pattern_q, glob_regex
from policies.models import AccessRequest, Enforcement, EnforcementStatus, Exemption, ExemptionKind
from tests.factories import AccountFactory, GroupFactory, MembershipFactory, OrganizationFactory, jira_suspend_policy

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:accounts_account_changelist"

EMAILS = [
    "Bob@Example.com",
    "rob@example.com",
    "ceo@executives.example.com",
    "ANNA@EXECUTIVES.EXAMPLE.COM",
    "a.b@x.org",
    "axb@x.org",
    "c3po@droids.io",
    "first+tag@ex.com",
    "]weird@x.com",
    "[odd@x.com",
    "100%@x.com",
    "1000@x.com",
    "under_score@x.com",
    "underxscore@x.com",
    "x-y@x.com",
    "xby@x.com",
    "back\\slash@x.com",
    "^caret@x.com",
    "dollar$@x.com",
    "zx",
    "José@exemple.fr",
]
PATTERNS = [
    "*@executives.example.com",
    "*@EXECUTIVES.example.com",
    "ceo@*",
    "?ob@example.com",
    "[abc]*@*",
    "[!a-c]*",
    "*[0-9]*",
    "a.b@*",
    "*+tag@*",
    "[z-a]x",
    "[!z-a]x",
    "[]]*",
    "[!]]*",
    "[*",
    "*%*",
    "100%@*",
    "under_score@*",
    "x[a-c-]y*",
    "x[-]y*",
    "*\\*",
    "^*",
    "*$@*",
    "*.COM",
    "jos?@*",
    "*",
    "",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_an_email_pattern_matches_in_the_database_what_it_matches_in_the_engine(pattern):
    """The engine decides with ``email_matches`` (fnmatch on lowercased text); the filter must list
    the very same accounts, on SQLite's REGEXP and on PostgreSQL's regular expressions."""
    org = OrganizationFactory()
    for email in EMAILS:
        AccountFactory(organization=org, email=email)
    expected = {e for e in EMAILS if email_matches(pattern, e)}
    condition = email_pattern_q(pattern)
    found = set(Account.objects.filter(condition).values_list("email", flat=True)) if condition else set()
    assert found == expected


def test_a_set_that_keeps_nothing_matches_nothing():
    assert glob_regex("[z-a]") is None
    assert glob_regex("*") == "^.*$"


@pytest.fixture
def covered():
    """Who is exempt how, in one organization, and what must not count."""
    org = OrganizationFactory()
    other = OrganizationFactory(org_id="other-org", name="Other")
    execs = GroupFactory(organization=org, name="executives")
    board = GroupFactory(organization=org, name="board")
    people = {
        name: AccountFactory(organization=org, name=name, email=f"{name}@example.com")
        for name in ("named", "member", "vip", "expired", "restore_only", "plain", "other_policy")
    }
    people["vip"].email = "vip@executives.example.com"
    people["vip"].save()
    people["no_email"] = AccountFactory(organization=org, name="no_email", email=None)
    stranger = AccountFactory(organization=other, name="stranger", email="s@executives.example.com")
    MembershipFactory(account=people["member"], group=execs)
    MembershipFactory(account=people["expired"], group=board)
    policy = jira_suspend_policy(org)
    past, future = timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=30)
    Exemption.objects.create(organization=org, account=people["named"], reason="contractor", expires_at=future)
    Exemption.objects.create(organization=org, group=execs, reason="executives")
    Exemption.objects.create(organization=org, email_pattern="*@EXECUTIVES.example.com", reason="exec domain")
    Exemption.objects.create(organization=org, account=people["other_policy"], policy=policy, reason="one policy")
    expired = Exemption.objects.create(organization=org, group=board, reason="was on leave", expires_at=future)
    Exemption.objects.filter(pk=expired.pk).update(expires_at=past)
    Exemption.objects.create(
        organization=org, account=people["restore_only"], kind=ExemptionKind.NEVER_RESTORE, reason="left"
    )
    return {**people, "stranger": stranger, "org": org, "policy": policy}


def _enforcement(policy, account, status, action, **fields) -> Enforcement:
    return Enforcement.objects.create(
        policy=policy, account=account, status=status, action=action, reason="r", due_at=timezone.now(), **fields
    )


def _names(queryset) -> set[str]:
    return set(queryset.values_list("name", flat=True))


class TestExemptedFilter:
    def test_yes_lists_accounts_an_unexpired_exemption_covers_by_account_group_or_email(self, covered):
        filterset = AccountFilterSet({"exempted": "true"}, queryset=Account.objects.all())
        assert filterset.is_valid(), filterset.errors
        # A pattern covers its own organization's accounts only; an exemption of one policy counts.
        assert _names(filterset.qs) == {"named", "member", "vip", "other_policy"}

    def test_no_lists_everybody_else_including_accounts_without_email(self, covered):
        filterset = AccountFilterSet({"exempted": "false"}, queryset=Account.objects.all())
        assert filterset.is_valid(), filterset.errors
        assert _names(filterset.qs) == {"expired", "restore_only", "plain", "no_email", "stranger"}

    def test_an_exemption_past_its_expiry_no_longer_counts_from_that_instant(self, covered):
        named = Exemption.objects.get(account=covered["named"])
        before = AccountFilterSet({"exempted": "true"}, queryset=Account.objects.all(), now=named.expires_at)
        assert "named" not in _names(before.qs)

    def test_a_value_other_than_true_or_false_is_an_error_not_every_account(self, covered):
        filterset = AccountFilterSet({"exempted": "maybe"}, queryset=Account.objects.all())
        assert not filterset.is_valid()
        assert "exempted" in filterset.errors

    def test_the_admin_sidebar_filters_with_it(self, client_for, alice, covered):
        client = client_for(alice)
        page = client.get(reverse(CHANGELIST), {"exempted": "true"}).content.decode()
        assert "By exempted from policies" in page
        for name in ("named", "member", "vip", "other_policy"):
            assert f">{name}<" in page
        for name in ("plain", "expired", "restore_only", "stranger"):
            assert f">{name}<" not in page
        wrong = client.get(reverse(CHANGELIST), {"exempted": "maybe"}, follow=True).content.decode()
        assert "The filter was not applied" in wrong

    def test_the_api_filters_with_it(self, covered, alice):
        from rest_framework.test import APIClient

        api = APIClient()
        api.force_login(alice)
        response = api.get(reverse("api:account-list"), {"exempted": "true"})
        assert response.status_code == 200
        assert {row["name"] for row in response.json()["results"]} == {"named", "member", "vip", "other_policy"}
        assert api.get(reverse("api:account-list"), {"exempted": "maybe"}).status_code == 400


class TestAccountPage:
    def _page(self, client, account) -> str:
        return client.get(reverse("admin:accounts_account_change", args=[account.pk])).content.decode()

    def _section(self, client, account, section: str) -> str:
        return self._page(client, account).split(f'id="{section}"')[1].split("</fieldset>")[0]

    def test_it_shows_the_exemptions_covering_the_account_and_through_what(self, client_for, alice, covered):
        client = client_for(alice)
        vip = self._section(client, covered["vip"], "account-exemptions")
        assert "email pattern *@EXECUTIVES.example.com" in vip
        assert "exec domain" in vip
        member = self._section(client, covered["member"], "account-exemptions")
        assert "group executives" in member
        assert "every policy" in member
        assert "exec domain" not in member
        assert "Jira 90 days" in self._section(client, covered["other_policy"], "account-exemptions")
        expired = self._section(client, covered["expired"], "account-exemptions")
        assert "was on leave" not in expired
        assert "None: policies may act on this account" in expired

    def test_it_shows_the_accounts_enforcements_and_access_requests_with_links_to_all_of_them(
        self, client_for, alice, covered
    ):
        account, policy = covered["plain"], covered["policy"]
        enforcement = _enforcement(policy, account, EnforcementStatus.DONE, "suspend", executed_at=timezone.now())
        AccessRequest.objects.create(account=account, enforcement=enforcement, email=account.email)
        _enforcement(policy, covered["named"], EnforcementStatus.DUE, "deactivate")
        client = client_for(alice)
        page = self._page(client, account)
        enforcements = page.split('id="account-enforcements"')[1].split("</fieldset>")[0]
        assert "Jira 90 days" in enforcements
        assert "suspend" in enforcements
        assert "deactivate" not in enforcements  # another account's
        requests = page.split('id="account-access-requests"')[1].split("</fieldset>")[0]
        assert "Give back what a policy removed" in requests
        assert "Pending" in requests
        for changelist in ("admin:policies_enforcement_changelist", "admin:policies_accessrequest_changelist"):
            url = reverse(changelist) + f"?account__id__exact={account.pk}"
            assert f'href="{url}"' in page
            listed = client.get(url)
            assert listed.status_code == 200
            assert listed.context["cl"].result_count == 1

    def test_each_section_follows_its_own_view_permission(self, client_for, nobody, covered):
        from django.contrib.auth.models import Permission

        nobody.user_permissions.add(Permission.objects.get(codename="view_account"))
        page = self._page(client_for(nobody), covered["plain"])
        assert 'id="account-products"' in page
        for section in ("account-exemptions", "account-enforcements", "account-access-requests"):
            assert f'id="{section}"' not in page

    def test_the_page_costs_the_same_queries_whatever_the_accounts_history(self, client_for, alice, covered):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        account, policy, client = covered["member"], covered["policy"], client_for(alice)
        url = reverse("admin:accounts_account_change", args=[account.pk])

        def add_history(count: int) -> int:
            for _ in range(count):
                enforcement = _enforcement(policy, account, EnforcementStatus.DONE, "suspend")
                AccessRequest.objects.create(account=account, enforcement=enforcement, email=account.email)
                Exemption.objects.create(organization=covered["org"], account=account, reason="again")
            client.get(url)  # warm the session
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            return len(queries)

        assert add_history(1) == add_history(30)
