from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from governance.runs.models import RunStatus
from governance.runs.services import task_run_finish, task_run_start


def _heartbeat(age_seconds):
    return mock.patch(
        "governance.health.cluster_heartbeat", return_value=timezone.now() - timedelta(seconds=age_seconds)
    )


@pytest.mark.django_db
class TestHealthz:
    def test_healthy_with_a_live_cluster_and_no_sync_yet(self, client):
        with _heartbeat(5):
            response = client.get("/healthz")
        assert response.status_code == 200
        body = response.json()
        assert body["database"] == "ok"
        assert body["last_sync_age_seconds"] is None
        assert body["cluster_heartbeat_age_seconds"] < 60

    def test_unhealthy_without_a_cluster(self, client):
        with mock.patch("governance.health.cluster_heartbeat", return_value=None):
            response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["checks"]["cluster"] is False

    def test_unhealthy_when_the_last_sync_is_stale(self, client, settings):
        settings.POLICY_MAX_SYNC_AGE = 26
        run = task_run_start(name="sync", now=timezone.now() - timedelta(hours=30))
        task_run_finish(run=run, status=RunStatus.SUCCEEDED, now=timezone.now() - timedelta(hours=30))
        with _heartbeat(5):
            response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["last_sync_age_seconds"] == pytest.approx(30 * 3600, abs=5)

    def test_a_fresh_sync_is_reported_with_its_age(self, client):
        run = task_run_start(name="sync")
        task_run_finish(run=run, status=RunStatus.SUCCEEDED)
        with _heartbeat(5):
            body = client.get("/healthz").json()
        assert 0 <= body["last_sync_age_seconds"] < 60

    def test_it_reads_the_heartbeat_django_q_writes_to_the_shared_cache(self):
        from django_q.status import Stat

        from governance.health import cluster_heartbeat

        fake = mock.Mock(timestamp=timezone.now())
        with mock.patch.object(Stat, "get_all", return_value=[fake]):
            assert cluster_heartbeat() == fake.timestamp
