"""An admin session ends after PORTAL_SESSION_IDLE_MINUTES without a request, and not while in use;
its expiry is written at most once a minute."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.urls import reverse

NOW = datetime(2030, 5, 6, 9, 0, tzinfo=UTC)
ADMIN = reverse("admin:index")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eight_hours(settings):
    settings.SESSION_COOKIE_AGE = 8 * 3600
    settings.SESSION_REFRESH_SECONDS = 60


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def is_signed_out(response) -> bool:
    return response.status_code == 302 and response.url.startswith(reverse("admin:login"))


def expiry(client) -> datetime:
    return Session.objects.get(session_key=client.session.session_key).expire_date


def test_the_idle_timeout_is_the_session_age():
    assert django_settings.SESSION_COOKIE_AGE == django_settings.PORTAL_SESSION_IDLE_MINUTES * 60
    assert "governance.middleware.SessionIdleMiddleware" in django_settings.MIDDLEWARE
    assert not django_settings.SESSION_SAVE_EVERY_REQUEST


def test_a_session_idle_past_the_timeout_is_signed_out(clock, client_for, alice):
    client = client_for(alice)
    assert client.get(ADMIN).status_code == 200
    clock.shift(timedelta(hours=8, seconds=1))
    assert is_signed_out(client.get(ADMIN))


def test_a_session_in_use_outlives_the_timeout(clock, client_for, alice):
    client = client_for(alice)
    for _ in range(20):  # ten hours, a request every half hour
        clock.shift(timedelta(minutes=30))
        assert client.get(ADMIN).status_code == 200
    clock.shift(timedelta(hours=7, minutes=58))
    assert client.get(ADMIN).status_code == 200


def test_the_expiry_is_written_at_most_once_a_minute(clock, client_for, alice):
    client = client_for(alice)
    signed_in_until = expiry(client)
    assert signed_in_until == NOW + timedelta(hours=8)
    clock.shift(timedelta(seconds=59))
    client.get(ADMIN)
    assert expiry(client) == signed_in_until  # the sign-in itself counted as the refresh
    clock.shift(timedelta(seconds=2))
    client.get(ADMIN)
    assert expiry(client) == NOW + timedelta(seconds=61, hours=8)


def test_visitors_who_are_not_signed_in_get_no_session(client):
    for url in ("/access/", reverse("admin:login")):
        response = client.get(url)
        assert response.status_code == 200
        assert django_settings.SESSION_COOKIE_NAME not in response.cookies
    assert not Session.objects.exists()
