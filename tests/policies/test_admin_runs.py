"""Run history: the policy runs, their counts, the CSV of affected accounts, and undo."""

import csv
import io

import pytest
from django.urls import reverse

from accounts.models import Account
from governance.audit.models import AuditAction, AuditEvent
from governance.runs.models import TaskRun
from policies.models import Enforcement, EnforcementStatus, PolicyMode
from policies.services.runs import policy_run
from tests.policies.conftest import RUN_AT
from tests.policies.test_runs import _expected_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def enforced(make_policy):
    """An enforcing run that suspended the due accounts."""
    policy = make_policy(mode=PolicyMode.ENFORCE)
    due = _expected_due(policy.organization)
    result = policy_run(policy=policy, now=RUN_AT)
    done = Enforcement.objects.filter(executed_run=result.run, status=EnforcementStatus.DONE)
    assert set(done.values_list("account_id", flat=True)) == due
    return result.run


def _undo_url(run):
    return reverse("admin:policies_policyrun_undo", args=[run.pk])


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


class TestHistory:
    def test_the_list_shows_policy_runs_only_with_their_counts(self, enforced, client_for, audrey):
        page = client_for(audrey).get(reverse("admin:policies_policyrun_changelist"))
        assert page.status_code == 200
        assert page.context["cl"].result_count == 1  # the sync's run row is not a policy run
        text = page.content.decode()
        assert f"executed done {enforced.counts['executed_done']}" in text
        assert "Jira 90 days" in text

    def test_the_run_page_shows_counts_and_what_it_touched(self, enforced, client_for, alice):
        page = client_for(alice).get(reverse("admin:policies_policyrun_change", args=[enforced.pk])).content.decode()
        assert 'id="run-counts"' in page
        assert 'id="run-undo-link"' in page
        assert f"{enforced.counts['executed_done']} completed actions can be given back" in page

    def test_the_csv_lists_the_accounts_the_run_opened_or_executed(self, enforced, client_for, audrey):
        url = reverse("admin:policies_policyrun_affected_csv", args=[enforced.pk])
        rows = _csv(client_for(audrey).get(url))
        expected = Account.objects.filter(enforcements__executed_run=enforced).values_list("account_id", flat=True)
        assert sorted(r["atlassian_account_id"] for r in rows) == sorted(expected)
        assert {r["executed_by_this_run"] for r in rows} == {"yes"}
        assert all("threshold 90 days" in r["reason"] for r in rows)
        assert AuditEvent.objects.filter(action=AuditAction.EXPORT_DOWNLOADED, actor_name="audrey").count() == 1

    def test_the_csv_is_formula_safe(self, enforced, client_for, alice):
        account = Enforcement.objects.filter(executed_run=enforced).first().account
        Account.objects.filter(pk=account.pk).update(name="@SUM(A1:A9)")
        rows = _csv(client_for(alice).get(reverse("admin:policies_policyrun_affected_csv", args=[enforced.pk])))
        assert "'@SUM(A1:A9)" in [r["name"] for r in rows]


class TestUndo:
    def test_the_confirmation_lists_what_would_be_given_back(self, enforced, client_for, alice):
        page = client_for(alice).get(_undo_url(enforced))
        assert page.status_code == 200
        assert f"from {enforced.counts['executed_done']} accounts" in page.content.decode()
        assert " — suspend</li>" in page.content.decode()  # the action in words, not its code

    def test_undo_without_a_reason_is_refused(self, enforced, client_for, alice, simulator):
        response = client_for(alice).post(_undo_url(enforced), {"reason": " "})
        assert response.status_code == 200
        assert "Give a reason" in response.content.decode()
        assert not Enforcement.objects.filter(status=EnforcementStatus.REVERSED).exists()
        assert not AuditEvent.objects.filter(action=AuditAction.POLICY_RUN_UNDONE).exists()

    def test_undo_gives_back_what_the_run_took_audited(self, enforced, client_for, alice, simulator):
        done = list(Enforcement.objects.filter(executed_run=enforced).select_related("account"))
        response = client_for(alice).post(_undo_url(enforced), {"reason": "wrong threshold"}, follow=True)
        assert f"{len(done)} given back, 0 failed" in response.content.decode()
        for enforcement in done:
            enforcement.refresh_from_db()
            assert enforcement.status == EnforcementStatus.REVERSED
            assert simulator.state.user(enforcement.account.account_id).status == "active"
        event = AuditEvent.objects.get(action=AuditAction.POLICY_RUN_UNDONE)
        assert (event.actor_name, event.reason) == ("alice", "wrong threshold")
        assert event.target_type == "governance.taskrun"
        assert event.target_id == str(enforced.pk)
        assert event.after == {"reversed": len(done), "failed": 0}

    def test_a_second_undo_has_nothing_to_do(self, enforced, client_for, alice, simulator):
        client = client_for(alice)
        client.post(_undo_url(enforced), {"reason": "once"})
        response = client.post(_undo_url(enforced), {"reason": "twice"}, follow=True)
        assert "Nothing to undo" in response.content.decode()
        assert AuditEvent.objects.filter(action=AuditAction.POLICY_RUN_UNDONE).count() == 1

    @pytest.mark.parametrize("persona", ["audrey", "hank"])
    def test_only_those_who_may_run_policies_can_undo(self, request, enforced, client_for, persona, simulator):
        client = client_for(request.getfixturevalue(persona))
        assert client.get(_undo_url(enforced)).status_code == 403
        assert client.post(_undo_url(enforced), {"reason": "x"}).status_code == 403
        assert not Enforcement.objects.filter(status=EnforcementStatus.REVERSED).exists()

    def test_auditors_see_no_undo_link(self, enforced, client_for, audrey):
        page = client_for(audrey).get(reverse("admin:policies_policyrun_change", args=[enforced.pk]))
        assert page.status_code == 200
        assert 'id="run-undo-link"' not in page.content.decode()

    def test_run_rows_cannot_be_changed_or_deleted(self, enforced, client_for, alice):
        client = client_for(alice)
        assert client.post(reverse("admin:policies_policyrun_change", args=[enforced.pk]), {}).status_code == 403
        assert (
            client.post(reverse("admin:policies_policyrun_delete", args=[enforced.pk]), {"post": "yes"}).status_code
            == 403
        )
        assert TaskRun.objects.filter(pk=enforced.pk).exists()
