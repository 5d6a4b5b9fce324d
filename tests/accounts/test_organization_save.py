"""organization_save: settings and secrets from plain arguments (no form), one audit event that
names what changed and never holds a secret."""

import json

import pytest
from cryptography.fernet import Fernet

from accounts.models import Organization
from accounts.services.organizations import EDITABLE_FIELDS, organization_save
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db
SECRET = "ATATT3xFfGF0-typed-into-the-service"


@pytest.fixture(autouse=True)
def fernet(settings):
    settings.PORTAL_FERNET_KEYS = [Fernet.generate_key().decode()]


def _events(action):
    return list(AuditEvent.objects.filter(action=action))


def test_a_new_organization_is_saved_and_audited_with_every_setting_and_the_secret_by_name(alice):
    organization = Organization(
        org_id="globex", name="Globex", api_base="https://api.atlassian.com", credentials_from_env=False
    )
    organization_save(organization=organization, actor=Actor.for_user(alice), previous=None, new_api_key=SECRET)
    stored = Organization.objects.get(org_id="globex")
    assert stored.api_key() == SECRET
    [event] = _events(AuditAction.ORGANIZATION_CREATED)
    # PostgreSQL's jsonb keeps keys in its own order: compare what is there, not where.
    assert set(event.after) == {*EDITABLE_FIELDS, "secrets"}
    assert event.after["secrets"] == ["api_key replaced"]
    assert SECRET not in json.dumps(event.after)


def test_a_change_is_audited_with_the_previous_values_given(alice):
    organization = OrganizationFactory(org_id="acme", name="Acme")
    organization.name = "Acme Corp"
    organization_save(organization=organization, actor=Actor.for_user(alice), previous={"name": "Acme"})
    [event] = _events(AuditAction.ORGANIZATION_UPDATED)
    assert (event.before, event.after) == ({"name": "Acme"}, {"name": "Acme Corp"})
    assert Organization.objects.get(pk=organization.pk).name == "Acme Corp"


def test_forgetting_secrets_clears_only_those_stored(alice):
    organization = OrganizationFactory(org_id="acme")
    organization.set_api_key(SECRET)
    organization.save()
    organization_save(organization=organization, actor=Actor.for_user(alice), previous={}, forget_secrets=True)
    assert Organization.objects.get(pk=organization.pk).api_key_encrypted == ""
    [event] = _events(AuditAction.ORGANIZATION_UPDATED)
    assert event.after == {"secrets": ["api_key forgotten"]}


def test_an_edit_that_changes_nothing_writes_and_audits_nothing(alice, django_assert_num_queries):
    organization = OrganizationFactory(org_id="acme")
    with django_assert_num_queries(0):
        organization_save(organization=organization, actor=Actor.for_user(alice), previous={})
    assert not AuditEvent.objects.filter(target_type="accounts.organization").exists()
