"""The policy admin: saving through policy_save (preview on create, audited), the email preview,
"Run now" (its confirmation: tests/policies/test_admin_run_now.py), deletion, and who may do what."""

import html
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Group, Organization, Product
from governance.audit.models import AuditAction, AuditEvent
from governance.runs.models import RunStatus, TaskRun
from policies.models import Enforcement, EnforcementStatus, InactivityPolicy, PolicyMode
from policies.models.policies import DEFAULT_ACTION_BODY, DEFAULT_ACTION_SUBJECT, DEFAULT_WARNING_SUBJECT
from policies.selectors.preview import sample_enforcement
from policies.services.runs import evaluate, policy_run
from tests.policies.conftest import RUN_AT

pytestmark = pytest.mark.django_db

ADD_URL = "admin:policies_inactivitypolicy_add"


def _change_url(policy):
    return reverse("admin:policies_inactivitypolicy_change", args=[policy.pk])


def _run_url(policy):
    return reverse("admin:policies_inactivitypolicy_run", args=[policy.pk])


def _form(organization, **overrides) -> dict:
    """What the policy form posts; many-to-many values are lists of ids, as the autocomplete sends them."""
    jira = Product.objects.get(organization=organization, key="jira-software")
    data = {
        "name": "Jira 90 days",
        "description": "",
        "organization": organization.pk,
        "enabled": "on",
        "mode": PolicyMode.ENFORCE,  # asked for, and ignored on creation
        "products": [jira.pk],
        "include_groups": [],
        "exclude_groups": [],
        "claim_scope": "all",
        "trigger": "inactive",
        "trigger_days": "90",
        "trigger_state": "",
        "action": "suspend",
        "warning_days": "14, 3",
        "cap_absolute": "50",
        "cap_percent": "5",
        "schedule_cron": "30 6 * * *",
        "self_service_restore": "on",
        "warning_subject": DEFAULT_WARNING_SUBJECT,
        "warning_body": "Hello {name}, {product} goes on {action_date}: {restore_link}",
        "action_subject": DEFAULT_ACTION_SUBJECT,
        "action_body": DEFAULT_ACTION_BODY,
        "change_reason": "",
    }
    data.update(overrides)
    return data


def _policy_form_from(policy, **overrides) -> dict:
    data = _form(policy.organization)
    data.update(
        name=policy.name,
        mode=policy.mode,
        products=list(policy.products.values_list("pk", flat=True)),
        include_groups=list(policy.include_groups.values_list("pk", flat=True)),
        exclude_groups=list(policy.exclude_groups.values_list("pk", flat=True)),
        action=policy.action,
        trigger_days=str(policy.trigger_days),
        warning_days=", ".join(str(d) for d in policy.warning_days),
        cap_absolute=str(policy.cap_absolute),
        cap_percent=str(policy.cap_percent),
        warning_body=policy.warning_body,
    )
    del data["organization"]  # read-only once the policy exists
    data.update(overrides)
    return data


class TestCreating:
    def test_a_policy_created_in_the_admin_starts_in_preview_and_is_audited(self, mirrored, client_for, alice):
        response = client_for(alice).post(reverse(ADD_URL), _form(mirrored, change_reason="first policy"))
        assert response.status_code == 302, response.content.decode()[:3000]
        policy = InactivityPolicy.objects.get()
        assert policy.mode == PolicyMode.PREVIEW
        assert policy.warning_days == [14, 3]
        assert list(policy.products.values_list("key", flat=True)) == ["jira-software"]
        event = AuditEvent.objects.get(action=AuditAction.POLICY_CREATED)
        assert event.actor_name == "alice"
        assert event.actor_kind == "admin"
        assert event.target_id == str(policy.pk)
        assert event.reason == "first policy"
        assert event.after["mode"] == PolicyMode.PREVIEW
        assert event.after["products"] == [policy.products.get().pk]

    def test_the_add_page_shows_the_mode_as_preview_and_explains_external_accounts(self, mirrored, client_for, alice):
        page = client_for(alice).get(reverse(ADD_URL)).content.decode()
        assert "Preview (report only)" in page
        assert 'name="mode"' not in page
        assert "External accounts (not claimed by your organization) can only be suspended" in page

    def test_groups_and_products_are_chosen_by_autocomplete_not_a_full_list(self, mirrored, client_for, alice):
        page = client_for(alice).get(reverse(ADD_URL)).content.decode()
        assert page.count("admin-autocomplete") >= 3
        some_group = Group.objects.filter(organization=mirrored).first()
        assert f'<option value="{some_group.pk}"' not in page

    def test_an_unknown_placeholder_is_a_form_error_and_nothing_is_saved(self, mirrored, client_for, alice):
        response = client_for(alice).post(reverse(ADD_URL), _form(mirrored, warning_body="Hi {first_name}"))
        assert response.status_code == 200
        assert "Unknown placeholder(s) {first_name}" in response.content.decode()
        assert not InactivityPolicy.objects.exists()
        assert not AuditEvent.objects.filter(action=AuditAction.POLICY_CREATED).exists()

    def test_a_format_spec_in_a_template_is_a_form_error_naming_it(self, mirrored, client_for, alice):
        data = _form(mirrored, warning_subject="Hi {name:>999999999}", action_body="{name.__class__}")
        response = client_for(alice).post(reverse(ADD_URL), data)
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert "Placeholder(s) {name:&gt;999999999} with a format or conversion" in str(errors["warning_subject"])
        assert "Unknown placeholder(s) {name.__class__}" in str(errors["action_body"])
        assert "Use only {name}, {days_inactive}" in response.content.decode()
        assert not InactivityPolicy.objects.exists()

    def test_deactivating_external_accounts_is_refused_with_the_reason(self, mirrored, client_for, alice):
        data = _form(mirrored, action="deactivate", claim_scope="external")
        response = client_for(alice).post(reverse(ADD_URL), data)
        assert response.status_code == 200
        assert "External accounts can only be suspended" in response.content.decode()
        assert not InactivityPolicy.objects.exists()

    def test_groups_of_another_organization_are_refused(self, mirrored, client_for, alice):
        other = Organization.objects.create(org_id="other-org", name="Other")
        stranger = Group.objects.create(organization=other, group_id="g-x", name="Strangers")
        response = client_for(alice).post(reverse(ADD_URL), _form(mirrored, include_groups=[stranger.pk]))
        assert response.status_code == 200
        assert "Not in organization" in response.content.decode()
        assert not InactivityPolicy.objects.exists()

    def test_a_bad_cron_expression_is_refused(self, mirrored, client_for, alice):
        response = client_for(alice).post(reverse(ADD_URL), _form(mirrored, schedule_cron="every day"))
        assert response.status_code == 200
        assert "Not a cron expression" in response.content.decode()


class TestEditing:
    def test_editing_records_before_and_after_of_what_changed(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW, warning_days=[14])
        groups = list(Group.objects.filter(organization=policy.organization).order_by("pk")[:2])
        data = _policy_form_from(
            policy,
            mode=PolicyMode.REVIEW,
            trigger_days="120",
            exclude_groups=[g.pk for g in groups],
            change_reason="reviewed with HR",
        )
        response = client_for(alice).post(_change_url(policy), data)
        assert response.status_code == 302, response.content.decode()[:3000]
        policy.refresh_from_db()
        assert policy.mode == PolicyMode.REVIEW
        assert policy.trigger_days == 120
        assert sorted(policy.exclude_groups.values_list("pk", flat=True)) == sorted(g.pk for g in groups)
        event = AuditEvent.objects.get(action=AuditAction.POLICY_UPDATED)
        assert event.before == {"mode": "preview", "trigger_days": 90, "exclude_groups": []}
        assert event.after == {
            "mode": "review",
            "trigger_days": 120,
            "exclude_groups": sorted(g.pk for g in groups),
        }
        assert event.reason == "reviewed with HR"

    def test_saving_without_changes_records_nothing(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW, warning_days=[14])
        response = client_for(alice).post(_change_url(policy), _policy_form_from(policy))
        assert response.status_code == 302
        assert not AuditEvent.objects.filter(action=AuditAction.POLICY_UPDATED).exists()

    def test_the_many_to_many_values_are_written_once_through_the_service(
        self, make_policy, client_for, alice, monkeypatch
    ):
        from policies.admin import policies as policy_admin

        calls = []
        real = policy_admin.policy_save

        def spy(**kwargs):
            calls.append(kwargs)
            return real(**kwargs)

        monkeypatch.setattr(policy_admin, "policy_save", spy)
        policy = make_policy(mode=PolicyMode.PREVIEW)
        confluence = Product.objects.filter(organization=policy.organization).exclude(key="jira-software").first()
        client_for(alice).post(_change_url(policy), _policy_form_from(policy, products=[confluence.pk]))
        assert len(calls) == 1
        assert [p.pk for p in calls[0]["m2m"]["products"]] == [confluence.pk]
        assert list(policy.products.values_list("pk", flat=True)) == [confluence.pk]
        event = AuditEvent.objects.get(action=AuditAction.POLICY_UPDATED)
        assert event.after == {"products": [confluence.pk]}

    def test_a_form_sent_back_with_errors_still_renders(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        response = client_for(alice).post(_change_url(policy), _policy_form_from(policy, trigger_days=""))
        assert response.status_code == 200
        assert "This field is required" in response.content.decode()
        assert not AuditEvent.objects.filter(action=AuditAction.POLICY_UPDATED).exists()

    def test_help_desk_can_read_a_policy_but_not_change_it(self, make_policy, client_for, hank):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        client = client_for(hank)
        assert client.get(_change_url(policy)).status_code == 200
        response = client.post(_change_url(policy), _policy_form_from(policy, name="renamed"))
        assert response.status_code == 403
        assert client.get(reverse(ADD_URL)).status_code == 403
        policy.refresh_from_db()
        assert policy.name == "Jira 90 days"


class TestEmailPreview:
    def test_the_page_shows_both_emails_for_an_account_in_scope(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW, warning_days=[14])
        page = client_for(alice).get(_change_url(policy)).content.decode()
        assert 'id="email-preview-warning"' in page
        assert 'id="email-preview-action"' in page
        assert "an account in the policy" in page
        assert "a made-up person" not in page
        assert "Your Jira Software access will be suspended on" in page
        assert "Your Jira Software access was suspended" in page
        assert '<iframe sandbox="" srcdoc="&lt;p&gt;Hello' in page

    def test_a_made_up_person_is_used_when_nobody_is_in_scope(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW, products=["no-such-product"])
        policy.products.clear()
        InactivityPolicy.objects.filter(pk=policy.pk).update(trigger="in_state", trigger_state="no-such-state")
        page = client_for(alice).get(_change_url(policy)).content.decode()
        assert "a made-up person" in page
        assert "Hello Sam Sample" in page

    def test_template_errors_are_shown_instead_of_the_email(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        InactivityPolicy.objects.filter(pk=policy.pk).update(warning_body="Hello {first_name}")  # an old row
        page = client_for(alice).get(_change_url(policy)).content.decode()
        warning = page.split('id="email-preview-warning"')[1].split('id="email-preview-action"')[0]
        assert "Unknown placeholder(s) {first_name}" in warning
        assert "<iframe" not in warning
        assert "Your Jira Software access was suspended" in page  # the action email still renders

    def test_names_and_templates_cannot_inject_html(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW, warning_days=[14])
        InactivityPolicy.objects.filter(pk=policy.pk).update(warning_body="<script>alert(1)</script> {name}")
        page = client_for(alice).get(_change_url(policy)).content.decode()
        assert "<script>alert(1)</script>" not in page


def _previewed(page: str, kind: str) -> str:
    """The plain text of one email preview on the change page, as the admin reads it."""
    section = page.split(f'id="email-preview-{kind}"')[1]
    return html.unescape(section.split("<pre>")[1].split("</pre>")[0])


def _without_link(text: str) -> list[str]:
    return [line for line in text.splitlines() if "/access/restore/" not in line]


class TestEmailPreviewFigures:
    """The change page previews the default templates with the figures a run at the same moment sends."""

    def _page_at(self, policy, client, now) -> str:
        with time_machine.travel(now, tick=False):
            return client.get(_change_url(policy)).content.decode()

    def test_the_warning_preview_is_the_warning_a_run_sends_at_that_moment(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW, warning_days=[14])
        sample, real = sample_enforcement(policy, RUN_AT)
        assert real
        assert sample.account.email
        decision = next(d for d in evaluate(policy, RUN_AT).decisions if d.account_pk == sample.account.pk)
        page = self._page_at(policy, client_for(alice), RUN_AT)
        warning, action = _previewed(page, "warning"), _previewed(page, "action")
        planned = f"{RUN_AT + timedelta(days=14):%d %B %Y}"
        assert (
            f"for {decision.days_inactive} days. To free unused licences, your access will be suspended on {planned}."
        ) in warning
        # The action email as it will read when the action is taken on the planned day.
        days_then = (RUN_AT + timedelta(days=14) - decision.inactive_since).days
        assert f"for {days_then} days, so your access was suspended on {planned}." in action

        InactivityPolicy.objects.filter(pk=policy.pk).update(mode=PolicyMode.REVIEW)
        policy.refresh_from_db()
        policy_run(policy=policy, now=RUN_AT)
        sent = next(m for m in mail.outbox if sample.account.email in m.to)
        assert _without_link(sent.body) == _without_link(warning)

    def test_the_action_preview_of_someone_due_today_is_the_action_email_a_run_sends(
        self, make_policy, client_for, alice
    ):
        policy = make_policy(mode=PolicyMode.PREVIEW)  # no warning: the due are acted on at once
        sample, real = sample_enforcement(policy, RUN_AT)
        assert real
        assert sample.account.email
        decision = next(d for d in evaluate(policy, RUN_AT).decisions if d.account_pk == sample.account.pk)
        assert decision.verdict == "act"
        assert decision.due_at < RUN_AT - timedelta(days=1)
        action = _previewed(self._page_at(policy, client_for(alice), RUN_AT), "action")
        assert f"for {decision.days_inactive} days, so your access was suspended on {RUN_AT:%d %B %Y}." in action

        InactivityPolicy.objects.filter(pk=policy.pk).update(mode=PolicyMode.ENFORCE)
        policy.refresh_from_db()
        policy_run(policy=policy, now=RUN_AT)
        sent = next(m for m in mail.outbox if sample.account.email in m.to)
        assert _without_link(sent.body) == _without_link(action)


class TestRunNow:
    def test_run_now_runs_the_policy_and_says_what_happened(self, make_policy, client_for, alice, simulator):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        Organization.objects.filter(pk=policy.organization_id).update(last_complete_sync_at=timezone.now())
        response = client_for(alice).post(_run_url(policy), follow=True)
        run = TaskRun.objects.get(name="policy")
        assert run.trigger == "manual"
        assert run.started_by == "alice"
        assert run.status == RunStatus.SUCCEEDED
        text = response.content.decode()
        assert f"#{run.pk}</a> succeeded: Preview: nothing was changed." in text
        assert "to act" in text
        assert not Enforcement.objects.exists()

    def test_a_refused_run_is_reported_as_an_error(self, make_policy, client_for, alice, settings):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        stale = timezone.now() - timedelta(hours=2)
        Organization.objects.filter(pk=policy.organization_id).update(last_complete_sync_at=stale)
        settings.POLICY_MAX_SYNC_AGE = 1
        response = client_for(alice).post(_run_url(policy), follow=True)
        assert "refused" in response.content.decode().lower()
        assert TaskRun.objects.get(name="policy").status == RunStatus.REFUSED
        assert not Enforcement.objects.exists()

    def test_a_dry_run_changes_nothing_even_when_enforcing(self, make_policy, client_for, alice, simulator):
        policy = make_policy(mode=PolicyMode.ENFORCE)
        Organization.objects.filter(pk=policy.organization_id).update(last_complete_sync_at=timezone.now())
        response = client_for(alice).post(_run_url(policy), {"_dry_run": "1"}, follow=True)
        assert "Dry run" in response.content.decode()
        assert not Enforcement.objects.exists()

    def test_a_queued_run_of_a_policy_deleted_meanwhile_does_nothing(self):
        from policies.tasks import run_policy_now

        assert run_policy_now(999_999, {"kind": "admin", "name": "alice"}) == "skipped: policy gone"
        assert not TaskRun.objects.exists()

    def test_a_get_of_run_now_runs_nothing(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        assert client_for(alice).get(_run_url(policy)).status_code == 200
        assert not TaskRun.objects.filter(name="policy").exists()

    def test_run_now_needs_csrf(self, make_policy, alice):
        from django.test import Client

        policy = make_policy(mode=PolicyMode.PREVIEW)
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        assert client.post(_run_url(policy)).status_code == 403
        assert not TaskRun.objects.filter(name="policy").exists()

    @pytest.mark.parametrize("persona", ["audrey", "hank"])
    def test_only_those_who_may_run_policies_can(self, request, make_policy, client_for, persona):
        policy = make_policy(mode=PolicyMode.ENFORCE)
        client = client_for(request.getfixturevalue(persona))
        assert client.post(_run_url(policy)).status_code == 403
        assert 'id="policy-run-now"' not in client.get(_change_url(policy)).content.decode()
        assert not TaskRun.objects.filter(name="policy").exists()

    def test_the_button_is_shown_to_admins(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        assert 'id="policy-run-now"' in client_for(alice).get(_change_url(policy)).content.decode()


class TestDeleting:
    def test_a_policy_with_enforcements_cannot_be_deleted(self, make_policy, client_for, alice):
        from accounts.models import Account

        policy = make_policy(mode=PolicyMode.PREVIEW)
        Enforcement.objects.create(
            policy=policy,
            account=Account.objects.first(),
            status=EnforcementStatus.CANCELLED,
            action="suspend",
            reason="r",
            due_at=RUN_AT,
        )
        url = reverse("admin:policies_inactivitypolicy_delete", args=[policy.pk])
        assert client_for(alice).post(url, {"post": "yes"}).status_code == 403
        assert InactivityPolicy.objects.filter(pk=policy.pk).exists()

    def test_deleting_an_unused_policy_is_audited(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        url = reverse("admin:policies_inactivitypolicy_delete", args=[policy.pk])
        assert client_for(alice).post(url, {"post": "yes"}).status_code == 302
        assert not InactivityPolicy.objects.exists()
        event = AuditEvent.objects.get(action=AuditAction.POLICY_DELETED)
        assert event.before["name"] == "Jira 90 days"
        assert event.actor_name == "alice"

    def test_there_is_no_bulk_delete(self, make_policy, client_for, alice):
        make_policy(mode=PolicyMode.PREVIEW)
        page = client_for(alice).get(reverse("admin:policies_inactivitypolicy_changelist")).content.decode()
        assert "delete_selected" not in page


def test_the_policy_form_explains_each_thing_once_and_the_schedule_at_all(client_for, alice, mirrored):
    page = client_for(alice).get("/admin/policies/inactivitypolicy/add/").content.decode()
    assert page.count("External accounts (not claimed by your organization)") == 1
    assert "When the policy runs on its own, as a cron expression" in page
    assert "30 6 * * * is 06:30 every day" in page
