"""API tokens: stored as a hash only, shown once, accepted as Token or Bearer, expiring, revocable,
created and revoked in the admin with an audit event each."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from governance.api.models import ApiToken
from governance.api.tokens import api_token_check, api_token_revoke, hash_secret, may_issue
from governance.audit.models import ActorKind, AuditAction, AuditEvent
from governance.audit.record import Actor
from tests.api.conftest import issue_token

pytestmark = pytest.mark.django_db
ACCOUNTS = "/api/accounts/"


def _client(secret: str, keyword: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {secret}")
    return client


class TestStorage:
    def test_only_the_hash_of_the_secret_is_stored(self, audrey):
        secret = issue_token(audrey)
        token = ApiToken.objects.get()
        assert secret.startswith(f"gpt_{token.prefix}_")
        assert token.secret_hash == hash_secret(secret)
        stored = [str(v) for v in ApiToken.objects.values().get().values()]
        assert not any(secret in value or secret.split("_", 2)[2] in value for value in stored)

    def test_creation_is_audited_without_the_secret(self, audrey):
        secret = issue_token(audrey, name="nightly export")
        event = AuditEvent.objects.get(action=AuditAction.API_TOKEN_CREATED)
        assert event.after["name"] == "nightly export"
        assert event.after["user"] == "audrey"
        assert secret not in str(event.after) + event.reason + event.target_repr


class TestAuthentication:
    @pytest.mark.parametrize("keyword", ["Token", "Bearer", "bearer"])
    def test_a_token_authenticates_as_its_user(self, audrey, mirror, keyword):
        response = _client(issue_token(audrey), keyword).get(ACCOUNTS)
        assert response.status_code == 200

    @pytest.mark.parametrize(
        "header",
        [
            "Token gpt_deadbeef_" + "x" * 43,
            "Token not-a-token",
            "Token",
            "Token a b",
            "Bearer gpt_00000000_" + "A" * 43,
        ],
    )
    def test_a_bad_token_is_401_with_one_message(self, api, mirror, header):
        api.credentials(HTTP_AUTHORIZATION=header)
        response = api.get(ACCOUNTS)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Token realm="api"'

    def test_a_right_prefix_with_a_wrong_secret_is_refused(self, audrey, mirror):
        secret = issue_token(audrey)
        forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
        assert _client(forged).get(ACCOUNTS).status_code == 401

    def test_an_expired_token_is_refused(self, audrey, mirror):
        secret = issue_token(audrey, expires_at=timezone.now() + timedelta(days=1))
        assert _client(secret).get(ACCOUNTS).status_code == 200
        with time_machine.travel(timezone.now() + timedelta(days=2)):
            assert _client(secret).get(ACCOUNTS).status_code == 401

    def test_a_revoked_token_is_refused_from_the_next_request(self, audrey, alice, mirror):
        secret = issue_token(audrey)
        client = _client(secret)
        assert client.get(ACCOUNTS).status_code == 200
        assert api_token_revoke(token=ApiToken.objects.get(), actor=Actor.for_user(alice), reason="leaked")
        assert client.get(ACCOUNTS).status_code == 401
        event = AuditEvent.objects.get(action=AuditAction.API_TOKEN_REVOKED)
        assert (event.actor_name, event.reason) == ("alice", "leaked")
        assert not api_token_revoke(token=ApiToken.objects.get(), actor=Actor.for_user(alice))  # once only

    def test_a_deactivated_users_token_is_refused(self, audrey, mirror):
        secret = issue_token(audrey)
        audrey.is_active = False
        audrey.save()
        assert api_token_check(secret) is None
        assert _client(secret).get(ACCOUNTS).status_code == 401

    def test_last_used_is_written_at_most_once_a_minute(self, audrey, mirror, django_assert_num_queries):
        client = _client(issue_token(audrey))
        start = timezone.now()
        with time_machine.travel(start, tick=False):
            client.get(ACCOUNTS)
            first = ApiToken.objects.get().last_used_at
            assert first == start
        with time_machine.travel(start + timedelta(seconds=30), tick=False):
            client.get(ACCOUNTS)
            assert ApiToken.objects.get().last_used_at == first
        with time_machine.travel(start + timedelta(seconds=61), tick=False):
            client.get(ACCOUNTS)
            assert ApiToken.objects.get().last_used_at == start + timedelta(seconds=61)

    def test_a_session_works_too(self, api_as, audrey, mirror):
        assert api_as(audrey).get(ACCOUNTS).status_code == 200


class TestOwnerDeactivated:
    """Deactivating a user revokes their tokens, so reactivating them does not bring the tokens back."""

    def test_deactivation_revokes_every_token_and_reactivation_does_not_restore_them(self, audrey, mirror):
        first, second = issue_token(audrey, name="one"), issue_token(audrey, name="two")
        assert _client(first).get(ACCOUNTS).status_code == 200
        audrey.is_active = False
        audrey.save()
        assert _client(first).get(ACCOUNTS).status_code == 401
        audrey.is_active = True
        audrey.save()
        assert _client(first).get(ACCOUNTS).status_code == 401
        assert _client(second).get(ACCOUNTS).status_code == 401
        assert not ApiToken.objects.filter(revoked_at__isnull=True).exists()
        events = AuditEvent.objects.filter(action=AuditAction.API_TOKEN_REVOKED).order_by("seq")
        assert [(e.after["name"], e.reason, e.actor_kind) for e in events] == [
            ("one", "owner deactivated", ActorKind.SYSTEM),
            ("two", "owner deactivated", ActorKind.SYSTEM),
        ]
        assert {e.target_id for e in events} == {str(pk) for pk in ApiToken.objects.values_list("pk", flat=True)}

    def test_through_the_users_admin_page(self, client_for, root, audrey, mirror):
        secret = issue_token(audrey)
        client = client_for(root)
        url = reverse("admin:auth_user_change", args=[audrey.pk])
        assert client.get(url).status_code == 200
        data = {  # what the page posts with "Active" unticked
            "username": audrey.username,
            "email": audrey.email,
            "is_staff": "on",
            "roles": [g.pk for g in audrey.groups.all()],
        }
        response = client.post(url, data)
        assert response.status_code == 302, response.context["adminform"].form.errors
        audrey.refresh_from_db()
        assert not audrey.is_active
        audrey.is_active = True
        audrey.save()
        assert _client(secret).get(ACCOUNTS).status_code == 401
        event = AuditEvent.objects.get(action=AuditAction.API_TOKEN_REVOKED)
        assert (event.after["user"], event.reason) == ("audrey", "owner deactivated")

    def test_a_token_revoked_before_is_not_revoked_again_and_other_users_keep_theirs(self, audrey, hank, alice, mirror):
        issue_token(audrey, name="old")
        api_token_revoke(token=ApiToken.objects.get(name="old"), actor=Actor.for_user(alice), reason="leaked")
        kept = issue_token(hank)
        audrey.is_active = False
        audrey.save()
        reasons = list(AuditEvent.objects.filter(action=AuditAction.API_TOKEN_REVOKED).values_list("reason", flat=True))
        assert reasons == ["leaked"]
        assert api_token_check(kept) is not None

    def test_saves_that_do_not_deactivate_revoke_nothing_and_cost_no_query(
        self, audrey, mirror, django_assert_num_queries
    ):
        secret = issue_token(audrey)
        with django_assert_num_queries(1):
            audrey.save(update_fields=["last_login"])
        audrey.first_name = "Audrey"
        audrey.save()
        assert api_token_check(secret) is not None
        audrey.is_active = False
        with django_assert_num_queries(1):  # not active, but is_active is not among the fields written
            audrey.save(update_fields=["first_name"])
        assert ApiToken.objects.get().revoked_at is None


class TestWhoMayIssue:
    def test_for_oneself_always_for_others_only_within_ones_own_permissions(self, alice, hank, audrey, root):
        assert may_issue(audrey, audrey)
        assert may_issue(alice, audrey)  # a portal admin holds every view permission an auditor has
        assert not may_issue(audrey, alice)
        assert not may_issue(hank, audrey)  # help desk cannot read the audit log
        assert not may_issue(alice, root)
        assert may_issue(root, alice)


@pytest.fixture
def token_admin(alice):
    """Alice, with the permissions to create and revoke tokens (what a superuser has)."""
    for codename in ("add_apitoken", "change_apitoken"):
        alice.user_permissions.add(Permission.objects.get(codename=codename))
    return alice


class TestAdmin:
    ADD = reverse("admin:governance_apitoken_add")
    CHANGELIST = reverse("admin:governance_apitoken_changelist")

    def test_the_secret_is_shown_once_after_creation_and_never_again(self, client_for, token_admin, audrey):
        client = client_for(token_admin)
        response = client.post(self.ADD, {"user": audrey.pk, "name": "audit export", "lifetime": "90"})
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        token = ApiToken.objects.get()
        page = response.content.decode()
        secret = page.split('id="api-token-secret" readonly size="80" value="')[1].split('"')[0]
        assert secret.startswith(f"gpt_{token.prefix}_")
        assert token.secret_hash == hash_secret(secret)
        assert token.created_by == token_admin
        assert token.expires_at > timezone.now() + timedelta(days=89)
        for url in (self.CHANGELIST, reverse("admin:governance_apitoken_change", args=[token.pk])):
            assert secret not in client.get(url).content.decode()
        event = AuditEvent.objects.get(action=AuditAction.API_TOKEN_CREATED)
        assert (event.actor_name, event.actor_kind) == ("alice", ActorKind.ADMIN)
        assert _client(secret).get(ACCOUNTS).status_code == 200

    def test_a_token_for_someone_with_more_permissions_is_refused(self, client_for, token_admin, root):
        response = client_for(token_admin).post(self.ADD, {"user": root.pk, "name": "x", "lifetime": ""})
        assert response.status_code == 200
        assert "whose every permission you hold" in response.content.decode()
        assert not ApiToken.objects.exists()

    def test_revoking_from_the_list_is_audited(self, client_for, token_admin, audrey):
        issue_token(audrey)
        token = ApiToken.objects.get()
        response = client_for(token_admin).post(
            self.CHANGELIST, {"action": "revoke_selected", "_selected_action": [token.pk]}
        )
        assert response.status_code == 302
        token.refresh_from_db()
        assert token.revoked_at is not None
        assert AuditEvent.objects.filter(action=AuditAction.API_TOKEN_REVOKED, target_id=str(token.pk)).count() == 1

    def test_an_auditor_sees_the_list_and_changes_nothing(self, client_for, audrey):
        issue_token(audrey)
        token = ApiToken.objects.get()
        client = client_for(audrey)
        assert client.get(self.CHANGELIST).status_code == 200
        assert client.get(self.ADD).status_code == 403
        assert client.post(self.ADD, {"user": audrey.pk, "name": "x"}).status_code == 403
        change = reverse("admin:governance_apitoken_change", args=[token.pk])
        assert client.get(change).status_code == 200
        assert client.post(change, {"name": "renamed"}).status_code == 403
        delete = reverse("admin:governance_apitoken_delete", args=[token.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
        client.post(self.CHANGELIST, {"action": "revoke_selected", "_selected_action": [token.pk]})
        token.refresh_from_db()
        assert token.revoked_at is None
        assert ApiToken.objects.filter(name="script").exists()

    def test_nobody_edits_or_deletes_a_token_not_even_a_superuser(self, client_for, root, audrey):
        issue_token(audrey)
        token = ApiToken.objects.get()
        client = client_for(root)
        assert (
            client.post(reverse("admin:governance_apitoken_change", args=[token.pk]), {"name": "x"}).status_code == 403
        )
        assert (
            client.post(reverse("admin:governance_apitoken_delete", args=[token.pk]), {"post": "yes"}).status_code
            == 403
        )
