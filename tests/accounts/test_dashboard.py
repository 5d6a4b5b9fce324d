"""The daily activity snapshot and the dashboard on the admin index."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus, ActivitySnapshot
from accounts.snapshots import activity_snapshot_record
from accounts.sync.runner import organization_sync
from tests.factories import AccountFactory, OrganizationFactory, ProductFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class TestSnapshots:
    def test_it_counts_active_and_inactive_accounts_and_every_status(self):
        org = OrganizationFactory()
        AccountFactory(organization=org, last_active=NOW - timedelta(days=2))
        AccountFactory(organization=org, last_active=NOW - timedelta(days=45))
        AccountFactory(organization=org, last_active=None)
        AccountFactory(organization=org, status=AccountStatus.SUSPENDED, last_active=NOW - timedelta(days=1))
        snapshot = activity_snapshot_record(organization=org, now=NOW)
        stored = ActivitySnapshot.objects.get()
        assert (stored.active_30d, stored.inactive) == (1, 2)
        assert stored.by_status == {"active": 3, "suspended": 1}
        assert stored.date == NOW.date() == snapshot.date

    def test_a_second_snapshot_the_same_day_replaces_the_first(self):
        org = OrganizationFactory()
        activity_snapshot_record(organization=org, now=NOW)
        AccountFactory(organization=org, last_active=NOW)
        activity_snapshot_record(organization=org, now=NOW + timedelta(hours=3))
        assert ActivitySnapshot.objects.count() == 1
        assert ActivitySnapshot.objects.get().active_30d == 1

    def test_a_successful_sync_leaves_one_snapshot_for_the_day(self, organization, atlassian):
        assert organization_sync(organization=organization, client=atlassian).ok
        assert organization_sync(organization=organization, client=atlassian).ok
        snapshot = ActivitySnapshot.objects.get(organization=organization)
        assert sum(snapshot.by_status.values()) == organization.accounts.count()

    def test_a_failed_sync_takes_no_snapshot(self, simulator, organization, atlassian):
        simulator.faults.fail_next(1, status=400, path_contains="/users/search")
        assert not organization_sync(organization=organization, client=atlassian).ok
        assert not ActivitySnapshot.objects.exists()


@pytest.fixture
def populated(db):
    org = OrganizationFactory()
    AccountFactory(organization=org, name="recent", last_active=datetime.now(UTC) - timedelta(days=3))
    AccountFactory(organization=org, name="dormant", last_active=datetime.now(UTC) - timedelta(days=300))
    AccountFactory(organization=org, name="gone", status=AccountStatus.DEACTIVATED)
    ProductFactory(organization=org, key="confluence", name="Confluence", seats_used=40, seats_total=50)
    for days in (2, 1):
        ActivitySnapshot.objects.create(
            organization=org,
            date=datetime.now(UTC).date() - timedelta(days=days),
            active_30d=10 + days,
            inactive=5,
            taken_at=datetime.now(UTC),
        )
    return org


class TestDashboard:
    def test_admins_see_status_inactivity_seats_and_the_trend(self, client_for, alice, populated):
        page = client_for(alice).get(reverse("admin:index")).content.decode()
        status = page.split('id="dashboard-status"')[1].split("</div>")[0]
        assert "Deactivated" in status
        assert "?status=deactivated" in status
        inactivity = page.split('id="dashboard-inactivity"')[1].split("</div>")[0]
        assert "?status=active&amp;inactivity=gt180" in inactivity
        assert 'aria-label="Inactive over 180 days: 1"' in inactivity
        assert "40 of 50 seats" in page.split('id="dashboard-seats"')[1]
        trend = page.split('id="dashboard-trend"')[1].split("</svg>")[0]
        assert trend.count('class="trend-active"') == 2
        assert "12 active, 5 inactive" in trend

    def test_staff_who_may_not_view_accounts_get_no_dashboard(self, client_for, nobody, populated):
        page = client_for(nobody).get(reverse("admin:index")).content.decode()
        assert "dashboard-status" not in page
        assert "portal-dashboard" not in page  # no panel at all: no empty grid either

    def test_the_dashboard_costs_a_fixed_number_of_queries(
        self, client_for, alice, populated, django_assert_max_num_queries
    ):
        client = client_for(alice)
        client.get(reverse("admin:index"))
        for n in range(50):
            AccountFactory(organization=populated, last_active=datetime.now(UTC) - timedelta(days=n * 9))
        # Session, user, permissions (2), status, inactivity, products, snapshots, Django's "recent actions",
        # the cached seat savings of the policies panel (filled by the first request), what waits for a
        # decision (pending access requests, also the menu's count; the review queue; requests to give
        # back what an access review removed), the sync status (organizations with their last sync, the
        # runs to show, the schedule's next slot), access ending soon (one aggregate), and the review
        # campaigns in progress (one aggregate).
        with django_assert_max_num_queries(18):
            assert client.get(reverse("admin:index")).status_code == 200


class TestHonestFigures:
    def test_a_product_without_a_seat_limit_gets_no_bar_and_one_at_its_limit_a_full_one(self, client_for, alice):
        org = OrganizationFactory()
        ProductFactory(organization=org, key="loom", name="Loom", seats_used=12, seats_total=None)
        ProductFactory(organization=org, key="jira-software", name="Jira Software", seats_used=50, seats_total=50)
        seats = client_for(alice).get(reverse("admin:index")).content.decode().split('id="dashboard-seats"')[1]
        loom = seats.split(">Loom</a>")[1].split("</tr>")[0]
        assert "12 seats, no limit reported" in loom
        assert "<rect" not in loom
        jira = seats.split(">Jira Software</a>")[1].split("</tr>")[0]
        assert 'class="bar-full"' in jira
        assert "50 of 50 seats" in jira

    def test_the_trend_has_a_count_axis_and_dates_over_thirty_days(self, client_for, alice, populated):
        page = client_for(alice).get(reverse("admin:index")).content.decode()
        trend = page.split('id="dashboard-trend"')[1].split("</svg>")[0]
        today = timezone.localdate()
        first = today - timedelta(days=29)
        assert f">{first:%d %b}</text>" in trend
        assert f">{today:%d %b}</text>" in trend
        assert trend.count('class="trend-label"') >= 7  # 5 dates, top, half and 0
        assert ">0</text>" in trend
        assert ">17</text>" in trend  # the top: 12 active + 5 inactive
