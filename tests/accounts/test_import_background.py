"""Imports above IMPORT_BACKGROUND_ROWS are applied by a task worker, with progress and a result page;
the same checks (the plan is made again and must be the one confirmed) and the same audit events."""

import csv
import io

import pytest
from django.urls import reverse

from accounts.importexport.background import PLAN_CHANGED
from accounts.models import Account, AccountStatus, Group
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.runs.models import RunStatus, TaskRun
from tests import taskqueue
from tests.accounts.export_files import export_file
from tests.factories import OrganizationFactory

CHANGES, SEED = "0", "1"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_background_limit(settings):
    settings.ROOT_URLCONF = "governance.urls"
    settings.IMPORT_BACKGROUND_ROWS = 2


def upload(client, organization, data: bytes, *, kind=SEED):
    file = io.BytesIO(data)
    file.name = "upload.csv"
    form = {"resource": kind, "organization": organization.pk, "format": "0", "import_file": file}
    return client.post(reverse("admin:accounts_account_import"), form)


def confirm(client, preview):
    form = preview.context["confirm_form"]
    assert form is not None, preview.context["preview"].shown_errors()
    return client.post(reverse("admin:accounts_account_process_import"), {n: form.initial[n] for n in form.fields})


def changes_file(rows) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([("account_id", "status"), *rows])
    return out.getvalue().encode()


def import_tasks():
    return [task for task in taskqueue.queued() if task["func"] == "accounts.importexport.tasks.run_import"]


class TestASeedImportAboveTheLimit:
    def test_it_is_queued_then_applied_by_the_worker_with_the_same_audit(self, client_for, alice):
        org = OrganizationFactory()
        client = client_for(alice)
        response = confirm(client, upload(client, org, export_file("atlassian_users_export.csv")))
        run = TaskRun.objects.get(name="import")
        assert response.status_code == 302
        assert response.url == reverse("admin:accounts_account_import_run", args=[run.pk])
        assert (run.status, run.progress["done"], run.progress["total"]) == (RunStatus.RUNNING, 0, 4)
        assert len(import_tasks()) == 1
        assert not Account.objects.exists()  # nothing written inside the request

        running = client.get(response.url).content.decode()
        assert "Running: 0 of 4 accounts handled" in running
        assert '<meta http-equiv="refresh" content="3">' in running

        assert taskqueue.run_queued_tasks() == 1
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED
        assert run.progress["done"] == 4
        assert Account.objects.filter(organization=org).count() == 4
        assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_IMPORTED, actor_name="alice").count() == 4
        summary = AuditEvent.objects.get(action=AuditAction.IMPORT_APPLIED)
        assert (summary.actor_name, summary.correlation_id) == ("alice", run.correlation_id)
        done = client.get(response.url).content.decode()
        assert "The mirror was seeded from the file" in done
        assert "http-equiv" not in done

    def test_a_mirror_changed_before_the_worker_ran_applies_nothing(self, client_for, alice):
        org = OrganizationFactory()
        client = client_for(alice)
        confirm(client, upload(client, org, export_file("atlassian_users_export.csv")))
        Group.objects.create(organization=org, group_id="g-1001", name="jira-software-users")
        taskqueue.run_queued_tasks()
        run = TaskRun.objects.get(name="import")
        assert (run.status, run.error) == (RunStatus.FAILED, PLAN_CHANGED)
        assert not Account.objects.exists()
        assert not AuditEvent.objects.filter(action=AuditAction.IMPORT_APPLIED).exists()

    def test_at_or_below_the_limit_it_stays_in_the_request(self, client_for, alice, settings):
        settings.IMPORT_BACKGROUND_ROWS = 4
        org = OrganizationFactory()
        client = client_for(alice)
        result = confirm(client, upload(client, org, export_file("atlassian_users_export.csv")))
        assert result.status_code == 200
        assert Account.objects.filter(organization=org).count() == 4
        assert not TaskRun.objects.filter(name="import").exists()

    def test_only_importers_see_an_import_run(self, client_for, alice, audrey):
        org = OrganizationFactory()
        client = client_for(alice)
        url = confirm(client, upload(client, org, export_file("atlassian_users_export.csv"))).url
        assert client_for(audrey).get(url).status_code == 403


class TestAChangesImportAboveTheLimit:
    @pytest.fixture
    def plain(self, organization, atlassian):
        assert organization_sync(organization=organization, client=atlassian).ok
        accounts = Account.objects.exclude(management_source="synced").filter(
            status=AccountStatus.ACTIVE, is_org_admin=False, managed=True
        )
        return list(accounts.order_by("pk")[:3])

    def test_the_worker_makes_the_changes_in_atlassian_and_records_progress(
        self, client_for, alice, organization, simulator, plain
    ):
        client = client_for(alice)
        data = changes_file([[account.account_id, "suspended"] for account in plain])
        confirm(client, upload(client, organization, data, kind=CHANGES))
        assert all(simulator.state.user(a.account_id).status == "active" for a in plain)
        taskqueue.run_queued_tasks()
        run = TaskRun.objects.get(name="import")
        assert run.status == RunStatus.SUCCEEDED
        assert (run.progress["done"], run.progress["total"], run.counts["applied"]) == (3, 3, 3)
        assert all(simulator.state.user(a.account_id).status == "suspended" for a in plain)
        events = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED)
        assert {(e.actor_name, e.correlation_id) for e in events} == {("alice", run.correlation_id)}

    def test_a_refused_row_stops_the_import_and_the_run_says_where(
        self, client_for, alice, organization, simulator, plain
    ):
        client = client_for(alice)
        data = changes_file([[account.account_id, "suspended"] for account in plain])
        preview = upload(client, organization, data, kind=CHANGES)
        simulator.faults.fail_next(1, status=403, path_contains="/suspend", after=1)  # the second row's
        confirm(client, preview)
        taskqueue.run_queued_tasks()
        run = TaskRun.objects.get(name="import")
        assert run.status == RunStatus.FAILED
        assert run.error.startswith("The import stopped at row 3")
        assert (run.counts["applied"], run.counts["failed"], run.counts["not_attempted"]) == (1, 1, 1)
        assert AuditEvent.objects.get(action=AuditAction.IMPORT_APPLIED).after["outcome"] == "failed"
        assert simulator.state.user(plain[2].account_id).status == "active"
