"""Policies as code: policies and exemptions created, changed, disabled and deleted through the API
with the admin's validation, defaults and audit events; an organization's policies exported as one
JSON document and imported into another portal, with a preview of what would change first."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization
from governance.audit.models import ActorKind, AuditAction, AuditEvent
from policies.models import Enforcement, EnforcementStatus, Exemption, InactivityPolicy, PolicyMode
from tests.factories import AccountFactory, GroupFactory, OrganizationFactory, ProductFactory

pytestmark = pytest.mark.django_db
POLICIES = reverse("api:policy-list")
EXPORT = reverse("api:policy-export")
IMPORT = reverse("api:policy-import-document")


def _detail(policy) -> str:
    return reverse("api:policy-detail", args=[policy.pk])


def _api_events(action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, actor_kind=ActorKind.API).order_by("seq"))


def _portal(org_id: str) -> Organization:
    """An organization with Jira and Confluence, a contractors group and one account (Ada)."""
    organization = OrganizationFactory(org_id=org_id, name=org_id)
    for key, name in (("jira-software", "Jira Software"), ("confluence", "Confluence")):
        ProductFactory(organization=organization, key=key, name=name, resource_id=f"ari:{org_id}:{key}")
    GroupFactory(organization=organization, name="contractors")
    AccountFactory(organization=organization, account_id="ada-1", email="ada@example.com")
    return organization


@pytest.fixture
def test_org(db):
    return _portal("test-portal")


@pytest.fixture
def prod_org(db):
    return _portal("production")


def _new_policy(organization, **fields) -> dict:
    body = {
        "organization": organization.pk,
        "name": "Jira 90 days",
        "products": list(organization.products.filter(key="jira-software").values_list("pk", flat=True)),
        "exclude_groups": list(organization.groups.values_list("pk", flat=True)),
        "trigger": "inactive",
        "trigger_days": 90,
        "action": "suspend",
        "warning_days": [14, 3],
        "schedule_cron": "15 5 * * *",
    }
    body.update(fields)
    return body


class TestWritingPolicies:
    def test_a_policy_created_through_the_api_starts_in_preview_and_is_audited(self, api_as, alice, test_org):
        response = api_as(alice).post(POLICIES, _new_policy(test_org, reason="first policy as code"), format="json")
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["mode"] == PolicyMode.PREVIEW
        policy = InactivityPolicy.objects.get(pk=body["id"])
        assert [p.key for p in policy.products.all()] == ["jira-software"]
        assert [g.name for g in policy.exclude_groups.all()] == ["contractors"]
        [event] = _api_events(AuditAction.POLICY_CREATED)
        assert event.reason == "first policy as code"
        assert event.actor_name.startswith("alice")
        assert event.after["warning_days"] == [14, 3]

    def test_a_new_policy_cannot_start_enforcing(self, api_as, alice, test_org):
        response = api_as(alice).post(POLICIES, _new_policy(test_org, mode="enforce"), format="json")
        assert response.status_code == 400
        assert "starts in preview" in response.json()["mode"][0]
        assert not InactivityPolicy.objects.exists()

    @pytest.mark.parametrize(
        ("change", "field", "words"),
        [
            ({"schedule_cron": "every day"}, "schedule_cron", "Not a cron expression"),
            ({"warning_days": [0]}, "warning_days", "between 1 and 365"),
            ({"trigger": "in_state"}, "trigger_state", "Name the state"),
            ({"warning_subject": "Hi {nobody}"}, "warning_subject", "nobody"),
            ({"cap_percent": 150}, "cap_percent", "less than or equal to 100"),
            ({"trigger_days": 0}, "trigger_days", "greater than or equal to 1"),
        ],
    )
    def test_bad_input_is_a_clear_400_field_by_field_and_changes_nothing(
        self, api_as, alice, test_org, change, field, words
    ):
        response = api_as(alice).post(POLICIES, _new_policy(test_org, **change), format="json")
        assert response.status_code == 400
        assert words in " ".join(response.json()[field])
        assert not InactivityPolicy.objects.exists()
        assert not AuditEvent.objects.filter(action=AuditAction.POLICY_CREATED).exists()

    def test_products_and_groups_of_another_organization_are_refused(self, api_as, alice, test_org, prod_org):
        foreign = list(prod_org.products.values_list("pk", flat=True))
        response = api_as(alice).post(POLICIES, _new_policy(test_org, products=foreign), format="json")
        assert response.status_code == 400
        assert "Not in organization" in response.json()["products"][0]

    def test_a_policy_is_changed_and_disabled_with_its_old_and_new_values_audited(self, api_as, alice, test_org):
        client = api_as(alice)
        policy_id = client.post(POLICIES, _new_policy(test_org), format="json").json()["id"]
        url = reverse("api:policy-detail", args=[policy_id])
        response = client.patch(url, {"trigger_days": 120, "reason": "slower"}, format="json")
        assert response.status_code == 200, response.json()
        response = client.patch(url, {"enabled": False}, format="json")
        assert response.json()["enabled"] is False
        changed, disabled = _api_events(AuditAction.POLICY_UPDATED)
        assert (changed.before, changed.after, changed.reason) == (
            {"trigger_days": 90},
            {"trigger_days": 120},
            "slower",
        )
        assert (disabled.before, disabled.after) == ({"enabled": True}, {"enabled": False})

    def test_a_policy_s_organization_never_changes(self, api_as, alice, test_org, prod_org):
        client = api_as(alice)
        policy_id = client.post(POLICIES, _new_policy(test_org), format="json").json()["id"]
        url = reverse("api:policy-detail", args=[policy_id])
        response = client.patch(url, {"organization": prod_org.pk}, format="json")
        assert response.status_code == 400
        assert InactivityPolicy.objects.get().organization == test_org

    def test_an_undecided_policy_is_deleted_and_one_with_decisions_is_refused(self, api_as, alice, test_org):
        client = api_as(alice)
        first = InactivityPolicy.objects.get(
            pk=client.post(POLICIES, _new_policy(test_org), format="json").json()["id"]
        )
        second = InactivityPolicy.objects.get(
            pk=client.post(POLICIES, _new_policy(test_org, name="Other"), format="json").json()["id"]
        )
        Enforcement.objects.create(
            policy=second,
            account=test_org.accounts.get(),
            status=EnforcementStatus.WARNED,
            action="suspend",
            reason="idle",
            due_at=timezone.now() + timedelta(days=3),
        )
        assert client.delete(_detail(first), {"reason": "not needed"}, format="json").status_code == 204
        [event] = _api_events(AuditAction.POLICY_DELETED)
        assert (event.before["name"], event.reason) == ("Jira 90 days", "not needed")
        response = client.delete(_detail(second), format="json")
        assert response.status_code == 409
        assert "disable it instead" in response.json()["detail"]
        assert list(InactivityPolicy.objects.values_list("name", flat=True)) == ["Other"]


class TestPermissions:
    def test_auditors_read_policies_and_their_export_but_write_nothing(self, api_as, alice, audrey, test_org):
        policy_id = api_as(alice).post(POLICIES, _new_policy(test_org), format="json").json()["id"]
        client = api_as(audrey)
        url = reverse("api:policy-detail", args=[policy_id])
        assert client.get(url).status_code == 200
        assert client.get(EXPORT).status_code == 200
        assert client.post(POLICIES, _new_policy(test_org, name="Mine"), format="json").status_code == 403
        assert client.patch(url, {"enabled": False}, format="json").status_code == 403
        assert client.delete(url).status_code == 403
        document = api_as(alice).get(EXPORT).json()
        assert client.post(IMPORT, {"document": document}, format="json").status_code == 403
        assert InactivityPolicy.objects.get().enabled is True

    def test_the_help_desk_may_not_write_policies(self, api_as, alice, hank, test_org):
        policy_id = api_as(alice).post(POLICIES, _new_policy(test_org), format="json").json()["id"]
        client = api_as(hank)
        url = reverse("api:policy-detail", args=[policy_id])
        assert client.post(POLICIES, _new_policy(test_org, name="Desk"), format="json").status_code == 403
        assert client.patch(url, {"trigger_days": 5}, format="json").status_code == 403
        assert client.delete(url).status_code == 403
        assert client.post(IMPORT, {"document": {}}, format="json").status_code == 403
        assert InactivityPolicy.objects.get().trigger_days == 90


class TestExemptions:
    def test_deleting_an_exemption_expires_it_with_the_reason_and_keeps_the_row(self, api_as, alice, test_org):
        client = api_as(alice)
        body = {"organization": test_org.pk, "email_pattern": "*@board.example.com", "reason": "the board"}
        exemption_id = client.post(reverse("api:exemption-list"), body, format="json").json()["id"]
        url = reverse("api:exemption-detail", args=[exemption_id])
        assert client.delete(url, format="json").status_code == 400  # a reason is required
        assert client.delete(url, {"reason": "board left"}, format="json").status_code == 204
        exemption = Exemption.objects.get()
        assert exemption.expires_at <= timezone.now()
        [event] = _api_events(AuditAction.EXEMPTION_EXPIRED)
        assert event.reason == "board left"
        assert client.delete(url, {"reason": "again"}, format="json").status_code == 409

    def test_auditors_cannot_end_an_exemption(self, api_as, alice, audrey, test_org):
        body = {"organization": test_org.pk, "email_pattern": "*@board.example.com", "reason": "the board"}
        exemption_id = api_as(alice).post(reverse("api:exemption-list"), body, format="json").json()["id"]
        url = reverse("api:exemption-detail", args=[exemption_id])
        assert api_as(audrey).delete(url, {"reason": "no"}, format="json").status_code == 403
        assert Exemption.objects.get().expires_at is None


class TestExportImport:
    def _author(self, client, test_org) -> dict:
        """In the test portal: a policy created then changed, and two exemptions, exported."""
        policy_id = client.post(POLICIES, _new_policy(test_org), format="json").json()["id"]
        client.patch(reverse("api:policy-detail", args=[policy_id]), {"trigger_days": 60}, format="json")
        exemptions = reverse("api:exemption-list")
        ada = test_org.accounts.get()
        client.post(
            exemptions,
            {"organization": test_org.pk, "account": ada.pk, "policy": policy_id, "reason": "on leave"},
            format="json",
        )
        client.post(
            exemptions, {"organization": test_org.pk, "email_pattern": "*@cfo.example", "reason": "CFO"}, format="json"
        )
        response = client.get(EXPORT, {"organization": test_org.pk})
        assert response.status_code == 200
        return response.json()

    def test_a_policy_made_through_the_api_is_exported_and_imported_elsewhere_after_a_preview(
        self, api_as, alice, test_org, prod_org
    ):
        client = api_as(alice)
        document = self._author(client, test_org)
        [exported] = document["policies"]
        assert (exported["name"], exported["trigger_days"], exported["products"]) == (
            "Jira 90 days",
            60,
            ["jira-software"],
        )
        assert exported["exclude_groups"] == ["contractors"]
        assert {e["account"] or e["email_pattern"] for e in document["exemptions"]} == {"ada-1", "*@cfo.example"}
        [download] = _api_events(AuditAction.EXPORT_DOWNLOADED)
        assert download.after["policies"] == 1

        # In production: first the dry run (the default), which changes nothing.
        request = {"organization": prod_org.pk, "document": document}
        response = client.post(IMPORT, request, format="json")
        assert response.status_code == 200, response.json()
        preview = response.json()
        assert (preview["dry_run"], preview["applied"]) == (True, False)
        assert [(i["kind"], i["outcome"]) for i in preview["items"]] == [
            ("policy", "create"),
            ("exemption", "create"),
            ("exemption", "create"),
        ]
        assert not InactivityPolicy.objects.filter(organization=prod_org).exists()
        assert not AuditEvent.objects.filter(action=AuditAction.IMPORT_APPLIED).exists()

        # Then for real: created in preview, scoped to production's own products and groups, audited.
        response = client.post(IMPORT, {**request, "dry_run": False, "reason": "promote"}, format="json")
        assert response.json()["applied"] is True
        policy = InactivityPolicy.objects.get(organization=prod_org)
        assert (policy.mode, policy.trigger_days, policy.warning_days) == (PolicyMode.PREVIEW, 60, [14, 3])
        assert [p.organization for p in policy.products.all()] == [prod_org]
        assert [g.organization for g in policy.exclude_groups.all()] == [prod_org]
        ada = Exemption.objects.get(organization=prod_org, account__isnull=False)
        assert (ada.account.account_id, ada.policy, ada.created_by) == ("ada-1", policy, None)
        [applied] = _api_events(AuditAction.IMPORT_APPLIED)
        assert applied.after["policy"] == {"create": 1, "change": 0, "unchanged": 0}
        assert applied.reason == "promote"
        assert len([e for e in _api_events(AuditAction.POLICY_CREATED) if e.organization == "production"]) == 1

        # Importing the same document again changes nothing; a changed one lists the change.
        again = client.post(IMPORT, request, format="json").json()
        assert {i["outcome"] for i in again["items"]} == {"unchanged"}
        document["policies"][0]["trigger_days"] = 45
        changed = client.post(IMPORT, request, format="json").json()
        assert changed["items"][0]["outcome"] == "change"
        assert changed["items"][0]["changes"] == {"trigger_days": [60, 45]}

    def test_an_import_never_changes_the_mode_of_a_policy_already_there(self, api_as, alice, test_org, prod_org):
        client = api_as(alice)
        document = self._author(client, test_org)
        document["policies"][0]["mode"] = "enforce"
        client.post(IMPORT, {"organization": prod_org.pk, "document": document, "dry_run": False}, format="json")
        assert InactivityPolicy.objects.get(organization=prod_org).mode == PolicyMode.PREVIEW

    def test_a_wrong_document_is_a_400_naming_each_entry_and_imports_nothing(self, api_as, alice, test_org, prod_org):
        client = api_as(alice)
        document = self._author(client, test_org)
        document["policies"][0]["products"] = ["jira-software", "bamboo"]
        document["exemptions"][0]["account"] = "nobody-here"
        request = {"organization": prod_org.pk, "document": document, "dry_run": False}
        response = client.post(IMPORT, request, format="json")
        assert response.status_code == 400
        errors = response.json()["document"]
        assert any("policies[0] Jira 90 days, products" in e and "bamboo" in e for e in errors)
        assert any("exemptions[0]" in e and "nobody-here" in e for e in errors)
        assert not InactivityPolicy.objects.filter(organization=prod_org).exists()
        assert not Exemption.objects.filter(organization=prod_org).exists()

    def test_something_that_is_not_a_policies_document_is_refused(self, api_as, alice, prod_org):
        response = api_as(alice).post(IMPORT, {"organization": prod_org.pk, "document": [1, 2]}, format="json")
        assert response.status_code == 400
        assert "not a JSON object" in response.json()["document"][0]


def test_entries_of_the_wrong_json_type_are_400s_not_errors(api_as, alice, prod_org):
    from policies.selectors.policy_export import FORMAT, VERSION

    document = {
        "format": FORMAT,
        "version": VERSION,
        "policies": [{"name": ["x"]}, {"name": "P", "trigger_days": "many", "enabled": {"a": 1}}],
        "exemptions": [{"policy": ["x"], "reason": 3}],
    }
    response = api_as(alice).post(IMPORT, {"organization": prod_org.pk, "document": document}, format="json")
    assert response.status_code == 400
    errors = response.json()["document"]
    assert any(e.startswith("policies[0]") for e in errors)
    assert any(e.startswith("policies[1] P, trigger_days") for e in errors)
    assert any(e.startswith("exemptions[0]") for e in errors)
