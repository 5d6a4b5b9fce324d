from datetime import timedelta

import pytest

from governance.runs import locks


@pytest.mark.django_db
class TestRunLocks:
    def test_only_one_holder_at_a_time(self):
        first = locks.acquire("sync:demo", ttl=timedelta(minutes=5))
        assert first
        assert locks.acquire("sync:demo", ttl=timedelta(minutes=5)) is None

    def test_a_released_lease_can_be_taken_again(self):
        holder = locks.acquire("sync:demo", ttl=timedelta(minutes=5))
        locks.release("sync:demo", holder)
        assert locks.acquire("sync:demo", ttl=timedelta(minutes=5))

    def test_an_expired_lease_from_a_crashed_holder_is_taken_over(self):
        assert locks.acquire("sync:demo", ttl=timedelta(seconds=-1))
        assert locks.acquire("sync:demo", ttl=timedelta(minutes=5))

    def test_the_context_manager_refuses_when_held(self):
        with (
            locks.lease("policy:1", ttl=timedelta(minutes=1)),
            pytest.raises(locks.LockHeld),
            locks.lease("policy:1", ttl=timedelta(minutes=1)),
        ):
            pass
        with locks.lease("policy:1", ttl=timedelta(minutes=1)):
            pass
