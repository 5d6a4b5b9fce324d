"""A permission matrix over every admin URL for each portal role."""

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event


def _admin_models():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _some_object(model):
    return model._default_manager.order_by("pk").first()


@pytest.fixture
def an_event(db):
    return record_event(actor=Actor.system(), action=AuditAction.SYNC_COMPLETED, target_repr="sync")


@pytest.fixture
def sign_in_records(db):
    """A failed and a successful sign-in (django-axes' rows), so their admins have an object to refuse."""
    now = timezone.now()
    AccessAttempt.objects.create(
        username="mallory", ip_address="203.0.113.5", user_agent="x", attempt_time=now, failures_since_start=5
    )
    AccessLog.objects.create(username="alice", ip_address="203.0.113.6", user_agent="x", attempt_time=now)


@pytest.mark.django_db
class TestAuditorsChangeNothing:
    def test_an_auditor_can_open_every_changelist_of_the_portal(self, client_for, audrey, an_event):
        client = client_for(audrey)
        for model, _ in _admin_models():
            if model._meta.app_label not in ("governance", "accounts", "policies", "axes"):
                continue
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            assert client.get(url).status_code == 200, url

    def test_an_auditor_gets_403_on_every_add_page(self, client_for, audrey):
        client = client_for(audrey)
        for model, _ in _admin_models():
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
            assert client.get(url).status_code == 403, url
            assert client.post(url, {}).status_code == 403, url

    def test_an_auditor_cannot_change_or_delete_any_object(self, client_for, audrey, an_event, alice, sign_in_records):
        client = client_for(audrey)
        for model, _ in _admin_models():
            obj = _some_object(model)
            if obj is None:
                continue
            label = f"{model._meta.app_label}_{model._meta.model_name}"
            change = reverse(f"admin:{label}_change", args=[obj.pk])
            delete = reverse(f"admin:{label}_delete", args=[obj.pk])
            response = client.post(change, {})
            assert response.status_code == 403, change
            assert client.post(delete, {"post": "yes"}).status_code == 403, delete
            assert model._default_manager.filter(pk=obj.pk).exists()

    def test_an_auditor_sees_no_bulk_actions(self, client_for, audrey, an_event):
        page = client_for(audrey).get(reverse("admin:governance_auditevent_changelist"))
        assert 'name="action"' not in page.content.decode()


@pytest.mark.django_db
class TestAuditLogIsReadOnlyForEveryone:
    @pytest.mark.parametrize("persona", ["alice", "audrey", "root"])
    def test_no_role_can_add_change_or_delete_an_event(self, request, client_for, persona, an_event):
        client = client_for(request.getfixturevalue(persona))
        assert client.get(reverse("admin:governance_auditevent_add")).status_code == 403
        change = reverse("admin:governance_auditevent_change", args=[an_event.pk])
        page = client.get(change)
        assert page.status_code == 200
        assert 'type="submit"' not in page.content.decode().split('id="auditevent_form"')[-1].split("</form>")[0]
        assert client.post(change, {"reason": "x"}).status_code == 403
        assert (
            client.post(reverse("admin:governance_auditevent_delete", args=[an_event.pk]), {"post": "yes"}).status_code
            == 403
        )


@pytest.mark.django_db
class TestRoleMatrix:
    @pytest.mark.parametrize(
        ("persona", "expected"),
        [("alice", 200), ("hank", 403), ("audrey", 200), ("nobody", 403)],
    )
    def test_who_may_read_the_audit_log(self, request, client_for, persona, expected, an_event):
        client = client_for(request.getfixturevalue(persona))
        assert client.get(reverse("admin:governance_auditevent_changelist")).status_code == expected
        assert client.get(reverse("admin:governance_auditevent_download")).status_code == expected

    @pytest.mark.parametrize(("persona", "expected"), [("alice", 200), ("audrey", 200), ("hank", 403), ("nobody", 403)])
    def test_who_may_read_run_history(self, request, client_for, persona, expected):
        client = client_for(request.getfixturevalue(persona))
        assert client.get(reverse("admin:governance_taskrun_changelist")).status_code == expected
