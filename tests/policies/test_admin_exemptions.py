"""Exemptions in the admin: created through the service, expired (never edited or deleted)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Group
from governance.audit.models import AuditAction, AuditEvent
from policies.models import Exemption, ExemptionKind

pytestmark = pytest.mark.django_db

ADD = "admin:policies_exemption_add"
CHANGELIST = "admin:policies_exemption_changelist"


def _form(organization, **fields) -> dict:
    data = {
        "organization": organization.pk,
        "kind": ExemptionKind.EXEMPT,
        "policy": "",
        "account": "",
        "group": "",
        "email_pattern": "",
        "reason": "",
        "expires_at_0": "",
        "expires_at_1": "",
    }
    data.update(fields)
    return data


@pytest.fixture
def exemption(mirrored):
    return Exemption.objects.create(
        organization=mirrored, email_pattern="*@board.example.com", reason="board members", created_by=None
    )


class TestCreating:
    def test_an_exemption_added_in_the_admin_is_audited(self, mirrored, client_for, alice):
        account = Account.objects.filter(organization=mirrored).first()
        response = client_for(alice).post(reverse(ADD), _form(mirrored, account=account.pk, reason="parental leave"))
        assert response.status_code == 302, response.content.decode()[:2000]
        exemption = Exemption.objects.get()
        assert exemption.created_by == alice
        event = AuditEvent.objects.get(action=AuditAction.EXEMPTION_CREATED)
        assert (event.actor_name, event.reason, event.target_id) == ("alice", "parental leave", str(exemption.pk))

    def test_a_reason_is_required(self, mirrored, client_for, alice):
        response = client_for(alice).post(reverse(ADD), _form(mirrored, email_pattern="*@x.example"))
        assert response.status_code == 200
        assert not Exemption.objects.exists()

    def test_exactly_one_subject_is_required(self, mirrored, client_for, alice):
        group = Group.objects.filter(organization=mirrored).first()
        data = _form(mirrored, group=group.pk, email_pattern="*@x.example", reason="two subjects")
        response = client_for(alice).post(reverse(ADD), data)
        assert "exactly one of" in response.content.decode()
        assert not Exemption.objects.exists()

    def test_an_expiry_in_the_past_is_refused(self, mirrored, client_for, alice):
        past = timezone.now() - timedelta(days=1)
        data = _form(
            mirrored,
            email_pattern="*@x.example",
            reason="r",
            expires_at_0=past.strftime("%Y-%m-%d"),
            expires_at_1=past.strftime("%H:%M:%S"),
        )
        assert "in the future" in client_for(alice).post(reverse(ADD), data).content.decode()
        assert not Exemption.objects.exists()

    def test_accounts_and_groups_are_picked_by_autocomplete(self, mirrored, client_for, alice):
        page = client_for(alice).get(reverse(ADD)).content.decode()
        assert page.count("admin-autocomplete") >= 3


class TestExpiring:
    def test_expire_now_needs_a_reason_and_is_audited(self, exemption, client_for, alice):
        client = client_for(alice)
        data = {"action": "expire_selected", "index": "0", "_selected_action": [exemption.pk]}
        confirm = client.post(reverse(CHANGELIST), data)
        assert confirm.status_code == 200
        blank = client.post(reverse(CHANGELIST), {**data, "_confirm": "1", "reason": ""})
        assert "Give a reason" in blank.content.decode()
        exemption.refresh_from_db()
        assert exemption.expires_at is None
        done = client.post(reverse(CHANGELIST), {**data, "_confirm": "1", "reason": "left the board"}, follow=True)
        assert "Expired 1" in done.content.decode()
        exemption.refresh_from_db()
        assert exemption.expires_at <= timezone.now()
        event = AuditEvent.objects.get(action=AuditAction.EXEMPTION_EXPIRED)
        assert (event.actor_name, event.reason) == ("alice", "left the board")

    def test_the_state_filter_separates_active_and_expired(self, exemption, mirrored, client_for, alice):
        Exemption.objects.create(
            organization=mirrored, email_pattern="*@old.example", reason="old", expires_at=timezone.now()
        )
        client = client_for(alice)
        assert client.get(reverse(CHANGELIST) + "?state=active").context["cl"].result_count == 1
        assert client.get(reverse(CHANGELIST) + "?state=expired").context["cl"].result_count == 1

    def test_an_exemption_is_never_edited_or_deleted(self, exemption, client_for, alice):
        client = client_for(alice)
        change = reverse("admin:policies_exemption_change", args=[exemption.pk])
        page = client.get(change)
        assert page.status_code == 200
        assert 'id="exemption-expire"' in page.content.decode()
        assert client.post(change, {"reason": "edited"}).status_code == 403
        delete = reverse("admin:policies_exemption_delete", args=[exemption.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
        assert Exemption.objects.get(pk=exemption.pk).reason == "board members"

    @pytest.mark.parametrize("persona", ["audrey", "hank"])
    def test_others_cannot_add_or_expire(self, request, exemption, mirrored, client_for, persona):
        client = client_for(request.getfixturevalue(persona))
        assert client.get(reverse(CHANGELIST)).status_code == 200
        assert client.post(reverse(ADD), _form(mirrored, email_pattern="*@y.example", reason="r")).status_code == 403
        data = {"action": "expire_selected", "index": "0", "_selected_action": [exemption.pk]}
        assert client.post(reverse(CHANGELIST), {**data, "_confirm": "1", "reason": "x"}).status_code == 403
        exemption.refresh_from_db()
        assert exemption.expires_at is None
        assert Exemption.objects.count() == 1
