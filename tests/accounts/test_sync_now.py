""" "Sync now" from the admin: queued through django-q2, one at a time per organization, with live
progress on the sync's run row and the last and next sync shown on the dashboard and accounts list."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from accounts.models import Account
from accounts.sync.requests import NEVER_STARTED, organization_sync_request, queued_run_expiry
from accounts.tasks import sync_organization_now
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.runs.models import RunStatus, TaskRun
from governance.schedules import apply_schedules
from tests import taskqueue


def sync_now_url(organization):
    return reverse("admin:accounts_organization_sync_now", args=[organization.pk])


def progress_url(run):
    return reverse("admin:accounts_organization_sync_run", args=[run.pk])


@pytest.fixture
def click_sync_now(client_for, django_capture_on_commit_callbacks, organization):
    def click(user):
        with django_capture_on_commit_callbacks(execute=True):
            return client_for(user).post(sync_now_url(organization))

    return click


def text_of(response) -> str:
    return " ".join(strip_tags(response.content.decode()).split())


def sync_tasks():
    return [task for task in taskqueue.queued() if task["func"] == "accounts.tasks.sync_organization_now"]


@pytest.mark.django_db
class TestSyncNowQueuesOneSyncPerOrganization:
    def test_a_portal_admin_queues_a_sync_and_lands_on_its_progress_page(self, click_sync_now, alice, organization):
        response = click_sync_now(alice)
        run = TaskRun.objects.get(name="sync")
        assert response.status_code == 302
        assert response.url == progress_url(run)
        assert (run.status, run.trigger, run.organization, run.started_by) == ("queued", "manual", "sim-org", "alice")
        assert [task["args"][0] for task in sync_tasks()] == [run.pk]
        [event] = AuditEvent.objects.filter(action=AuditAction.SYNC_REQUESTED)
        assert (event.actor_name, event.organization, event.after) == ("alice", "sim-org", {"run": run.pk})

    def test_a_second_click_while_queued_joins_the_queued_sync(self, click_sync_now, alice, organization):
        first = click_sync_now(alice)
        second = click_sync_now(alice)
        assert second.url == first.url
        assert TaskRun.objects.filter(name="sync").count() == 1
        assert len(sync_tasks()) == 1
        assert AuditEvent.objects.filter(action=AuditAction.SYNC_REQUESTED).count() == 1

    def test_a_click_while_a_sync_runs_shows_that_sync(self, click_sync_now, alice, organization):
        running = TaskRun.objects.create(
            name="sync", organization="sim-org", status=RunStatus.RUNNING, started_at=timezone.now()
        )
        assert click_sync_now(alice).url == progress_url(running)
        assert sync_tasks() == []

    def test_a_queued_sync_no_worker_took_stops_blocking_and_is_closed(self, alice, organization):
        stale = TaskRun.objects.create(
            name="sync",
            organization="sim-org",
            status=RunStatus.QUEUED,
            started_at=timezone.now() - queued_run_expiry() - timedelta(minutes=1),
        )
        outcome = organization_sync_request(organization=organization, actor=Actor.for_user(alice))
        assert outcome.queued
        assert outcome.run.pk != stale.pk
        stale.refresh_from_db()
        assert (stale.status, stale.error) == (RunStatus.FAILED, NEVER_STARTED)

    @pytest.mark.parametrize("persona", ["hank", "audrey", "nobody"])
    def test_only_those_who_may_change_the_organization_sync_it(self, request, click_sync_now, persona, organization):
        assert click_sync_now(request.getfixturevalue(persona)).status_code == 403
        assert not TaskRun.objects.exists()
        assert sync_tasks() == []

    def test_it_answers_post_only(self, client_for, alice, organization):
        assert client_for(alice).get(sync_now_url(organization)).status_code == 405
        assert not TaskRun.objects.exists()


@pytest.mark.django_db
class TestTheQueuedSyncRuns:
    def test_the_worker_syncs_under_the_queued_run_and_records_its_progress(
        self, click_sync_now, client_for, alice, organization, simulator
    ):
        click_sync_now(alice)
        assert taskqueue.run_queued_tasks() == 1
        run = TaskRun.objects.get(name="sync")
        users = Account.objects.filter(organization=organization).count()
        assert run.status == RunStatus.SUCCEEDED
        assert users > 0
        assert run.progress["done"] == run.progress["total"] == users
        assert run.progress["phase"] == "finishing"
        assert run.progress["pages"] > 0
        completed = AuditEvent.objects.get(action=AuditAction.SYNC_COMPLETED)
        assert (completed.actor_name, completed.correlation_id) == ("alice", run.correlation_id)
        response = client_for(alice).get(progress_url(run))
        page = text_of(response)
        assert "Succeeded" in page
        assert f"{users} of {users} accounts processed" in page
        assert 'http-equiv="refresh"' not in response.content.decode()

    def test_a_task_delivered_twice_syncs_once(self, alice, organization, simulator):
        run = organization_sync_request(organization=organization, actor=Actor.for_user(alice)).run
        actor = {"kind": "admin", "name": "alice", "user_id": alice.pk, "client_ip": None}
        assert sync_organization_now(run.pk, actor) == RunStatus.SUCCEEDED
        assert sync_organization_now(run.pk, actor).startswith("skipped")
        assert TaskRun.objects.filter(name="sync").count() == 1

    def test_the_progress_page_of_a_queued_sync_refreshes_itself(self, click_sync_now, client_for, alice, audrey):
        run = TaskRun.objects.get(pk=click_sync_now(alice).url.rstrip("/").rsplit("/", 1)[1])
        page = client_for(audrey).get(progress_url(run)).content.decode()
        assert "Queued: waiting for a task worker" in page
        assert '<meta http-equiv="refresh" content="2">' in page

    def test_the_progress_page_of_a_running_sync_says_how_far_it_is(self, client_for, alice):
        run = TaskRun.objects.create(
            name="sync",
            organization="sim-org",
            status=RunStatus.RUNNING,
            started_at=timezone.now(),
            progress={"done": 500, "total": 2000, "phase": "users", "pages": 7},
        )
        page = text_of(client_for(alice).get(progress_url(run)))
        assert "Running: reading and writing accounts" in page
        assert "500 of 2000 accounts processed, 7 pages fetched from Atlassian so far" in page


@pytest.mark.django_db
class TestSyncStatusOnTheDashboardAndAccountsList:
    @pytest.fixture
    def synced(self, organization):
        apply_schedules()
        finished = timezone.now() - timedelta(hours=2)
        return TaskRun.objects.create(
            name="sync",
            organization="sim-org",
            status=RunStatus.HALTED,
            started_at=finished - timedelta(minutes=1),
            finished_at=finished,
            error="Would remove too many",
        )

    @pytest.mark.parametrize("url", [reverse("admin:index"), reverse("admin:accounts_account_changelist")])
    def test_the_last_sync_its_outcome_the_next_one_and_the_button(self, client_for, alice, synced, url):
        page = client_for(alice).get(url).content.decode()
        section = page.split('id="sync-status"')[1].split("</table>")[0]
        assert timezone.localtime(synced.finished_at).strftime("%Y-%m-%d %H:%M") in section
        assert "Halted by a safety limit" in section
        assert "not scheduled" not in section
        assert "Sync now" in section

    def test_an_auditor_sees_the_status_but_no_button(self, client_for, audrey, synced):
        page = client_for(audrey).get(reverse("admin:accounts_account_changelist")).content.decode()
        assert 'id="sync-status"' in page
        assert "Sync now" not in page
