"""Compact list cells (governance.admin_tools.cells): cut to the column, whole on hover, escaped."""

from datetime import UTC, datetime

import pytest

from governance.admin_tools.cells import clipped, compact_time


def test_a_clipped_value_keeps_the_whole_of_it_in_the_title():
    assert clipped("aisha.nakamura@sim-org.example.com", width="l") == (
        '<span class="clip clip-l" title="aisha.nakamura@sim-org.example.com">aisha.nakamura@sim-org.example.com</span>'
    )


def test_a_value_from_atlassian_cannot_inject_markup():
    cell = clipped('<img src=x onerror="alert(1)">')
    assert "<img" not in cell
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in cell


def test_an_unknown_width_is_a_programming_error():
    with pytest.raises(ValueError, match="width must be one of"):
        clipped("x", width="xl")


def test_a_time_is_one_sortable_line_with_the_full_timestamp_on_hover(settings):
    settings.TIME_ZONE = "UTC"
    cell = compact_time(datetime(2026, 5, 30, 3, 25, 41, tzinfo=UTC))
    assert cell == '<span title="2026-05-30T03:25:41+00:00">2026-05-30 03:25</span>'
    assert compact_time(None) == "-"


@pytest.mark.django_db
def test_the_run_history_shows_durations_and_counts_in_words(client_for, alice):
    from datetime import timedelta

    from django.utils import timezone

    from governance.runs.models import RunStatus, TaskRun

    started = timezone.now() - timedelta(minutes=5)
    run = TaskRun.objects.create(
        name="sync",
        started_at=started,
        finished_at=started + timedelta(seconds=185),
        status=RunStatus.SUCCEEDED,
        counts={"users": 2020, "memberships": 6576},
    )
    admin = client_for(alice)
    listing = admin.get("/admin/governance/taskrun/").content.decode()
    assert "3 min 5 s" in listing
    assert "users 2020, memberships 6576" in listing
    page = admin.get(f"/admin/governance/taskrun/{run.pk}/change/").content.decode()
    assert "users 2020, memberships 6576" in page
    assert "{&quot;users&quot;" not in page
    assert "0:03:05" not in page
