"""Failed admin sign-ins are limited per username and per client address (django-axes), audited, and
lifted after the lockout time or by a Portal admin in the admin."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.core import checks
from django.test import Client
from django.urls import reverse

from governance.audit.models import ActorKind, AuditAction, AuditEvent
from governance.signin import lockouts

PASSWORD = "x" * 16  # the personas' password (tests/conftest.py)
WRONG = "not-the-password-0"
NOW = datetime(2030, 5, 6, 9, 0, tzinfo=UTC)
LOGIN = reverse("admin:login")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits(settings):
    """The documented defaults, set here so a deployment's environment cannot change the tests."""
    settings.PORTAL_LOGIN_FAILURE_LIMIT = 5
    settings.AXES_FAILURE_LIMIT = 5
    settings.PORTAL_LOGIN_FAILURE_LIMIT_PER_IP = 20
    settings.PORTAL_LOGIN_LOCKOUT_MINUTES = 15
    settings.PORTAL_TRUSTED_PROXY_COUNT = 0
    return settings


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def sign_in(username: str, password: str, *, ip: str = "198.51.100.7", client: Client | None = None, **headers):
    client = client or Client()
    response = client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip, **headers
    )
    return response, client


def signed_in(client: Client) -> bool:
    return SESSION_KEY in client.session


def fail(username: str, times: int, *, ip: str = "198.51.100.7") -> list[int]:
    return [sign_in(username, f"{WRONG}{n}", ip=ip)[0].status_code for n in range(times)]


class TestLockoutPerUsername:
    def test_the_fifth_wrong_password_locks_the_username_and_the_right_one_is_then_refused(self, clock, alice):
        assert fail("alice", 5) == [200, 200, 200, 200, 429]
        response, client = sign_in("alice", PASSWORD)
        assert response.status_code == 429
        assert not signed_in(client)

    def test_the_lockout_page_says_how_long_and_who_can_lift_it(self, clock, alice):
        fail("alice", 5)
        response, _ = sign_in("alice", PASSWORD)
        page = response.content.decode()
        assert "Too many failed sign-ins. Try again in 15 minutes" in " ".join(page.split())
        assert "ask a Portal admin to unlock the account" in " ".join(page.split())
        assert response["Retry-After"] == "900"
        assert "no-cache" in response["Cache-Control"]
        assert "Content-Security-Policy" in response

    def test_the_username_stays_locked_from_any_other_address(self, clock, alice):
        for n in range(5):
            fail("alice", 1, ip=f"203.0.113.{n + 1}")
        response, client = sign_in("alice", PASSWORD, ip="192.0.2.200")
        assert response.status_code == 429
        assert not signed_in(client)

    def test_other_users_still_sign_in_from_elsewhere(self, clock, alice, audrey):
        fail("alice", 5)
        response, client = sign_in("audrey", PASSWORD, ip="192.0.2.99")
        assert response.status_code == 302
        assert signed_in(client)

    def test_fewer_failures_than_the_limit_lock_nothing(self, clock, alice):
        fail("alice", 4)
        response, client = sign_in("alice", PASSWORD)
        assert response.status_code == 302
        assert signed_in(client)


class TestLockoutPerAddress:
    def test_one_address_failing_for_many_usernames_is_locked_for_every_username(self, clock, limits, alice, audrey):
        limits.PORTAL_LOGIN_FAILURE_LIMIT_PER_IP = 6
        statuses = []
        for name in ("mallory", "trent", "victor"):
            statuses += fail(name, 2, ip="203.0.113.50")
        assert statuses == [200, 200, 200, 200, 200, 429]  # no username reached 5; the address reached 6
        response, client = sign_in("alice", PASSWORD, ip="203.0.113.50")
        assert response.status_code == 429
        assert not signed_in(client)
        # Someone else, elsewhere, is not affected.
        response, client = sign_in("audrey", PASSWORD, ip="192.0.2.10")
        assert response.status_code == 302

    def test_an_address_has_more_room_than_a_username(self, clock, alice):
        """One person mistyping a forgotten password locks their username, not their office."""
        fail("bob", 5, ip="203.0.113.60")
        response, _ = sign_in("alice", PASSWORD, ip="203.0.113.60")
        assert response.status_code == 302

    def test_behind_a_proxy_the_address_is_the_hop_the_proxy_appended(self, clock, limits, alice):
        limits.PORTAL_TRUSTED_PROXY_COUNT = 1
        limits.PORTAL_LOGIN_FAILURE_LIMIT_PER_IP = 6
        proxy = "10.0.0.2"
        # The client forges a left-hand entry; only the right-hand hop (written by the proxy) counts.
        for n in range(6):
            sign_in(f"user{n}", WRONG, ip=proxy, HTTP_X_FORWARDED_FOR=f"1.1.1.{n}, 203.0.113.70")
        assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.70"}
        assert sign_in("alice", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.70")[0].status_code == 429
        # Another client through the same proxy is a different address.
        response, client = sign_in("alice", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.71")
        assert response.status_code == 302
        assert signed_in(client)

    def test_a_proxy_hop_that_is_not_an_address_falls_back_to_the_connection(self, clock, limits):
        limits.PORTAL_TRUSTED_PROXY_COUNT = 1
        sign_in("mallory", WRONG, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-ip")
        assert AccessAttempt.objects.get().ip_address == "10.0.0.2"


class TestLockoutEnds:
    def test_after_the_lockout_time_the_right_password_works_again(self, clock, alice):
        fail("alice", 5)
        clock.shift(timedelta(minutes=14, seconds=59))
        assert sign_in("alice", PASSWORD)[0].status_code == 429
        clock.shift(timedelta(seconds=2))
        response, client = sign_in("alice", PASSWORD)
        assert response.status_code == 302
        assert signed_in(client)

    def test_the_lockout_time_is_configurable(self, clock, limits, alice):
        limits.PORTAL_LOGIN_LOCKOUT_MINUTES = 30
        fail("alice", 5)
        clock.shift(timedelta(minutes=20))
        refused, _ = sign_in("alice", PASSWORD)
        assert refused.status_code == 429
        assert refused["Retry-After"] == "1800"
        assert "Try again in 30 minutes" in " ".join(refused.content.decode().split())
        clock.shift(timedelta(minutes=10, seconds=1))
        assert sign_in("alice", PASSWORD)[0].status_code == 302

    def test_attempts_during_a_lockout_do_not_extend_it(self, clock, alice):
        fail("alice", 5)
        for _ in range(10):
            clock.shift(timedelta(minutes=1))
            assert sign_in("alice", WRONG)[0].status_code == 429
        clock.shift(timedelta(minutes=5, seconds=1))
        assert sign_in("alice", PASSWORD)[0].status_code == 302
        assert AccessAttempt.objects.filter(username="alice").count() == 0  # the expired row is cleaned up

    def test_a_portal_admin_lifts_a_username_lockout_in_the_admin(self, clock, client_for, alice, hank):
        fail("hank", 5)
        assert sign_in("hank", PASSWORD)[0].status_code == 429
        admin = client_for(alice)
        changelist = reverse("admin:axes_accessattempt_changelist")
        page = admin.get(changelist)
        assert page.status_code == 200
        assert "username" in page.content.decode()  # the "locked out" column names what is locked
        row = AccessAttempt.objects.get(username="hank")
        response = admin.post(changelist, {"action": "unlock_usernames", "_selected_action": [row.pk]})
        assert response.status_code == 302
        assert not AccessAttempt.objects.exists()
        response, client = sign_in("hank", PASSWORD)
        assert response.status_code == 302
        assert signed_in(client)
        event = AuditEvent.objects.get(action=AuditAction.LOGIN_UNLOCKED)
        assert (event.actor_name, event.target_repr) == ("alice", "hank")
        assert event.target_id == str(hank.pk)
        assert event.after == {"username": "hank", "failures_cleared": 5}

    def test_a_portal_admin_lifts_an_address_lockout_leaving_other_addresses_locked(
        self, clock, limits, client_for, alice
    ):
        limits.PORTAL_LOGIN_FAILURE_LIMIT_PER_IP = 6
        fail("a", 3, ip="203.0.113.1")
        fail("b", 3, ip="203.0.113.1")
        fail("c", 3, ip="203.0.113.2")
        fail("d", 3, ip="203.0.113.2")
        row = AccessAttempt.objects.filter(ip_address="203.0.113.1").first()
        admin = client_for(alice)
        admin.post(
            reverse("admin:axes_accessattempt_changelist"), {"action": "unlock_addresses", "_selected_action": [row.pk]}
        )
        assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.2"}
        event = AuditEvent.objects.get(action=AuditAction.LOGIN_UNLOCKED)
        assert (event.target_type, event.target_id) == ("ip_address", "203.0.113.1")
        assert event.after == {"address": "203.0.113.1", "failures_cleared": 6}

    @pytest.mark.parametrize("persona", ["audrey", "hank", "nobody"])
    def test_only_portal_admins_may_unlock(self, request, clock, client_for, persona):
        fail("mallory", 5)
        client = client_for(request.getfixturevalue(persona))
        row = AccessAttempt.objects.get()
        changelist = reverse("admin:axes_accessattempt_changelist")
        client.post(changelist, {"action": "unlock_usernames", "_selected_action": [row.pk]})
        assert AccessAttempt.objects.filter(pk=row.pk).exists()
        assert (
            client.post(reverse("admin:axes_accessattempt_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
        )
        assert AccessAttempt.objects.filter(pk=row.pk).exists()


class TestWhoSeesSignInRecords:
    @pytest.mark.parametrize(("persona", "expected"), [("alice", 200), ("audrey", 200), ("hank", 403), ("nobody", 403)])
    def test_portal_admins_and_auditors_read_failed_sign_ins_and_sign_in_history(
        self, request, client_for, persona, expected
    ):
        client = client_for(request.getfixturevalue(persona))
        assert client.get(reverse("admin:axes_accessattempt_changelist")).status_code == expected
        assert client.get(reverse("admin:axes_accesslog_changelist")).status_code == expected

    def test_even_a_superuser_deletes_attempts_only_through_unlock(self, clock, client_for, root):
        fail("mallory", 2)
        page = client_for(root).get(reverse("admin:axes_accessattempt_changelist")).content.decode()
        assert 'value="unlock_usernames"' in page
        assert 'value="delete_selected"' not in page


class TestAuditEvents:
    def test_each_counted_failure_is_an_event_and_the_lockout_one_more(self, clock, alice):
        fail("alice", 5, ip="203.0.113.9")
        events = list(AuditEvent.objects.order_by("seq"))
        assert [e.action for e in events] == [AuditAction.LOGIN_FAILED] * 5 + [AuditAction.LOGIN_LOCKED_OUT]
        locked = events[-1]
        assert locked.actor_kind == ActorKind.ANONYMOUS
        assert (locked.target_type, locked.target_id, locked.target_repr) == ("auth.user", str(alice.pk), "alice")
        assert locked.client_ip == "203.0.113.9"
        assert locked.after == {
            "failures_for_username": 5,
            "failures_from_address": 5,
            "locked": ["username"],
            "minutes": 15,
        }

    def test_attempts_refused_during_a_lockout_add_no_events(self, clock, alice):
        fail("alice", 5)
        fail("alice", 20)
        sign_in("alice", PASSWORD)
        assert AuditEvent.objects.count() == 6

    def test_an_unknown_username_is_recorded_as_typed_without_an_id(self, clock):
        fail("no-such-person", 1)
        event = AuditEvent.objects.get()
        assert (event.action, event.target_id, event.target_repr) == (AuditAction.LOGIN_FAILED, "", "no-such-person")

    def test_the_password_is_never_recorded(self, clock, alice):
        secret = "Tr0ub4dor&3-horse-battery"
        sign_in("alice", secret)
        fail("alice", 4)
        stored = [
            str(value)
            for event in AuditEvent.objects.all()
            for value in (event.before, event.after, event.reason, event.target_repr, event.actor_name)
        ]
        stored += [f"{a.get_data} {a.post_data}" for a in AccessAttempt.objects.all()]
        assert not any(secret in value or WRONG in value for value in stored)
        assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).count() == 5

    def test_a_successful_sign_in_is_not_an_audit_event(self, clock, alice):
        sign_in("alice", PASSWORD)
        assert not AuditEvent.objects.exists()


class TestCounting:
    def test_the_figure_given_to_axes_reaches_its_limit_exactly_when_either_count_reaches_its_own(self, limits):
        limits.PORTAL_LOGIN_FAILURE_LIMIT_PER_IP = 12
        assert lockouts.Failures(by_username=4, by_address=11).for_axes() == 4
        assert lockouts.Failures(by_username=5, by_address=0).for_axes() == 5
        assert lockouts.Failures(by_username=0, by_address=12).for_axes() == 5
        assert not lockouts.Failures(by_username=4, by_address=11).locked
        assert lockouts.Failures(by_username=1, by_address=12).address_locked


class TestProxyCheck:
    def test_a_tls_proxy_with_no_trusted_hop_is_a_deploy_warning(self, settings):
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        settings.PORTAL_TRUSTED_PROXY_COUNT = 0
        found = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])
        assert "governance.W001" in {message.id for message in found}
        settings.PORTAL_TRUSTED_PROXY_COUNT = 1
        found = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])
        assert "governance.W001" not in {message.id for message in found}
