"""Rate limits of the access pages (per IP, per email, per token) and the database limiter behind them."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from governance.ratelimit import counter_key, hit, hit_many, purge_stale
from governance.ratelimit_models import RateLimitCounter
from tests.policies.test_access_support import act, path_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def tight(settings):
    settings.ACCESS_RATE_LIMIT_WINDOW_SECONDS = 3600
    settings.ACCESS_RATE_LIMIT_PER_IP = 3
    settings.ACCESS_RATE_LIMIT_PER_EMAIL = 2
    settings.ACCESS_RATE_LIMIT_PER_TOKEN = 2
    return settings


def _ask(client, email, ip):
    return client.post("/access/", {"email": email}, REMOTE_ADDR=ip)


class TestEmailPage:
    def test_it_limits_each_client_ip(self, client, tight):
        statuses = [_ask(client, f"person{i}@example.com", "203.0.113.5").status_code for i in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert _ask(client, "someone@example.com", "203.0.113.6").status_code == 200

    def test_it_limits_each_email_address_whatever_the_ip(self, client, tight):
        statuses = [_ask(client, "Target@Example.com", f"203.0.113.{i}").status_code for i in range(1, 4)]
        assert statuses == [200, 200, 429]

    def test_the_429_is_a_friendly_page_with_retry_after(self, client, tight):
        for i in range(3):
            _ask(client, f"p{i}@example.com", "203.0.113.9")
        refused = _ask(client, "p9@example.com", "203.0.113.9")
        assert refused.status_code == 429
        assert "access/rate_limited.html" in [t.name for t in refused.templates]
        assert b"Too many attempts" in refused.content
        assert 0 < int(refused["Retry-After"]) <= 3600
        assert refused["Referrer-Policy"] == "no-referrer"

    def test_the_window_ends(self, client, tight):
        for i in range(3):
            _ask(client, f"p{i}@example.com", "203.0.113.10")
        assert _ask(client, "p3@example.com", "203.0.113.10").status_code == 429
        with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
            assert _ask(client, "p4@example.com", "203.0.113.10").status_code == 200

    def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(self, client, tight):
        tight.PORTAL_TRUSTED_PROXY_COUNT = 1
        for i in range(3):
            response = client.post(
                "/access/", {"email": f"x{i}@example.com"}, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1"
            )
            assert response.status_code == 200
        other = client.post(
            "/access/", {"email": "y@example.com"}, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.2"
        )
        assert other.status_code == 200
        again = client.post(
            "/access/", {"email": "z@example.com"}, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1"
        )
        assert again.status_code == 429


class TestRestorePage:
    def test_it_limits_each_token(self, make_policy, client, tight):
        path = path_for(act(make_policy()))
        statuses = [client.get(path, REMOTE_ADDR=f"203.0.113.{i}").status_code for i in range(1, 4)]
        assert statuses == [200, 200, 429]

    def test_it_limits_each_client_ip_across_tokens(self, make_policy, client, tight):
        path = path_for(act(make_policy()))
        statuses = [client.get(path, REMOTE_ADDR="203.0.113.20").status_code for _ in range(2)]
        bad = [client.get(f"/access/restore/bogus-{i}/", REMOTE_ADDR="203.0.113.20").status_code for i in range(2)]
        assert statuses + bad == [200, 200, 410, 429]

    def test_it_limits_submissions_per_email(self, make_policy, client, tight):
        tight.ACCESS_RATE_LIMIT_PER_TOKEN = 100
        tight.ACCESS_RATE_LIMIT_PER_IP = 100
        enforcement = act(make_policy(justification_required=True))
        path = path_for(enforcement)
        statuses = [client.post(path, {"justification": ""}).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]


class TestLimiter:
    def test_keys_are_hashed_never_raw(self, make_policy, client, tight):
        path = path_for(act(make_policy()))
        token = path.split("/")[3]
        _ask(client, "secret.person@example.com", "203.0.113.30")
        client.get(path, REMOTE_ADDR="203.0.113.30")
        keys = list(RateLimitCounter.objects.values_list("key", flat=True))
        assert keys
        for key in keys:
            assert len(key) == 64
            int(key, 16)
            assert "secret.person" not in key
            assert "203.0.113.30" not in key
            assert token[:16] not in key

    def test_counts_in_one_window_and_restarts_in_the_next(self):
        now = timezone.now()
        assert [hit("s", "v", limit=2, window_seconds=60, now=now).count for _ in range(3)] == [1, 2, 3]
        assert not hit("s", "v", limit=2, window_seconds=60, now=now).allowed
        later = now + timedelta(seconds=61)
        assert hit("s", "v", limit=2, window_seconds=60, now=later).count == 1
        # A process whose clock lags counts into the newer window instead of resetting it.
        assert hit("s", "v", limit=2, window_seconds=60, now=now).count == 2

    def test_several_limits_are_counted_in_one_statement(self, django_assert_num_queries):
        now = timezone.now()
        checks = [("ip", "203.0.113.1", 2), ("email", "a@example.com", 1), ("token", "t", 5)]
        with django_assert_num_queries(1):
            first = hit_many(checks, window_seconds=60, now=now)
        assert [(h.count, h.allowed) for h in first] == [(1, True), (1, True), (1, True)]
        second = hit_many(checks, window_seconds=60, now=now)
        # Each limit keeps its own counter and its own verdict.
        assert [(h.count, h.limit, h.allowed) for h in second] == [(2, 2, True), (2, 1, False), (2, 5, True)]
        assert hit("email", "a@example.com", limit=1, window_seconds=60, now=now).count == 3
        assert RateLimitCounter.objects.count() == 3
        assert hit_many([], window_seconds=60, now=now) == []

    def test_the_same_counter_twice_in_one_call_counts_once(self):
        now = timezone.now()
        hits = hit_many([("s", "v", 1), ("s", "v", 1)], window_seconds=60, now=now)
        assert [h.count for h in hits] == [1, 1]
        assert RateLimitCounter.objects.get().count == 1

    def test_a_page_counts_its_limits_in_one_statement(self, client, tight, django_assert_num_queries):
        # The limiter's one upsert, then nothing else: an invalid address is not looked up or queued.
        with django_assert_num_queries(1):
            response = client.post("/access/", {"email": "not-an-address"}, REMOTE_ADDR="203.0.113.40")
        assert response.status_code == 200

    def test_old_counters_are_purged(self):
        now = timezone.now()
        hit("s", "old", limit=5, window_seconds=60, now=now - timedelta(days=2))
        hit("s", "new", limit=5, window_seconds=60, now=now)
        assert purge_stale(now=now) == 1
        assert RateLimitCounter.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_multi_limit_hits_are_all_counted_exactly_once():
    """Requests sharing some counters (one IP, different emails) from several threads: every hit is
    counted once, and upserting rows in one fixed order never deadlocks."""
    now = timezone.now()
    workers, per_worker = 4, 10
    errors = []

    def worker(n):
        try:
            for i in range(per_worker):
                checks = [("ip", "203.0.113.50", 1000), ("email", f"w{n}-{i}@example.com", 5), ("all", "x", 1000)]
                hit_many(list(reversed(checks)) if n % 2 else checks, window_seconds=3600, now=now)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = workers * per_worker
    counts = dict(RateLimitCounter.objects.values_list("key", "count"))
    assert counts.pop(counter_key("ip", "203.0.113.50")) == total
    assert counts.pop(counter_key("all", "x")) == total
    assert sorted(counts.values()) == [1] * total


@pytest.mark.django_db(transaction=True)
def test_concurrent_hits_are_all_counted_exactly_once():
    now = timezone.now()
    workers, per_worker = 4, 10
    seen, errors = [], []

    def worker():
        try:
            for _ in range(per_worker):
                seen.append(hit("race", "same-key", limit=1000, window_seconds=3600, now=now).count)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = workers * per_worker
    assert sorted(seen) == list(range(1, total + 1))
    assert RateLimitCounter.objects.get().count == total
