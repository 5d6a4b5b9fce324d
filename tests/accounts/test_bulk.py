"""accounts_bulk_apply: many accounts through the ordinary services, against the simulator over HTTP."""

import pytest

from accounts.bulk import BulkActionError, Outcome, accounts_bulk_apply
from accounts.clients import MissingCredentials, client_for
from accounts.models import Account, AccountStatus, Group, Membership, Product
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.audit.verify import verify_chain
from governance.runs.models import RunStatus, TaskRun
from governance.runs.services import task_run_start
from tests.factories import GroupFactory, OrganizationFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("bulk-test")


class Clients:
    """A client factory that remembers what it built, so tests can count the HTTP requests."""

    def __init__(self):
        self.built = []

    def __call__(self, organization):
        client = client_for(organization, sleep=lambda seconds: None, max_total_wait=5)
        self.built.append(client)
        return client

    @property
    def requests(self) -> int:
        return sum(client.stats.requests for client in self.built)


@pytest.fixture
def mirrored(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    return organization


@pytest.fixture
def clients():
    return Clients()


def _plain(n: int, **extra) -> list[Account]:
    accounts = Account.objects.exclude(management_source="synced").filter(
        status=AccountStatus.ACTIVE, is_org_admin=False, managed=True, **extra
    )
    return list(accounts.order_by("pk")[:n])


def _apply(action, accounts, clients, **params):
    return accounts_bulk_apply(
        action=action,
        account_ids=[a.pk for a in accounts],
        params={"reason": "tidy-up", **params},
        actor=ACTOR,
        client_factory=clients,
    )


def _by_pk(outcome) -> dict:
    return {r.account_pk: r for r in outcome.results}


class TestSuspend:
    def test_each_account_is_suspended_in_atlassian_and_the_mirror_with_one_event_each(
        self, simulator, mirrored, clients
    ):
        accounts = _plain(3)
        events = AuditEvent.objects.count()
        outcome = _apply("suspend", accounts, clients)
        assert outcome.count_dict() == {"done": 3, "skipped": 0, "refused": 0, "failed": 0}
        for account in accounts:
            assert simulator.state.user(account.account_id).status == "suspended"
            account.refresh_from_db()
            assert account.status == AccountStatus.SUSPENDED
        suspended = AuditEvent.objects.filter(
            action=AuditAction.ACCOUNT_SUSPENDED, correlation_id=outcome.correlation_id
        )
        assert suspended.count() == 3
        assert AuditEvent.objects.count() == events + 3
        assert set(suspended.values_list("reason", flat=True)) == {"tidy-up"}
        assert verify_chain().ok

    def test_org_admins_are_refused_with_the_reason_and_the_others_still_done(self, mirrored, clients):
        admin = Account.objects.filter(is_org_admin=True, status=AccountStatus.ACTIVE).first()
        plain = _plain(1)[0]
        outcome = _apply("suspend", [admin, plain], clients)
        results = _by_pk(outcome)
        assert results[admin.pk].outcome == Outcome.REFUSED
        assert "organization admin" in results[admin.pk].message
        assert results[plain.pk].outcome == Outcome.DONE
        admin.refresh_from_db()
        assert admin.status == AccountStatus.ACTIVE

    def test_atlassians_error_is_reported_for_that_account_and_the_run_goes_on(self, simulator, mirrored, clients):
        first, second = _plain(2)
        simulator.faults.fail_next(1, status=403, path_contains="/suspend")
        outcome = _apply("suspend", [first, second], clients)
        results = _by_pk(outcome)
        assert results[first.pk].outcome == Outcome.FAILED
        assert "403" in results[first.pk].message
        assert results[second.pk].outcome == Outcome.DONE
        first.refresh_from_db()
        assert first.status == AccountStatus.ACTIVE
        assert AuditEvent.objects.filter(action=AuditAction.ATLASSIAN_CALL_FAILED).count() == 1

    def test_accounts_already_suspended_are_skipped_without_calling_atlassian(self, mirrored, clients):
        account = _plain(1)[0]
        Account.objects.filter(pk=account.pk).update(status=AccountStatus.SUSPENDED)
        outcome = _apply("suspend", [account], clients)
        assert outcome.results[0].outcome == Outcome.SKIPPED
        assert outcome.results[0].message == "already suspended"
        assert clients.requests == 0

    def test_accounts_gone_from_the_mirror_are_skipped(self, mirrored, clients):
        outcome = accounts_bulk_apply(
            action="suspend", account_ids=[987654], params={"reason": "x"}, actor=ACTOR, client_factory=clients
        )
        assert outcome.results[0].outcome == Outcome.SKIPPED
        assert outcome.results[0].message == "no longer in the mirror"


class TestActivateAndDeactivate:
    def test_activate_restores_a_suspension_and_re_enables_a_deactivation(self, simulator, mirrored, clients):
        suspended, deactivated, active = _plain(3)
        _apply("suspend", [suspended], clients)
        _apply("deactivate", [deactivated], clients)
        outcome = _apply("activate", [suspended, deactivated, active], clients)
        results = _by_pk(outcome)
        assert [results[a.pk].outcome for a in (suspended, deactivated)] == [Outcome.DONE, Outcome.DONE]
        assert results[active.pk].outcome == Outcome.SKIPPED
        for account in (suspended, deactivated):
            assert simulator.state.user(account.account_id).status == "active"

    def test_external_accounts_cannot_be_deactivated(self, mirrored, clients):
        external = Account.objects.filter(managed=False, is_org_admin=False, status=AccountStatus.ACTIVE).first()
        outcome = _apply("deactivate", [external], clients)
        assert outcome.results[0].outcome == Outcome.REFUSED
        assert "not a managed account" in outcome.results[0].message


class TestGroupsAndProducts:
    def test_add_to_group_then_remove_from_group(self, simulator, mirrored, clients):
        group = Group.objects.filter(external_synced=False, is_licence_group=False).first()
        accounts = [a for a in _plain(6) if not Membership.objects.filter(account=a, group=group).exists()][:2]
        added = _apply("add_to_group", accounts, clients, group=group.pk)
        assert added.count_dict()["done"] == 2
        assert all(group.name in simulator.state.user(a.account_id).groups for a in accounts)
        again = _apply("add_to_group", accounts, clients, group=group.pk)
        assert again.count_dict()["skipped"] == 2
        removed = _apply("remove_from_group", accounts, clients, group=group.pk)
        assert removed.count_dict()["done"] == 2
        assert not Membership.objects.filter(group=group, account__in=accounts).exists()

    def test_remove_product_access_takes_the_product_away(self, simulator, mirrored, clients):
        jira = Product.objects.get(key="jira-software")
        candidates = _plain(40, product_access__product=jira)
        account = next(
            a
            for a in candidates
            if not Group.objects.filter(memberships__account=a, grants__product=jira, external_synced=True).exists()
        )
        outcome = _apply("remove_product_access", [account], clients, product=jira.pk)
        assert outcome.results[0].outcome == Outcome.DONE
        assert "jira-software" not in simulator.state.user(account.account_id).products
        assert not account.product_access.filter(product=jira).exists()

    def test_a_group_of_another_organization_is_refused(self, mirrored, clients):
        foreign = GroupFactory(organization=OrganizationFactory(org_id="other-org"), name="elsewhere")
        outcome = _apply("add_to_group", _plain(1), clients, group=foreign.pk)
        assert outcome.results[0].outcome == Outcome.REFUSED
        assert "another organization" in outcome.results[0].message
        assert clients.requests == 0


class TestBadRequests:
    @pytest.mark.parametrize(
        ("action", "params", "message"),
        [
            ("suspend", {"reason": "  "}, "Give a reason"),
            ("add_to_group", {"reason": "x", "group": 424242}, "no group with id 424242"),
            ("add_to_group", {"reason": "x"}, "no group with id None"),
            ("remove_product_access", {"reason": "x", "product": "jira"}, "no product with id 'jira'"),
            ("explode", {"reason": "x"}, "no bulk action called 'explode'"),
        ],
    )
    def test_it_refuses_before_changing_anything(self, mirrored, clients, action, params, message):
        events = AuditEvent.objects.count()
        with pytest.raises(BulkActionError, match=message):
            accounts_bulk_apply(
                action=action, account_ids=[a.pk for a in _plain(2)], params=params, actor=ACTOR, client_factory=clients
            )
        assert AuditEvent.objects.count() == events
        assert clients.built == []

    def test_an_idp_synced_group_is_refused_once_for_the_whole_request(self, mirrored, clients):
        synced = Group.objects.filter(external_synced=True).first()
        with pytest.raises(BulkActionError, match="identity provider"):
            _apply("add_to_group", _plain(2), clients, group=synced.pk)

    def test_missing_credentials_fail_each_account_with_a_clear_message(self, mirrored):
        def no_credentials(organization):
            raise MissingCredentials("No Admin API key for organization sim-org: set ATLASSIAN_ADMIN_API_KEY.")

        outcome = _apply("suspend", _plain(2), no_credentials)
        assert outcome.count_dict()["failed"] == 2
        assert all("No Admin API key" in r.message for r in outcome.results)


class TestRunRecord:
    def test_with_a_run_it_writes_progress_counts_and_closes_the_run(self, mirrored, clients, monkeypatch):
        monkeypatch.setattr("accounts.bulk.PROGRESS_EVERY", 2)
        admin = Account.objects.filter(is_org_admin=True, status=AccountStatus.ACTIVE).first()
        accounts = [*_plain(3), admin]
        run = task_run_start(name="bulk_action", correlation_id="bulk-corr-1")
        outcome = accounts_bulk_apply(
            action="suspend",
            account_ids=[a.pk for a in accounts],
            params={"reason": "x"},
            actor=ACTOR,
            client_factory=clients,
            run=run,
        )
        run = TaskRun.objects.get(pk=run.pk)
        assert run.status == RunStatus.SUCCEEDED
        assert run.progress == {"done": 4, "total": 4}
        assert run.counts == {"done": 3, "skipped": 0, "refused": 1, "failed": 0}
        assert "refused:" in run.log_excerpt
        assert outcome.correlation_id == "bulk-corr-1"
        assert AuditEvent.objects.filter(correlation_id="bulk-corr-1").count() == 3

    def test_a_run_with_failures_is_marked_failed_with_a_summary(self, simulator, mirrored, clients):
        simulator.faults.fail_next(1, status=400, path_contains="/suspend")
        run = task_run_start(name="bulk_action")
        accounts_bulk_apply(
            action="suspend",
            account_ids=[a.pk for a in _plain(2)],
            params={"reason": "x"},
            actor=ACTOR,
            client_factory=clients,
            run=run,
        )
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED
        assert run.error == "1 of 2 accounts failed."

    def test_a_bad_request_closes_the_run_as_refused(self, mirrored, clients):
        run = task_run_start(name="bulk_action")
        with pytest.raises(BulkActionError):
            accounts_bulk_apply(
                action="add_to_group",
                account_ids=[1],
                params={"reason": "x", "group": 999999},
                actor=ACTOR,
                client_factory=clients,
                run=run,
            )
        run.refresh_from_db()
        assert run.status == RunStatus.REFUSED
        assert "no group" in run.error
