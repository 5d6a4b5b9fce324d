"""Onboarding rules in the admin: created through the service (in preview, audited), previewed (who
would get what), applied to existing accounts as previewed, and the review queue's decisions."""

import pytest
from django.urls import reverse

from accounts.models import Account, Membership
from governance.audit.models import AuditAction, AuditEvent
from policies.models import OnboardingItem, OnboardingItemStatus, OnboardingRule, PolicyMode
from tests.policies.test_onboarding_rules import DOMAIN, _join, _rule, _sync, _target_group

pytestmark = pytest.mark.django_db


def _preview_url(rule, scope="new") -> str:
    return reverse("admin:policies_onboardingrule_preview", args=[rule.pk]) + f"?scope={scope}"


def _existing_rule(mirrored, mode=PolicyMode.ENFORCE) -> tuple[OnboardingRule, Account]:
    rule = _rule(mirrored, mode=mode)
    group = rule.add_groups.get()
    known = (
        Account.objects.filter(organization=mirrored, status="active", account_type="atlassian")
        .exclude(email=None)
        .exclude(memberships__group=group)
        .order_by("pk")
        .first()
    )
    OnboardingRule.objects.filter(pk=rule.pk).update(email_pattern=known.email)
    rule.refresh_from_db()
    return rule, known


def test_a_portal_admin_creates_a_rule_in_the_admin_and_it_starts_in_preview(mirrored, client_for, alice):
    group = _target_group(mirrored)
    data = {
        "organization": mirrored.pk,
        "name": "Staff",
        "email_pattern": DOMAIN,
        "claim_scope": "all",
        "add_groups": [group.pk],
        "cap_per_run": 10,
        "enabled": "on",
    }
    response = client_for(alice).post(reverse("admin:policies_onboardingrule_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = OnboardingRule.objects.get()
    assert (rule.mode, rule.email_pattern, list(rule.add_groups.all())) == ("preview", f"*@{DOMAIN}", [group])
    assert AuditEvent.objects.filter(action=AuditAction.ONBOARDING_RULE_CREATED).count() == 1


def test_the_preview_page_lists_the_new_account_a_preview_rule_left_alone(
    mirrored, simulator, atlassian, client_for, audrey
):
    rule = _rule(mirrored, mode=PolicyMode.PREVIEW)
    [nia] = _join(simulator, "Nia")
    _sync(mirrored, atlassian)
    page = client_for(audrey).get(_preview_url(rule)).content.decode()
    assert f"nia@{DOMAIN}" in page
    assert rule.add_groups.get().name in page
    assert 'id="apply-existing"' not in page
    assert not simulator.writes_for(nia)


def test_an_admin_applies_a_rule_to_existing_accounts_as_previewed(mirrored, simulator, client_for, alice):
    rule, known = _existing_rule(mirrored)
    client = client_for(alice)
    page = client.get(_preview_url(rule, "existing")).content.decode()
    assert 'id="apply-existing"' in page
    assert known.email in page

    changed = client.post(_preview_url(rule, "existing"), {"expected": "5"}, follow=True).content.decode()
    assert "preview again" in changed
    assert not simulator.writes_for(known.account_id)
    client.post(_preview_url(rule, "existing"), {"expected": "1"})
    assert Membership.objects.filter(account=known, group=rule.add_groups.get()).exists()
    assert rule.add_groups.get().name in simulator.state.user(known.account_id).groups


def test_an_auditor_previews_but_cannot_apply(mirrored, simulator, client_for, audrey):
    rule, known = _existing_rule(mirrored)
    client = client_for(audrey)
    page = client.get(_preview_url(rule, "existing")).content.decode()
    assert known.email in page
    assert 'id="apply-existing"' not in page
    assert client.post(_preview_url(rule, "existing"), {"expected": "1"}).status_code == 403
    assert not simulator.writes_for(known.account_id)


def test_the_review_queue_approves_with_a_reason_and_an_auditor_cannot(
    mirrored, simulator, atlassian, client_for, alice, audrey
):
    rule = _rule(mirrored, mode=PolicyMode.REVIEW)
    [ola] = _join(simulator, "Ola")
    _sync(mirrored, atlassian)
    item = OnboardingItem.objects.get()
    url = reverse("admin:policies_onboardingitem_changelist")
    data = {"action": "approve_selected", "index": "0", "_selected_action": [item.pk]}

    assert client_for(audrey).post(url, {**data, "_confirm": "1", "reason": "x"}).status_code == 403
    client = client_for(alice)
    assert "Reason" in client.post(url, data).content.decode()  # asks for a reason first
    client.post(url, {**data, "_confirm": "1", "reason": "new starter, checked"}, follow=True)
    item.refresh_from_db()
    assert item.status == OnboardingItemStatus.DONE
    assert rule.add_groups.get().name in simulator.state.user(ola).groups
    assert AuditEvent.objects.get(action=AuditAction.ONBOARDING_APPROVED).reason == "new starter, checked"
