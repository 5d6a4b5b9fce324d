"""A re-sync compares the mirror's accounts as plain database values (accounts/sync/users.py
``KnownAccount``) and each account's memberships and product access as one set or dict: only what
differs is written and audited, once, and everything else is left exactly as it was."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, AccountStatus, Membership, ProductAccess
from accounts.sync.context import SyncContext
from accounts.sync.runner import organization_sync
from accounts.sync.users import _known_accounts, known_account
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from tests.accounts.conftest import SIM_NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def mirrored(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok
    return organization


def _resync(organization, client):
    result = organization_sync(organization=organization, client=client)
    assert result.ok, result.error
    return result


def _synced_at(organization) -> dict[int, object]:
    return dict(Account.objects.filter(organization=organization).values_list("pk", "last_synced_at"))


def _account_events(result) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(correlation_id=result.run.correlation_id).exclude(action__startswith="sync."))


def _writes_to(table: str, queries) -> list[str]:
    verbs = ("INSERT", "UPDATE", "DELETE")
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(verbs) and f'"{table}"' in q["sql"]]


def test_the_mirror_row_read_raw_equals_the_instance_it_holds(mirrored):
    """The batch reads accounts as driver values, the read-back passes an instance: both must give
    the same comparison form (timestamps as stored, booleans, the directory), or the read-back
    would rewrite unchanged accounts and the batch miss changed ones."""
    accounts = list(Account.objects.filter(organization=mirrored).order_by("pk"))
    assert any(a.last_active for a in accounts)
    assert any(a.managed for a in accounts)
    stamped = accounts[0]
    Account.objects.filter(pk=stamped.pk).update(portal_changed_at=timezone.now(), imported_as_of=timezone.now())
    stamped.refresh_from_db()
    ctx = SyncContext(organization=mirrored, now=timezone.now(), correlation_id="c", actor=Actor.system("test"))

    class User:
        def __init__(self, account_id):
            self.account_id = account_id

    raw = _known_accounts(ctx, [User(a.account_id) for a in accounts])
    assert len(raw) == len(accounts)
    for account in accounts:
        assert raw[account.account_id] == known_account(account), account.account_id
    assert raw[stamped.account_id].portal_changed_at == stamped.portal_changed_at
    assert raw[stamped.account_id].imported


def test_a_remote_suspension_among_unchanged_accounts_writes_one_row_and_one_event(mirrored, atlassian, simulator):
    account = Account.objects.filter(organization=mirrored, status=AccountStatus.ACTIVE).order_by("pk").first()
    before = _synced_at(mirrored)
    changed_at = dict(Account.objects.values_list("pk", "status_changed_at"))
    simulator.state.suspend(simulator.state.account(account.account_id))
    started = timezone.now()
    result = _resync(mirrored, atlassian)
    assert result.counts["accounts_updated"] == 1
    after = _synced_at(mirrored)
    assert {pk for pk in after if after[pk] != before[pk]} == {account.pk}
    events = _account_events(result)
    assert [(e.action, e.target_id, e.target_repr) for e in events] == [
        (AuditAction.ACCOUNT_SUSPENDED, str(account.pk), str(account))
    ]
    assert events[0].target_type == "accounts.account"
    assert events[0].before == {"status": "active"}
    account.refresh_from_db()
    assert account.status == AccountStatus.SUSPENDED
    assert started <= account.status_changed_at <= timezone.now()
    changed_after = dict(Account.objects.values_list("pk", "status_changed_at"))
    assert {pk for pk in changed_after if changed_after[pk] != changed_at[pk]} == {account.pk}


def test_new_activity_on_one_product_writes_that_product_access_row_alone(mirrored, atlassian, simulator):
    account = (
        Account.objects.filter(organization=mirrored, status=AccountStatus.ACTIVE).exclude(last_active=None).first()
    )
    access = account.product_access.select_related("product").first()
    rows_before = dict(ProductAccess.objects.values_list("pk", "last_active"))
    simulator.state.set_last_active(account.account_id, access.product.key, SIM_NOW)
    with CaptureQueriesContext(connection) as queries:
        result = _resync(mirrored, atlassian)
    assert result.counts["product_access_written"] == 1
    assert result.counts["accounts_updated"] == 1
    rows_after = dict(ProductAccess.objects.values_list("pk", "last_active"))
    assert {pk for pk in rows_after if rows_after[pk] != rows_before[pk]} == {access.pk}
    assert rows_after[access.pk] == SIM_NOW
    assert len(_writes_to("accounts_productaccess", queries.captured_queries)) == 1
    assert not _writes_to("accounts_membership", queries.captured_queries)
    assert _account_events(result) == []  # activity is mirrored, not audited


def test_one_group_left_among_many_unchanged_memberships_is_deleted_and_audited_once(mirrored, atlassian, simulator):
    membership = Membership.objects.select_related("account", "group").filter(group__external_synced=False).first()
    count = Membership.objects.count()
    state = simulator.state
    state.remove_member(state.group_by_id(membership.group.group_id), state.account(membership.account.account_id))
    result = _resync(mirrored, atlassian)
    assert Membership.objects.count() == count - 1
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert result.counts["memberships_removed"] == 1
    assert result.counts.get("memberships_added", 0) == 0
    events = _account_events(result)
    assert [(e.action, e.target_id) for e in events] == [
        (AuditAction.MEMBERSHIP_REMOVED, f"{membership.account.account_id}:{membership.group.pk}")
    ]
    assert events[0].target_repr == f"{membership.account} in {membership.group.name}"


def test_an_account_stamped_by_the_portal_after_the_pages_were_fetched_is_left_alone(mirrored, atlassian):
    """Both accounts differ from Atlassian's pages; the one a service changed after the pages were
    asked for keeps the mirror's value, the other is written back as Atlassian has it."""
    stamped, plain = Account.objects.filter(organization=mirrored, status=AccountStatus.ACTIVE).order_by("pk")[:2]
    Account.objects.filter(pk__in=[stamped.pk, plain.pk]).update(name="Renamed in the mirror")
    Account.objects.filter(pk=stamped.pk).update(portal_changed_at=timezone.now() + timedelta(hours=1))
    result = _resync(mirrored, atlassian)
    assert result.counts["accounts_deferred"] == 1
    assert result.counts["accounts_updated"] == 1
    assert Account.objects.get(pk=stamped.pk).name == "Renamed in the mirror"
    assert Account.objects.get(pk=plain.pk).name == plain.name


def test_one_account_whose_activity_went_blank_is_blanked_at_the_end_and_alone_written(mirrored, atlassian, simulator):
    """A single blank is under the share limit: the batch keeps the stored value and the end of the
    complete sync blanks it (DESIGN.md 5.2); no other account is written."""
    account = (
        Account.objects.filter(organization=mirrored, status=AccountStatus.ACTIVE).exclude(last_active=None).first()
    )
    for access in account.product_access.select_related("product"):
        simulator.state.set_last_active(account.account_id, access.product.key, None)
    before = _synced_at(mirrored)
    _resync(mirrored, atlassian)
    account.refresh_from_db()
    assert account.last_active is None
    assert not account.product_access.exclude(last_active=None).exists()
    after = _synced_at(mirrored)
    assert {pk for pk in after if after[pk] != before[pk]} <= {account.pk}
