"""The sync's lease (accounts.sync.runner): never leaked, renewed while it works, and a sync that lost
it stops before marking anyone removed."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone

from accounts.leases import sync_lease
from accounts.models import Account, AccountStatus
from accounts.sync import runner
from governance.audit.models import AuditAction, AuditEvent
from governance.runs import locks
from governance.runs.models import RunLock, RunStatus

pytestmark = pytest.mark.django_db


def test_a_failure_opening_the_run_releases_the_sync_lease(organization, atlassian):
    locked = OperationalError("database is locked")
    with mock.patch.object(runner, "task_run_start", side_effect=locked), pytest.raises(OperationalError):
        runner.organization_sync(organization=organization, client=atlassian)
    assert RunLock.objects.get(name=sync_lease(organization.org_id)).holder == ""
    assert runner.organization_sync(organization=organization, client=atlassian).ok


def test_a_sync_that_lost_its_lease_marks_nobody_removed(organization, atlassian, simulator, monkeypatch):
    assert runner.organization_sync(organization=organization, client=atlassian).ok
    gone = Account.objects.filter(organization=organization, status=AccountStatus.ACTIVE).first()
    simulator.state.remove_user(gone.account_id)  # left the org: a complete sync would mark it removed
    monkeypatch.setattr(locks, "RENEW_SHARE", 0)
    name = sync_lease(organization.org_id)
    apply_user_page = runner.apply_user_page

    def apply_then_stall(ctx, batch):
        apply_user_page(ctx, batch)
        RunLock.objects.filter(name=name).update(expires_at=timezone.now() - timedelta(seconds=1))
        assert locks.acquire(name, ttl=timedelta(minutes=30), holder="the-next-sync")

    monkeypatch.setattr(runner, "apply_user_page", apply_then_stall)
    result = runner.organization_sync(organization=organization, client=atlassian)

    assert result.status == RunStatus.HALTED
    assert "lease" in result.error
    gone.refresh_from_db()
    assert gone.status == AccountStatus.ACTIVE
    assert AuditEvent.objects.filter(action=AuditAction.SYNC_HALTED).count() == 1
    assert RunLock.objects.get(name=name).holder == "the-next-sync"


def test_a_sync_renews_its_lease_as_it_goes(organization, atlassian, monkeypatch):
    monkeypatch.setattr(locks, "RENEW_SHARE", 0)
    renewed = []
    renew = locks.renew
    monkeypatch.setattr(locks, "renew", lambda *a, **kw: renewed.append(a[0]) or renew(*a, **kw))
    assert runner.organization_sync(organization=organization, client=atlassian).ok
    assert renewed.count(sync_lease(organization.org_id)) >= 2  # each batch, and before removals
