"""A property-based run over the served OpenAPI schema (schemathesis): generated requests for every
operation, as an auditor and as a portal admin, must never get a 5xx, and documented answers must
match their schemas.

The requests go through Django's WSGI application in this process and this test's transaction;
the admin's writes reach only the Atlassian simulator (a sandbox served on loopback).
"""

from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from werkzeug.test import Client

from accounts.models import Organization
from governance.audit.record import Actor
from governance.runs.services import task_run_start
from policies.models import AccessRequest, Enforcement, EnforcementStatus, Exemption, PolicyMode
from policies.services.runs import policy_run
from tests.api.conftest import issue_token

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

EXAMPLES_PER_OPERATION = 10
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture(autouse=True)
def _hypothesis_files_in_tmp(tmp_path):
    """Hypothesis caches what it learns in ./.hypothesis unless told otherwise: keep the tree clean."""
    set_hypothesis_home_dir(tmp_path / "hypothesis")
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture
def wsgi_app():
    """Django's WSGI application, kept inside the test's transaction: like django.test.Client, stop
    the per-request "close old connections" that would end it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def sandbox(make_policy, mirrored, alice):
    """A mirror synced from the simulator with a review-mode policy that has queued decisions, an
    exemption, an access request and a bulk run: rows for the generated requests to find."""
    Organization.objects.filter(pk=mirrored.pk).update(last_complete_sync_at=timezone.now())
    policy = make_policy(mode=PolicyMode.REVIEW)
    policy_run(policy=policy, actor=Actor.for_user(alice))
    enforcement = Enforcement.objects.filter(status=EnforcementStatus.AWAITING_REVIEW).first()
    AccessRequest.objects.create(account=enforcement.account, enforcement=enforcement, email="x@example.com")
    Exemption.objects.create(organization=mirrored, email_pattern="*@board.example", reason="board")
    task_run_start(name="bulk_action")
    return mirrored


def _run_everything(app, user) -> Counter:
    headers = {"Authorization": f"Token {issue_token(user, name='schemathesis')}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app, headers=headers)
    calls: Counter = Counter()
    client = Client(app)  # not Django's test client: it reconnects the signal the fixture took off
    for result in schema.get_all_operations():
        operation = result.ok()
        existing = _an_existing_id(client, operation.path, headers)
        # Valid requests, then invalid ones (wrong types, missing fields, out-of-range values).
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies = [operation.as_strategy(mode)]
            if existing is not None:  # again on a real row, so the writes reach their service
                strategies.append(operation.as_strategy(mode, path_parameters={"id": existing}))
            for strategy in strategies:
                try:
                    _exercise(strategy, operation.label, headers, calls)()
                except Unsatisfiable:  # nothing left to get wrong (a GET with a fixed id)
                    assert mode == GenerationMode.NEGATIVE
    return calls


def _an_existing_id(client, path: str, headers: dict) -> int | None:
    """The id of the first row of the collection above ``path`` (``/api/policies/{id}/run/``)."""
    if "{id}" not in path:
        return None
    response = client.get(path.split("{id}")[0], query_string={"page_size": 1}, headers=headers)
    if response.status_code != 200 or not response.json.get("results"):
        return None
    return response.json["results"][0]["id"]


def _exercise(strategy, label: str, headers: dict, calls: Counter):
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exercise(case):
        response = case.call(headers=headers)
        calls[(label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    return exercise


def test_no_generated_request_gets_a_server_error(wsgi_app, sandbox, simulator, audrey, alice, capsys):
    totals = {}
    for user in (audrey, alice):
        calls = _run_everything(wsgi_app, user)
        totals[user.username] = calls
        statuses = Counter()
        for (_label, status), n in calls.items():
            statuses[status] += n
        assert not any(status >= 500 for status in statuses), statuses
        with capsys.disabled():
            print(f"\nschemathesis as {user.username}: {sum(calls.values())} requests, by status {dict(statuses)}")
    audrey_writes = {k: v for k, v in totals["audrey"].items() if k[0].startswith("POST")}
    assert audrey_writes
    assert {status for _label, status in audrey_writes} <= {400, 403, 404}
    alice_writes = {status for (label, status) in totals["alice"] if label.startswith("POST")}
    assert 200 in alice_writes  # the admin's writes really ran (against the simulator)
