from datetime import UTC, datetime, timedelta

import pytest

from accounts.filtersets import AccountFilterSet
from accounts.models import Account, AccountStatus, AccountType
from tests.factories import AccountFactory, GroupFactory, MembershipFactory, ProductAccessFactory, ProductFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _days_ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def _names(data: dict, now: datetime = NOW) -> set[str]:
    filterset = AccountFilterSet(data, queryset=Account.objects.all(), now=now)
    assert filterset.is_valid(), filterset.errors
    return set(filterset.qs.values_list("name", flat=True))


@pytest.fixture
def spread(db):
    """One account per inactivity bucket, each just inside its bucket."""
    return {
        "fresh": AccountFactory(name="fresh", last_active=_days_ago(1)),
        "edge30": AccountFactory(name="edge30", last_active=_days_ago(30) + timedelta(minutes=1)),
        "month": AccountFactory(name="month", last_active=_days_ago(45)),
        "quarter": AccountFactory(name="quarter", last_active=_days_ago(120)),
        "old": AccountFactory(name="old", last_active=_days_ago(400)),
        "never": AccountFactory(name="never", last_active=None),
    }


class TestInactivityBuckets:
    @pytest.mark.parametrize(
        ("bucket", "expected"),
        [
            ("lt30", {"fresh", "edge30"}),
            ("30-90", {"month"}),
            ("90-180", {"quarter"}),
            ("gt180", {"old"}),
            ("never", {"never"}),
        ],
    )
    def test_each_account_falls_in_exactly_its_bucket(self, spread, bucket, expected):
        assert _names({"inactivity": bucket}) == expected

    def test_buckets_are_measured_from_the_now_given_not_from_import_time(self, spread):
        assert _names({"inactivity": "lt30"}, now=NOW + timedelta(days=10)) == {"fresh"}

    def test_an_unknown_bucket_is_an_error_not_an_unfiltered_list(self, spread):
        filterset = AccountFilterSet({"inactivity": "lately"}, now=NOW)
        assert not filterset.is_valid()
        assert "inactivity" in filterset.errors


class TestProductFilter:
    def test_product_selects_accounts_with_access_to_it(self):
        jira = ProductFactory(key="jira-software")
        confluence = ProductFactory(key="confluence", name="Confluence")
        ProductAccessFactory(account=AccountFactory(name="jira user"), product=jira)
        ProductAccessFactory(account=AccountFactory(name="wiki user"), product=confluence)
        assert _names({"product": jira.pk}) == {"jira user"}

    def test_product_inactive_days_looks_at_activity_in_that_product_only(self):
        jira = ProductFactory(key="jira-software")
        confluence = ProductFactory(key="confluence", name="Confluence")
        busy_elsewhere = AccountFactory(name="busy in confluence", last_active=_days_ago(1))
        ProductAccessFactory(account=busy_elsewhere, product=jira, last_active=_days_ago(200))
        ProductAccessFactory(account=busy_elsewhere, product=confluence, last_active=_days_ago(1))
        ProductAccessFactory(account=AccountFactory(name="active in jira"), product=jira, last_active=_days_ago(5))
        ProductAccessFactory(account=AccountFactory(name="never in jira"), product=jira, last_active=None)
        assert _names({"product": jira.pk, "product_inactive_days": 90}) == {"busy in confluence", "never in jira"}

    def test_inactive_days_without_a_product_is_an_error(self):
        filterset = AccountFilterSet({"product_inactive_days": "90"}, now=NOW)
        assert not filterset.is_valid()
        assert "Choose a product" in str(filterset.errors["product_inactive_days"])

    def test_an_unknown_product_is_an_error_that_names_it(self):
        filterset = AccountFilterSet({"product": "999999"}, now=NOW)
        assert not filterset.is_valid()
        assert "no product with id 999999" in str(filterset.errors["product"])


class TestGroupFilter:
    def test_member_of_and_not_member_of_split_the_accounts(self):
        group = GroupFactory(name="jira-users")
        MembershipFactory(account=AccountFactory(name="in"), group=group)
        MembershipFactory(account=AccountFactory(name="elsewhere"), group=GroupFactory())
        AccountFactory(name="nowhere")
        assert _names({"group": group.pk}) == {"in"}
        assert _names({"not_group": group.pk}) == {"elsewhere", "nowhere"}

    def test_an_account_in_several_groups_is_listed_once(self):
        group = GroupFactory()
        account = AccountFactory(name="twice")
        MembershipFactory(account=account, group=group)
        MembershipFactory(account=account, group=GroupFactory())
        filterset = AccountFilterSet({"group": group.pk}, now=NOW)
        assert filterset.is_valid()
        assert list(filterset.qs.values_list("name", flat=True)) == ["twice"]

    def test_member_of_one_group_and_not_of_another_combine(self):
        staff, contractors = GroupFactory(name="staff"), GroupFactory(name="contractors")
        both, only_staff = AccountFactory(name="both"), AccountFactory(name="only-staff")
        MembershipFactory(account=both, group=staff)
        MembershipFactory(account=both, group=contractors)
        MembershipFactory(account=only_staff, group=staff)
        MembershipFactory(account=AccountFactory(name="only-contractor"), group=contractors)
        AccountFactory(name="none")
        assert _names({"group": staff.pk, "not_group": contractors.pk}) == {"only-staff"}
        assert _names({"group": staff.pk, "not_group": staff.pk}) == set()

    def test_an_unknown_group_is_an_error(self):
        filterset = AccountFilterSet({"group": "424242"}, now=NOW)
        assert not filterset.is_valid()
        assert "no group with id 424242" in str(filterset.errors["group"])


class TestFlags:
    def test_managed_true_and_false_mean_managed_and_external(self):
        AccountFactory(name="ours", managed=True)
        AccountFactory(name="guest", managed=False)
        assert _names({"managed": "true"}) == {"ours"}
        assert _names({"managed": "false"}) == {"guest"}

    def test_a_yes_no_filter_rejects_anything_but_true_or_false(self):
        filterset = AccountFilterSet({"billable": "maybe"}, now=NOW)
        assert not filterset.is_valid()

    def test_status_account_type_org_admin_and_billable_combine(self):
        AccountFactory(name="match", account_type=AccountType.ATLASSIAN, is_org_admin=True, billable=True)
        AccountFactory(name="app", account_type=AccountType.APP, is_org_admin=True, billable=True)
        AccountFactory(name="suspended", status=AccountStatus.SUSPENDED, is_org_admin=True, billable=True)
        AccountFactory(name="not admin", billable=True)
        data = {"status": "active", "account_type": "atlassian", "is_org_admin": "true", "billable": "true"}
        assert _names(data) == {"match"}


class TestSearch:
    def test_words_match_name_or_email_and_the_account_id_exactly(self):
        AccountFactory(name="Ada Lovelace", email="ada@example.com", account_id="5b10ac8d82e05b22cc7d4ef5")
        AccountFactory(name="Alan Turing", email="alan@example.com")
        assert _names({"q": "ada"}) == {"Ada Lovelace"}
        assert _names({"q": "example.com turing"}) == {"Alan Turing"}
        assert _names({"q": "5b10ac8d82e05b22cc7d4ef5"}) == {"Ada Lovelace"}
        assert _names({"q": "5b10ac8d"}) == set()
