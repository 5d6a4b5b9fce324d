"""Access given until a date, end to end against the simulator: warned 7 and 1 days ahead (the
person and who granted it), extended on request, removed on the day, given back; all audited."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from accounts.clients import client_for
from accounts.models import AccessEndStatus, Account, AccountStatus, Group, Membership, MembershipEnd
from accounts.services.access_ends import membership_end_extend, membership_end_restore
from accounts.services.memberships import membership_add
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.audit.verify import verify_chain
from governance.runs.models import RunStatus
from policies.access.expiry import access_expire

pytestmark = pytest.mark.django_db


def _quiet_client(organization):
    return client_for(organization, sleep=lambda seconds: None, max_total_wait=30)


def _group(organization) -> Group:
    return (
        Group.objects.filter(organization=organization, external_synced=False, is_licence_group=True)
        .exclude(directory_id__in=["", "-"])
        .order_by("pk")
        .first()
    )


def _newcomer(group: Group) -> Account:
    """A plain active account (not an org admin, not provisioned by an IdP) outside ``group``."""
    return (
        Account.objects.filter(organization=group.organization, status=AccountStatus.ACTIVE, is_org_admin=False)
        .exclude(management_source="synced")
        .exclude(email="")
        .exclude(memberships__group=group)
        .order_by("pk")
        .first()
    )


def _members(simulator, group: Group) -> set[str]:
    return set(simulator.state.group(group.name).member_ids)


@pytest.fixture
def granted(mirrored, atlassian, alice):
    """A contractor added to a licence group until ten days from now, by alice."""
    group = _group(mirrored)
    account = _newcomer(group)
    ends = timezone.now().replace(microsecond=0) + timedelta(days=10)
    membership_add(
        account=account,
        group=group,
        client=atlassian,
        actor=Actor.for_user(alice),
        reason="Contract until the launch",
        expires_at=ends,
    )
    return MembershipEnd.objects.get(account=account, group=group)


def _expire():
    return access_expire(now=timezone.now(), client_factory=_quiet_client)


def _extension_link(end: MembershipEnd) -> str:
    """The day's run, then the path of the extension link in the person's warning email."""
    _expire()
    body = next(m.body for m in mail.outbox if end.account.email in m.to)
    return re.search(r"(/access/extend/[^/\s]+/)", body).group(1)


def _events(end: MembershipEnd, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_id=str(end.pk)))


def test_a_membership_with_an_end_date_is_warned_about_extended_on_request_and_removed_on_the_day(
    granted, simulator, client, settings, alice, hank
):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    end, account, group = granted, granted.account, granted.group
    assert account.account_id in _members(simulator, group)
    added = AuditEvent.objects.get(action=AuditAction.MEMBERSHIP_ADDED, target_id__startswith=account.account_id)
    assert added.after["expires_at"] == end.expires_at.isoformat()

    with time_machine.travel(end.expires_at - timedelta(days=6, hours=12), tick=False):
        mail.outbox.clear()
        assert _expire().counts["warned"] == 1
        to = sorted(address for message in mail.outbox for address in message.to)
        assert to == sorted([account.email, alice.email])
        assert _expire().counts["warned"] == 0, "a second run the same day warns nobody again"
    assert len(mail.outbox) == 2
    assert [e.after["days"] for e in _events(end, AuditAction.MEMBERSHIP_END_WARNED)] == [7]

    with time_machine.travel(end.expires_at - timedelta(hours=12), tick=False):
        mail.outbox.clear()
        assert _expire().counts["warned"] == 1
        warning = next(m for m in mail.outbox if account.email in m.to)
        assert "ends tomorrow" in warning.body
        path = re.search(r"https://portal\.example\.com(/access/extend/[^/\s]+/)", warning.body).group(1)
        assert client.get(path).status_code == 200
        answer = client.post(path, {"justification": "The launch slipped by two weeks"})
        assert answer.status_code == 200
        assert client.post(path, {"justification": "again"}).status_code == 410, "the link works once"
        end.refresh_from_db()
        assert end.extension_status == "pending"
        assert end.extension_justification == "The launch slipped by two weeks"
        later = end.expires_at + timedelta(days=14)
        membership_end_extend(end=end, expires_at=later, actor=Actor.for_user(hank), reason="Launch moved")
    end.refresh_from_db()
    assert (end.expires_at, end.extension_status, end.warned_days) == (later, "approved", None)

    with time_machine.travel(later - timedelta(hours=1), tick=False):
        _expire()
    assert account.account_id in _members(simulator, group), "nothing is removed before the day"

    with time_machine.travel(later + timedelta(hours=1), tick=False):
        run = _expire()
        assert (run.status, run.counts["removed"]) == (RunStatus.SUCCEEDED, 1)
        assert _expire().counts["removed"] == 0, "a second run removes nothing twice"
    assert account.account_id not in _members(simulator, group)
    assert not Membership.objects.filter(account=account, group=group).exists()
    end.refresh_from_db()
    assert end.status == AccessEndStatus.REMOVED
    removed = AuditEvent.objects.get(action=AuditAction.MEMBERSHIP_REMOVED, target_id__startswith=account.account_id)
    assert "ended" in removed.reason
    assert removed.correlation_id == run.correlation_id
    for action in (
        AuditAction.MEMBERSHIP_EXTENSION_REQUESTED,
        AuditAction.MEMBERSHIP_END_EXTENDED,
    ):
        assert len(_events(end, action)) == 1, action
    assert verify_chain().ok


def test_an_ended_membership_can_be_given_back(granted, simulator, atlassian, hank):
    end = granted
    with time_machine.travel(end.expires_at + timedelta(minutes=5), tick=False):
        _expire()
    assert end.account.account_id not in _members(simulator, end.group)
    end.refresh_from_db()
    membership_end_restore(end=end, client=atlassian, actor=Actor.for_user(hank), reason="Ended by mistake")
    assert end.account.account_id in _members(simulator, end.group)
    assert end.status == AccessEndStatus.RESTORED
    assert Membership.objects.filter(account=end.account, group=end.group).exists()


def test_a_first_extension_request_is_granted_at_once_when_the_rule_allows_it(granted, client, settings):
    settings.ACCESS_EXTENSION_AUTO_DAYS = 30
    end = granted
    with time_machine.travel(end.expires_at - timedelta(days=5), tick=False):
        path = _extension_link(end)
        assert client.post(path, {"justification": "Still on the project"}).status_code == 200
    before = end.expires_at
    end.refresh_from_db()
    assert end.expires_at == before + timedelta(days=30)
    event = _events(end, AuditAction.MEMBERSHIP_END_EXTENDED)[0]
    assert event.actor_name == "automatic extension"


def test_an_end_whose_membership_already_went_is_closed_without_a_call(granted, simulator, atlassian):
    end = granted
    Membership.objects.filter(account=end.account, group=end.group).delete()  # as a sync would, seeing it gone
    with time_machine.travel(end.expires_at + timedelta(minutes=5), tick=False):
        assert _expire().counts["gone"] == 1
    end.refresh_from_db()
    assert end.status == AccessEndStatus.CANCELLED
    assert not AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_REMOVED).exists()


def test_the_command_runs_the_day_and_says_what_it_did(granted, capsys, settings):
    with time_machine.travel(granted.expires_at + timedelta(minutes=5), tick=False):
        call_command("expire_access")
    assert "removed 1" in capsys.readouterr().out


def test_extension_link_tokens_are_masked_in_logs_like_restore_links():
    from governance.logging import mask_access_tokens

    assert mask_access_tokens("GET /access/extend/eyJtIjo5fQ:abc/ 200") == "GET /access/extend/[token]/ 200"


def test_a_membership_left_in_atlassian_before_the_day_is_not_removed_again_and_its_end_is_closed(granted, simulator):
    end, account, group = granted, granted.account, granted.group
    state = simulator.state
    state.remove_member(state.group_by_name(group.name), state.account(account.account_id))  # outside the portal
    assert Membership.objects.filter(account=account, group=group).exists(), "the mirror has not seen it yet"
    writes = len(simulator.writes_for(account.account_id))

    with time_machine.travel(end.expires_at + timedelta(minutes=5), tick=False):
        run = _expire()
    assert (run.status, run.counts["gone"], run.counts["removed"]) == (RunStatus.SUCCEEDED, 1, 0)
    assert len(simulator.writes_for(account.account_id)) == writes, "no remove call was sent"
    end.refresh_from_db()
    assert end.status == AccessEndStatus.CANCELLED
    assert not Membership.objects.filter(account=account, group=group).exists(), "the mirror follows Atlassian"
    [closed] = _events(end, AuditAction.MEMBERSHIP_END_CANCELLED)
    assert "no longer a member of the group in Atlassian" in closed.reason
    # The only removal on record is the one the read-back saw, not one the portal made.
    [seen] = AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_REMOVED)
    assert "ended" not in seen.reason
    assert verify_chain().ok


def test_an_account_whose_status_changed_since_the_sync_is_left_for_the_next_run(granted, simulator):
    end, account, group = granted, granted.account, granted.group
    state = simulator.state
    state.suspend(state.account(account.account_id))  # suspended in Atlassian after the last sync
    writes = len(simulator.writes_for(account.account_id))

    with time_machine.travel(end.expires_at + timedelta(minutes=5), tick=False):
        run = _expire()
        assert run.counts["changed"] == 1
        assert "status changed" in run.log_excerpt
        assert len(simulator.writes_for(account.account_id)) == writes, "nothing sent on a changed account"
        assert account.account_id in _members(simulator, group)
        end.refresh_from_db()
        assert end.status == AccessEndStatus.SCHEDULED
        [deferred] = _events(end, AuditAction.MEMBERSHIP_END_DEFERRED)
        assert "status changed since the sync" in deferred.reason
        assert Account.objects.get(pk=account.pk).status == AccountStatus.SUSPENDED, "the mirror follows Atlassian"

        # The next run decides on the refreshed mirror: the end date still holds.
        assert _expire().counts["removed"] == 1
    assert account.account_id not in _members(simulator, group)
    end.refresh_from_db()
    assert end.status == AccessEndStatus.REMOVED


def test_extension_requests_are_rate_limited_per_person_like_the_restore_form(granted, client, settings):
    """The form counts submissions per person (the restore and review forms do too): a link
    cannot be used to post without end, whichever address the posts come from."""
    settings.ACCESS_RATE_LIMIT_PER_EMAIL = 2
    settings.ACCESS_RATE_LIMIT_PER_TOKEN = 100
    settings.ACCESS_RATE_LIMIT_PER_IP = 100
    end = granted
    with time_machine.travel(end.expires_at - timedelta(days=5), tick=False):
        path = _extension_link(end)
        statuses = [
            client.post(path, {"justification": ""}, REMOTE_ADDR=f"203.0.113.{60 + i}").status_code for i in range(3)
        ]
    assert statuses == [200, 200, 429]
    end.refresh_from_db()
    assert end.status == AccessEndStatus.SCHEDULED
    assert end.extension_requested_at is None
