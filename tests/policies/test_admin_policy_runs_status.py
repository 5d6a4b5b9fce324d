"""The policy list and page say when each policy last ran, how that ended, and when it runs next."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django_q.models import Schedule

from governance.runs.models import RunStatus
from policies.models import PolicyMode
from policies.schedules import apply_policy_schedule
from policies.services.runs import policy_run
from tests.policies.conftest import RUN_AT

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:policies_inactivitypolicy_changelist")


def _text(content: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", content)).split())


def _row(response, name: str) -> str:
    """The text of the list's row for the policy called ``name``."""
    rows = re.findall(r"<tr[^>]*>.*?</tr>", response.content.decode(), re.S)
    (row,) = [r for r in rows if f">{name}</a>" in r]
    return _text(row)


def test_the_list_shows_each_policy_s_last_run_its_outcome_and_the_next_run(make_policy, client_for, audrey):
    halted = make_policy(name="Capped", cap_absolute=2, schedule_cron="30 6 * * *")
    policy_run(policy=halted, now=RUN_AT - timedelta(days=1), dry_run=True)
    last = policy_run(policy=halted, now=RUN_AT).run  # the latest: halted on its cap
    never = make_policy(name="Fresh", mode=PolicyMode.PREVIEW, enabled=False)
    with time_machine.travel(RUN_AT, tick=False):
        apply_policy_schedule(halted.pk)
        scheduled = Schedule.objects.get(name=f"portal:policy-{halted.pk}").next_run
        response = client_for(audrey).get(LIST_URL)
    capped = _row(response, "Capped")
    assert f"{last.started_at:%Y-%m-%d %H:%M} halted by a safety limit" in capped
    assert "dry run" not in capped
    assert f"{scheduled:%Y-%m-%d %H:%M}" in capped
    assert scheduled > RUN_AT
    assert reverse("admin:policies_policyrun_change", args=[last.pk]) in response.content.decode()
    fresh = _row(response, never.name)
    assert "never" in fresh
    assert "disabled: the schedule does not run it" in fresh


def test_a_dry_run_is_marked_as_the_last_run(make_policy, client_for, alice):
    policy = make_policy()
    assert policy_run(policy=policy, now=RUN_AT, dry_run=True).status == RunStatus.SUCCEEDED
    assert "dry run" in _row(client_for(alice).get(LIST_URL), policy.name)


def test_without_a_schedule_yet_the_next_run_comes_from_the_cron(make_policy, client_for, alice):
    policy = make_policy(schedule_cron="0 5 * * *")
    at = datetime(2031, 5, 4, 7, 0, tzinfo=UTC)
    with time_machine.travel(at, tick=False):
        response = client_for(alice).get(LIST_URL)
    assert "2031-05-05 05:00 (by its cron; schedule not set up)" in _row(response, policy.name)


def test_the_policy_page_shows_the_last_and_next_run(make_policy, client_for, alice):
    policy = make_policy(schedule_cron="0 5 * * *")
    run = policy_run(policy=policy, now=RUN_AT).run
    page = client_for(alice).get(reverse("admin:policies_inactivitypolicy_change", args=[policy.pk]))
    status = _text(page.content.decode()).split("Last run:", 1)[1].split("Run history", 1)[0]
    assert f"{run.started_at:%Y-%m-%d %H:%M} succeeded" in status
    assert "Next run:" in status
    assert "by its cron" in status


def test_the_list_costs_the_same_queries_for_one_policy_or_many(
    make_policy, client_for, alice, django_assert_max_num_queries
):
    client = client_for(alice)
    first = make_policy(name="P0")
    policy_run(policy=first, now=RUN_AT)
    client.get(LIST_URL)
    with django_assert_max_num_queries(12) as one:
        client.get(LIST_URL)
    for n in range(1, 6):
        policy_run(policy=make_policy(name=f"P{n}"), now=RUN_AT, dry_run=True)
    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get(LIST_URL)
