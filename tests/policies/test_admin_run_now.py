""" "Run now" of a policy that changes things asks first: what it would do, the cap check, the
seats freed and a required reason, recorded with the run; dry runs are marked in the history."""

import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization
from governance.audit.models import AuditAction, AuditEvent
from governance.runs.models import RunStatus, TaskRun
from policies.models import Enforcement, PolicyMode
from policies.selectors.preview import policy_preview
from policies.services.runs import policy_run
from policies.tasks import run_policy_now

pytestmark = pytest.mark.django_db


def _run_url(policy):
    return reverse("admin:policies_inactivitypolicy_run", args=[policy.pk])


def _text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def fresh(make_policy):
    """``fresh(**fields)``: a policy whose organization was synced just now (the real clock: these
    go through views that read it)."""

    def make(**fields):
        policy = make_policy(**fields)
        Organization.objects.filter(pk=policy.organization_id).update(last_complete_sync_at=timezone.now())
        policy.organization.refresh_from_db()
        return policy

    return make


@pytest.fixture
def queued(monkeypatch):
    """What "Run now" hands to the task queue (whichever broker the profile uses)."""
    calls = []
    monkeypatch.setattr("policies.admin.run_now.async_task", lambda func, *args, **kw: calls.append((func, args)))
    return calls


class TestConfirmation:
    def test_run_now_of_an_enforcing_policy_shows_what_it_would_do_and_does_nothing(
        self, fresh, client_for, alice, queued
    ):
        policy = fresh(mode=PolicyMode.ENFORCE)
        preview = policy_preview(policy, timezone.now())
        due = preview.today_counts["act"]
        assert due > 0
        response = client_for(alice).post(_run_url(policy))  # the old one-click POST: no reason
        assert response.status_code == 200
        text = _text(response)
        assert f"Suspend {due} accounts" in text
        assert f"Within the cap: {due} due now, cap {preview.cap}" in text
        jira = next(seat for seat in preview.seats if seat.product == "Jira Software")
        assert f"Jira Software {jira.today} 0" in text
        assert "Give a reason: it is recorded in the audit trail." in text
        assert not queued
        assert not TaskRun.objects.filter(name="policy").exists()
        assert not Enforcement.objects.exists()

    def test_the_confirmation_says_when_the_run_would_halt_on_its_cap(self, fresh, client_for, alice):
        policy = fresh(mode=PolicyMode.ENFORCE, cap_absolute=2)
        text = _text(client_for(alice).get(_run_url(policy)))
        assert "The run would halt before acting" in text
        assert "more than its cap of 2" in text

    def test_the_confirmation_says_when_warnings_would_lead_to_a_halt(self, fresh, client_for, alice):
        policy = fresh(mode=PolicyMode.ENFORCE, warning_days=[14], cap_absolute=2)
        text = _text(client_for(alice).get(_run_url(policy)))
        assert "The run would halt before warning anyone" in text
        assert "(day 14)" in text

    def test_confirming_with_a_reason_queues_the_run_which_records_the_reason(self, fresh, client_for, alice, queued):
        policy = fresh(mode=PolicyMode.ENFORCE)
        due = policy_preview(policy, timezone.now()).today_counts["act"]
        data = {"reason": "Licence true-up on Friday", "confirmed_act": str(due)}
        response = client_for(alice).post(_run_url(policy), data, follow=True)
        assert f"Run of {policy.name} queued" in response.content.decode()
        assert not TaskRun.objects.filter(name="policy").exists()  # not run in the request
        ((func, args),) = queued
        assert func == "policies.tasks.run_policy_now"
        assert run_policy_now(*args) == RunStatus.SUCCEEDED  # what the worker then does
        run = TaskRun.objects.get(name="policy")
        assert (run.trigger, run.started_by, run.dry_run) == ("manual", "alice", False)
        assert run.counts["executed_done"] == due
        started = AuditEvent.objects.get(action=AuditAction.POLICY_RUN_STARTED)
        assert (started.actor_name, started.reason, started.correlation_id) == (
            "alice",
            "Licence true-up on Friday",
            run.correlation_id,
        )
        assert started.after["confirmed_to_act"] == due
        page = client_for(alice).get(reverse("admin:policies_policyrun_change", args=[run.pk])).content.decode()
        assert "Licence true-up on Friday" in page

    def test_a_review_mode_run_is_confirmed_too_and_runs_in_the_request(self, fresh, client_for, alice):
        policy = fresh(mode=PolicyMode.REVIEW)
        client = client_for(alice)
        assert "Queue for review" in _text(client.get(_run_url(policy)))
        assert not TaskRun.objects.filter(name="policy").exists()
        due = policy_preview(policy, timezone.now()).today_counts["act"]
        client.post(_run_url(policy), {"reason": "first review round", "confirmed_act": str(due)})
        run = TaskRun.objects.get(name="policy")
        assert run.counts["queued_for_review"] == due
        assert AuditEvent.objects.get(action=AuditAction.POLICY_RUN_STARTED).reason == "first review round"

    def test_a_run_that_finds_more_due_than_was_confirmed_halts(self, fresh, alice):
        policy = fresh(mode=PolicyMode.ENFORCE)
        due = policy_preview(policy, timezone.now()).today_counts["act"]
        actor = {"kind": "admin", "name": "alice", "user_id": alice.pk}
        assert run_policy_now(policy.pk, actor, "as shown", due - 1) == RunStatus.HALTED
        run = TaskRun.objects.get(name="policy")
        assert f"more than the {due - 1} confirmed" in run.error
        assert not Enforcement.objects.exists()

    def test_the_change_page_links_to_the_confirmation_instead_of_posting(self, fresh, client_for, alice):
        policy = fresh(mode=PolicyMode.ENFORCE)
        page = client_for(alice).get(reverse("admin:policies_inactivitypolicy_change", args=[policy.pk]))
        assert f'<a href="{_run_url(policy)}" id="policy-run-now"' in page.content.decode()


class TestDryRunsInTheHistory:
    def test_a_dry_run_and_a_preview_mode_run_are_marked_and_an_enforcing_run_is_not(self, fresh, client_for, audrey):
        dry = policy_run(policy=fresh(mode=PolicyMode.ENFORCE), dry_run=True).run
        previewed = policy_run(policy=fresh(mode=PolicyMode.PREVIEW, name="Preview only")).run
        real = policy_run(policy=fresh(mode=PolicyMode.ENFORCE, name="Real")).run
        assert (dry.dry_run, previewed.dry_run, real.dry_run) == (True, True, False)
        client = client_for(audrey)
        listing = client.get(reverse("admin:policies_policyrun_changelist")).content.decode()
        assert listing.count('<span class="dry-run-badge">dry run</span>') == 2
        only_dry = client.get(reverse("admin:policies_policyrun_changelist") + "?dry_run__exact=1").context["cl"]
        assert {r.pk for r in only_dry.result_list} == {dry.pk, previewed.pk}
        page = client.get(reverse("admin:policies_policyrun_change", args=[dry.pk])).content.decode()
        assert 'id="run-dry-run"' in page
        page = client.get(reverse("admin:policies_policyrun_change", args=[real.pk])).content.decode()
        assert 'id="run-dry-run"' not in page
