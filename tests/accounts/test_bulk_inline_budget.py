"""A bulk action run in the page has a time budget (``BULK_ACTION_INLINE_BUDGET``): a slow or
rate-limited Atlassian cannot keep a web request open for minutes. The accounts it did not start in
time go on in a background run under the same correlation id; none is started twice, none is lost,
the admin's result page and the API's answer say so."""

from collections import Counter

import pytest
from django.urls import reverse
from django_q.conf import Conf
from rest_framework.test import APIClient

from accounts.models import Account, AccountStatus
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.verify import verify_chain
from governance.runs.models import RunStatus, RunTrigger, TaskRun

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:accounts_account_changelist")


@pytest.fixture
def slow(organization, atlassian, simulator, settings, monkeypatch):
    """Four plain accounts, an Atlassian answering in 100 ms (a suspension is three calls), one call
    at a time and a page budget spent during the first account; queued tasks run at once, in
    this process, as a cluster would run them."""
    assert organization_sync(organization=organization, client=atlassian).ok
    settings.ATLASSIAN_CONCURRENCY = 1
    settings.BULK_ACTION_INLINE_BUDGET = 0.2
    simulator.faults.latency_ms = 100
    monkeypatch.setattr(Conf, "SYNC", True)
    accounts = Account.objects.exclude(management_source="synced").filter(
        status=AccountStatus.ACTIVE, is_org_admin=False, managed=True
    )
    return list(accounts.order_by("pk")[:4])


def _suspend_writes(simulator, accounts) -> Counter:
    writes = Counter()
    for account in accounts:
        writes[account.account_id] = sum(1 for w in simulator.writes_for(account.account_id) if "suspend" in w.path)
    return writes


def _check_each_suspended_once(simulator, accounts, correlation_id: str) -> None:
    assert set(_suspend_writes(simulator, accounts).values()) == {1}  # none twice, none lost
    events = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED, correlation_id=correlation_id)
    assert sorted(events.values_list("target_id", flat=True)) == sorted(str(a.pk) for a in accounts)
    assert verify_chain().ok


def test_the_admin_page_does_what_fits_in_its_budget_and_the_rest_goes_on_in_the_background(
    slow, simulator, client_for, alice
):
    client = client_for(alice)
    data = {
        "action": "bulk_suspend",
        "select_across": "0",
        "_selected_action": [a.pk for a in slow],
        "bulk_confirm": "yes",
        "reason": "leavers",
    }
    response = client.post(CHANGELIST, data)
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    run = TaskRun.objects.get(name="bulk_action")
    assert run.trigger == RunTrigger.MANUAL
    assert run.status == RunStatus.SUCCEEDED
    done_in_page = 4 - run.progress["total"]
    assert 1 <= done_in_page < 4
    assert f"{run.progress['total']} accounts could not be started" in page
    assert reverse("admin:accounts_account_bulk_run", args=[run.pk]) in page
    assert run.started_by == "alice"
    _check_each_suspended_once(simulator, slow, run.correlation_id)


def test_the_api_answers_with_what_it_did_and_the_run_doing_the_rest(slow, simulator, alice):
    api = APIClient()
    api.force_login(alice)
    body = {"action": "suspend", "reason": "leavers", "account_ids": [a.pk for a in slow]}
    response = api.post(reverse("api:account-bulk-list"), body, format="json")
    assert response.status_code == 200
    answer = response.json()
    assert 1 <= len(answer["results"]) < 4
    assert answer["not_started"] == 4 - len(answer["results"])
    continued = answer["continued_in"]
    assert continued["correlation_id"] == answer["correlation_id"]
    assert continued["trigger"] == RunTrigger.API
    assert continued["url"].endswith(reverse("api:account-bulk-detail", args=[continued["id"]]))
    assert TaskRun.objects.get(pk=continued["id"]).status == RunStatus.SUCCEEDED
    _check_each_suspended_once(simulator, slow, answer["correlation_id"])


def test_an_action_that_fits_its_budget_names_no_run(slow, settings, simulator, alice):
    settings.BULK_ACTION_INLINE_BUDGET = 60
    api = APIClient()
    api.force_login(alice)
    body = {"action": "suspend", "reason": "leavers", "account_ids": [a.pk for a in slow]}
    answer = api.post(reverse("api:account-bulk-list"), body, format="json").json()
    assert (len(answer["results"]), answer["not_started"], answer["continued_in"]) == (4, 0, None)
    assert not TaskRun.objects.filter(name="bulk_action").exists()
    _check_each_suspended_once(simulator, slow, answer["correlation_id"])
