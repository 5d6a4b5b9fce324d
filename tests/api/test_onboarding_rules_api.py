"""Onboarding rules through the API: Portal admins create and change them (a new one in preview,
audited with the API as the channel), auditors and the help desk read and preview them, a user
without a role sees nothing; the preview says who would get what."""

import pytest
from django.urls import reverse

from governance.audit.models import ActorKind, AuditAction, AuditEvent
from policies.models import OnboardingRule, PolicyMode
from tests.factories import GroupFactory, OrganizationFactory

pytestmark = pytest.mark.django_db
LIST = "api:onboardingrule-list"


@pytest.fixture
def rule(mirror, alice, api_as):
    body = {"organization": mirror["org"].pk, "name": "Everyone", "add_groups": [mirror["groups"][0].pk]}
    response = api_as(alice).post(reverse(LIST), body, format="json")
    assert response.status_code == 201, response.json()
    return OnboardingRule.objects.get(pk=response.json()["id"])


def test_a_portal_admin_creates_a_rule_that_starts_in_preview_and_is_audited(rule, mirror):
    assert rule.mode == PolicyMode.PREVIEW
    assert list(rule.add_groups.all()) == [mirror["groups"][0]]
    event = AuditEvent.objects.get(action=AuditAction.ONBOARDING_RULE_CREATED)
    assert event.actor_kind == ActorKind.API
    assert event.target_id == str(rule.pk)


def test_a_new_rule_cannot_start_enforcing_nor_add_to_another_organizations_groups(mirror, alice, api_as):
    client = api_as(alice)
    org = mirror["org"].pk
    enforcing = {"organization": org, "name": "x", "mode": "enforce", "add_groups": [mirror["groups"][0].pk]}
    assert client.post(reverse(LIST), enforcing, format="json").json().keys() == {"mode"}
    stranger = GroupFactory(organization=OrganizationFactory(org_id="other-org"))
    foreign = {"organization": org, "name": "x", "add_groups": [stranger.pk]}
    response = client.post(reverse(LIST), foreign, format="json")
    assert response.status_code == 400
    assert "Not in organization" in str(response.json()["add_groups"])
    assert client.post(reverse(LIST), {"organization": org, "name": "x"}, format="json").status_code == 400
    assert not OnboardingRule.objects.exists()


def test_a_portal_admin_changes_the_mode_and_the_change_is_audited(rule, alice, api_as):
    response = api_as(alice).patch(
        reverse("api:onboardingrule-detail", args=[rule.pk]),
        {"mode": "enforce", "reason": "preview checked"},
        format="json",
    )
    assert response.status_code == 200
    rule.refresh_from_db()
    assert rule.mode == PolicyMode.ENFORCE
    event = AuditEvent.objects.get(action=AuditAction.ONBOARDING_RULE_UPDATED)
    assert (event.before, event.after, event.reason) == ({"mode": "preview"}, {"mode": "enforce"}, "preview checked")


@pytest.mark.parametrize("persona", ["audrey", "hank"])
def test_auditors_and_the_help_desk_read_and_preview_but_never_write(persona, rule, mirror, api_as, request):
    client = api_as(request.getfixturevalue(persona))
    assert [r["id"] for r in client.get(reverse(LIST)).json()["results"]] == [rule.pk]
    assert client.get(reverse("api:onboardingrule-preview", args=[rule.pk])).status_code == 200
    body = {"organization": mirror["org"].pk, "name": "x", "add_groups": [mirror["groups"][0].pk]}
    assert client.post(reverse(LIST), body, format="json").status_code == 403
    detail = reverse("api:onboardingrule-detail", args=[rule.pk])
    assert client.patch(detail, {"mode": "enforce"}, format="json").status_code == 403
    rule.refresh_from_db()
    assert rule.mode == PolicyMode.PREVIEW


def test_a_user_without_a_role_sees_no_rule(rule, nobody, api_as):
    client = api_as(nobody)
    assert client.get(reverse(LIST)).status_code == 403
    assert client.get(reverse("api:onboardingrule-preview", args=[rule.pk])).status_code == 403


def test_the_preview_of_existing_accounts_lists_those_lacking_the_groups(rule, mirror, audrey, api_as):
    url = reverse("api:onboardingrule-preview", args=[rule.pk])
    body = api_as(audrey).get(url, {"scope": "existing"}).json()
    group = mirror["groups"][0]
    lacking = [
        a.pk for a in mirror["accounts"] if a.status == "active" and not a.memberships.filter(group=group).exists()
    ]
    assert lacking
    assert [row["account"] for row in body["accounts"]] == sorted(lacking)
    assert {tuple(row["groups"]) for row in body["accounts"]} == {(group.name,)}
    assert body["count"] == body["within_cap"] == len(lacking)
    # The accounts were in the mirror before the rule existed: none is new to it.
    assert api_as(audrey).get(url).json()["count"] == 0


def test_rules_are_filtered_by_mode(rule, audrey, api_as):
    assert api_as(audrey).get(reverse(LIST), {"mode": "enforce"}).json()["results"] == []
    assert len(api_as(audrey).get(reverse(LIST), {"mode": "preview"}).json()["results"]) == 1
