"""The preview shows, day by day over its horizon, where the cap will halt the policy's runs."""

import html
import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from governance.runs.models import RunStatus
from policies.models import PolicyMode
from policies.selectors.preview import policy_preview
from policies.services.runs import policy_run
from tests.policies.conftest import RUN_AT

pytestmark = pytest.mark.django_db


def _page(client, policy) -> str:
    with time_machine.travel(RUN_AT, tick=False):
        content = client.get(reverse("admin:policies_inactivitypolicy_preview", args=[policy.pk])).content.decode()
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", content)).split())


def test_a_pilot_under_the_default_cap_is_shown_halting_on_the_day_its_warnings_fall_due(
    make_policy, client_for, alice
):
    policy = make_policy(mode=PolicyMode.ENFORCE, warning_days=[14], cap_absolute=50, cap_percent=5.0)
    preview = policy_preview(policy, RUN_AT)
    halt = preview.horizon_halt
    assert preview.today_counts["act"] == 0
    assert preview.today_counts["warn"] > 0
    assert halt is not None
    assert halt.day == 14
    assert halt.due == sum(1 for row in preview.rows if row.act_on == RUN_AT + timedelta(days=14))
    assert halt.cap == preview.cap < halt.due
    page = _page(client_for(alice), policy)
    on = f"{RUN_AT + timedelta(days=14):%Y-%m-%d}"
    assert f"Day 14 ({on}): {halt.due} actions due, cap {halt.cap} — the run halts here." in page
    assert f"day 14 {on} {halt.due} {halt.cap} halts here" in page
    # Not "would not halt" while listing actions: a run now halts before sending those warnings.
    assert "A run today would not halt" not in page
    assert f"A run today would halt before warning anyone: its warnings would promise {halt.due} accounts" in page


def test_the_preview_s_halt_is_the_one_a_run_now_meets(make_policy):
    policy = make_policy(mode=PolicyMode.ENFORCE, warning_days=[14], cap_absolute=3)
    halt = policy_preview(policy, RUN_AT).run_halt
    result = policy_run(policy=policy, now=RUN_AT)
    assert result.status == RunStatus.HALTED
    assert (result.counts["halt_day"], result.counts["due_on_halt_day"]) == (halt.day, halt.due)


def test_a_policy_within_its_cap_lists_its_days_and_says_no_run_halts(make_policy, client_for, alice):
    policy = make_policy(mode=PolicyMode.ENFORCE, warning_days=[14])
    preview = policy_preview(policy, RUN_AT)
    assert preview.cap_days
    assert preview.horizon_halt is None
    assert preview.run_halt is None
    page = _page(client_for(alice), policy)
    assert "No run within 30 days halts on its cap." in page
    assert "A run today would not halt: 0 accounts are due, and the actions its warnings lead to stay within" in page
    assert "halts here" not in page


def test_in_preview_mode_it_says_what_would_happen_once_enforced(make_policy, client_for, alice):
    policy = make_policy(mode=PolicyMode.PREVIEW, cap_absolute=2)
    page = _page(client_for(alice), policy)
    assert "Once enforced, a run today would halt before acting" in page
    assert "Today: " in page
    assert "the run halts here." in page
