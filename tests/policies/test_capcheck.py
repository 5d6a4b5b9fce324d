"""Where the cap halts runs, day by day: pure, no database."""

from datetime import UTC, datetime, timedelta

from policies.capcheck import CapDay, cap_days, cap_for, day_of, due_by_day, first_halt

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)


def test_the_default_cap_of_a_twelve_account_pilot_is_zero():
    assert cap_for(50, 5.0, 12) == 0
    assert cap_for(50, 5.0, 2000) == 50
    assert cap_for(50, 5.0, 400) == 20


def test_an_action_is_taken_by_the_first_daily_run_not_before_its_due_moment():
    assert day_of(NOW + timedelta(days=14), NOW) == 14
    assert day_of(NOW + timedelta(days=13, hours=1), NOW) == 14
    assert day_of(NOW - timedelta(hours=3), NOW) == 0


def test_warned_accounts_count_on_the_day_their_action_is_due():
    counts = due_by_day(2, [NOW + timedelta(days=14)] * 3 + [NOW + timedelta(days=3)], NOW)
    assert counts == {0: 2, 3: 1, 14: 3}


def test_the_pilot_halts_on_the_day_its_twelve_warnings_fall_due():
    days = cap_days({14: 12}, scope_size=12, cap_absolute=50, cap_percent=5.0)
    assert days == [CapDay(day=14, due=12, cap=0, scope=12)]
    assert first_halt(days).day == 14


def test_runs_within_the_cap_do_not_halt_and_days_without_actions_are_left_out():
    days = cap_days({0: 0, 2: 5, 9: 5}, scope_size=1000, cap_absolute=50, cap_percent=5.0)
    assert [(d.day, d.due, d.halts) for d in days] == [(2, 5, False), (9, 5, False)]
    assert first_halt(days) is None


def test_a_shrinking_scope_lowers_a_percentage_cap_and_the_list_stops_at_the_first_halt():
    days = cap_days({0: 10, 1: 10, 2: 10, 5: 1}, scope_size=200, cap_absolute=50, cap_percent=5.0)
    # 200 in scope: cap 10; 190 after the first run: cap 9, so the second run halts.
    assert [(d.day, d.cap, d.scope, d.halts) for d in days] == [(0, 10, 200, False), (1, 9, 190, True)]


def test_reminders_leave_everyone_in_scope():
    days = cap_days({0: 10, 1: 10}, scope_size=200, cap_absolute=50, cap_percent=5.0, leaves_scope=False)
    assert [d.halts for d in days] == [False, False]
