"""Repeated bad API tokens from one client address are refused with 429 once past the limit, and the
lockout is one audit event, however many failures follow."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from governance.audit.models import ActorKind, AuditAction, AuditEvent
from tests.api.conftest import issue_token

pytestmark = pytest.mark.django_db
ACCOUNTS = "/api/accounts/"
# Two minutes into a ten-minute window (windows start at multiples of 600 s since the epoch).
NOW = datetime(2030, 5, 6, 9, 2, tzinfo=UTC)
ATTACKER = "203.0.113.66"
BAD = "gpt_0badc0de_" + "A" * 43


@pytest.fixture(autouse=True)
def limits(settings):
    settings.PORTAL_API_TOKEN_FAILURE_LIMIT = 3
    settings.PORTAL_API_TOKEN_FAILURE_WINDOW_MINUTES = 10
    settings.PORTAL_TRUSTED_PROXY_COUNT = 0
    return settings


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def call(secret: str, *, ip: str = ATTACKER, keyword: str = "Token", **headers):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {secret}")
    return client.get(ACCOUNTS, REMOTE_ADDR=ip, **headers)


def test_bad_tokens_are_401_up_to_the_limit_then_429_with_retry_after(clock, mirror):
    assert [call(BAD).status_code for _ in range(3)] == [401, 401, 401]
    refused = call(BAD)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "481"  # until the window ends at 09:10
    assert "Too many failed token authentications" in refused.json()["detail"]


def test_a_locked_address_is_refused_even_with_a_good_token_and_other_addresses_are_not(clock, mirror, audrey):
    good = issue_token(audrey)
    for _ in range(3):
        call(BAD)
    assert call(good).status_code == 429
    assert call(good, ip="198.51.100.20").status_code == 200
    assert call(BAD, ip="198.51.100.20").status_code == 401


def test_the_lockout_ends_with_its_window(clock, mirror, audrey):
    good = issue_token(audrey)
    for _ in range(4):
        call(BAD)
    clock.shift(timedelta(minutes=7, seconds=59))
    assert call(good).status_code == 429
    clock.shift(timedelta(seconds=2))
    assert call(good).status_code == 200


def test_a_lockout_is_one_audit_event_however_many_failures_follow(clock, mirror):
    before = AuditEvent.objects.count()
    for _ in range(25):
        call(BAD)
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.get(action=AuditAction.API_AUTH_LOCKED_OUT)
    assert event.actor_kind == ActorKind.ANONYMOUS
    assert event.client_ip == ATTACKER
    assert (event.target_type, event.target_id) == ("ip_address", ATTACKER)
    assert event.after == {"failures": 3, "window_minutes": 10, "retry_after_seconds": 481}
    assert BAD not in str(event.after) + event.target_repr + event.reason


@pytest.mark.parametrize(
    "header",
    [("Token", BAD), ("Token", "not-even-the-format"), ("Token", "two parts"), ("Bearer", "gpt_ffffffff_wrong")],
)
def test_every_kind_of_bad_token_counts(clock, mirror, header):
    keyword, secret = header
    for _ in range(3):
        assert call(secret, keyword=keyword).status_code == 401
    assert call(BAD).status_code == 429


def test_good_tokens_never_count(clock, mirror, audrey):
    good = issue_token(audrey)
    assert {call(good).status_code for _ in range(6)} == {200}
    assert call(BAD).status_code == 401


def test_a_session_is_not_affected_by_its_address_being_locked(clock, mirror, api_as, audrey):
    for _ in range(3):
        call(BAD)
    assert api_as(audrey).get(ACCOUNTS, REMOTE_ADDR=ATTACKER).status_code == 200


def test_behind_a_proxy_the_address_is_the_hop_the_proxy_appended(clock, limits, mirror, audrey):
    limits.PORTAL_TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for n in range(3):  # forged left-hand entries change nothing
        call(BAD, ip=proxy, HTTP_X_FORWARDED_FOR=f"1.1.1.{n}, {ATTACKER}")
    assert call(BAD, ip=proxy, HTTP_X_FORWARDED_FOR=ATTACKER).status_code == 429
    good = issue_token(audrey)
    assert call(good, ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.21").status_code == 200
