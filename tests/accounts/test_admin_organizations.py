"""The organization admin: connection settings, write-only secrets, every change audited."""

import json

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse

from accounts.models import Organization
from governance import crypto
from governance.audit.models import AuditAction, AuditEvent
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db
SECRET = "ATATT3xFfGF0-very-secret-admin-key"


@pytest.fixture
def fernet(settings):
    settings.PORTAL_FERNET_KEYS = [Fernet.generate_key().decode()]


@pytest.fixture
def org(db):
    return OrganizationFactory(org_id="acme", name="Acme", api_base="https://api.atlassian.com")


def _form(org: Organization, **changes) -> dict:
    data = {
        "name": org.name,
        "api_base": org.api_base,
        "site_url": org.site_url,
        "cloud_id": org.cloud_id,
        "directory_id": org.directory_id,
        "jira_email": org.jira_email,
        "credentials_from_env": "on" if org.credentials_from_env else "",
        "new_api_key": "",
        "new_jira_api_token": "",
        # The seat prices' inline (tests/accounts/test_seat_prices.py), with no rows.
        "seat_prices-TOTAL_FORMS": "0",
        "seat_prices-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def _change(org) -> str:
    return reverse("admin:accounts_organization_change", args=[org.pk])


def _events(action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


class TestSecrets:
    def test_a_typed_api_key_is_stored_encrypted_and_never_shown_again(self, client_for, alice, org, fernet):
        client = client_for(alice)
        response = client.post(_change(org), _form(org, credentials_from_env="", new_api_key=SECRET))
        assert response.status_code == 302, response.content.decode()[:2000]
        org.refresh_from_db()
        assert org.api_key_encrypted
        assert SECRET not in org.api_key_encrypted
        assert crypto.decrypt(org.api_key_encrypted) == SECRET
        page = client.get(_change(org)).content.decode()
        assert SECRET not in page
        assert "API key (encrypted)" in page

    def test_the_audit_event_names_the_secret_but_never_holds_it(self, client_for, alice, org, fernet):
        client_for(alice).post(_change(org), _form(org, credentials_from_env="", new_api_key=SECRET))
        [event] = _events(AuditAction.ORGANIZATION_UPDATED)
        assert SECRET not in json.dumps([event.before, event.after, event.reason])
        assert event.after["secrets"] == ["api_key replaced"]
        assert event.before == {"credentials_from_env": True}

    def test_without_fernet_keys_no_key_can_be_stored(self, client_for, alice, org, settings):
        settings.PORTAL_FERNET_KEYS = []
        page = client_for(alice).post(_change(org), _form(org, new_api_key=SECRET)).content.decode()
        assert "PORTAL_FERNET_KEYS must be set" in page
        assert SECRET not in page
        org.refresh_from_db()
        assert org.api_key_encrypted == ""
        assert not _events(AuditAction.ORGANIZATION_UPDATED)

    def test_turning_off_environment_credentials_needs_a_stored_key(self, client_for, alice, org, fernet):
        page = client_for(alice).post(_change(org), _form(org, credentials_from_env="")).content.decode()
        assert "an Admin API key is needed" in page
        org.refresh_from_db()
        assert org.credentials_from_env is True

    def test_forgetting_the_stored_key_is_audited_by_name(self, client_for, alice, org, fernet):
        org.set_api_key(SECRET)
        org.save()
        client_for(alice).post(_change(org), _form(org, forget_secrets="on"))
        org.refresh_from_db()
        assert org.api_key_encrypted == ""
        assert _events(AuditAction.ORGANIZATION_UPDATED)[0].after == {"secrets": ["api_key forgotten"]}

    def test_an_auditor_sees_no_secret_field_and_never_the_key(self, client_for, audrey, org, settings):
        settings.ATLASSIAN_ADMIN_API_KEY = SECRET  # what Organization.api_key() would return
        page = client_for(audrey).get(_change(org)).content.decode()
        assert SECRET not in page
        assert 'type="password"' not in page
        assert "new_api_key" not in page


class TestSettings:
    def test_a_change_is_audited_with_old_and_new_values(self, client_for, alice, org):
        client_for(alice).post(_change(org), _form(org, name="Acme Corp", site_url="https://acme.atlassian.net"))
        [event] = _events(AuditAction.ORGANIZATION_UPDATED)
        assert event.before == {"name": "Acme", "site_url": ""}
        assert event.after == {"name": "Acme Corp", "site_url": "https://acme.atlassian.net"}
        assert event.actor_name == "alice"

    def test_saving_without_a_change_writes_no_event(self, client_for, alice, org):
        assert client_for(alice).post(_change(org), _form(org)).status_code == 302
        assert not _events(AuditAction.ORGANIZATION_UPDATED)

    def test_the_org_id_cannot_be_changed_once_created(self, client_for, alice, org):
        client_for(alice).post(_change(org), _form(org, org_id="hijacked", name="Acme 2"))
        org.refresh_from_db()
        assert (org.org_id, org.name) == ("acme", "Acme 2")

    def test_creating_an_organization_is_audited(self, client_for, alice):
        data = {
            "org_id": "new-org",
            "name": "New",
            "api_base": "https://api.atlassian.com",
            "directory_id": "-",
            "credentials_from_env": "on",
        }
        response = client_for(alice).post(reverse("admin:accounts_organization_add"), data)
        assert response.status_code == 302, response.content.decode()[:2000]
        [event] = _events(AuditAction.ORGANIZATION_CREATED)
        assert event.after["org_id"] == "new-org"
        assert event.target_id == str(Organization.objects.get(org_id="new-org").pk)

    def test_no_one_deletes_an_organization_through_the_admin(self, client_for, root, org):
        response = client_for(root).post(reverse("admin:accounts_organization_delete", args=[org.pk]), {"post": "yes"})
        assert response.status_code == 403
        assert Organization.objects.filter(pk=org.pk).exists()

    def test_help_desk_cannot_change_an_organization(self, client_for, hank, org):
        response = client_for(hank).post(_change(org), _form(org, name="Mine"))
        assert response.status_code == 403
        org.refresh_from_db()
        assert org.name == "Acme"
