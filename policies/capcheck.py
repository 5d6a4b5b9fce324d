"""Where a policy's safety cap stops its runs, day by day. Pure: standard library only, ``now`` in.

A run that would act on more accounts than its cap halts before acting (DESIGN.md 5.4). A halted
run acts on nobody, so what was due stays due and the next day's run finds even more: from the
first halt on, every run halts until the cap is raised or the policy changed. Warnings promise a
date, so a run must not send one whose action the cap will stop on that date: the run checks the
days its warnings lead to (``first_halt`` of the run's own decisions), the preview the days of
its whole horizon.
"""

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

DAY = timedelta(days=1)


def cap_for(cap_absolute: int, cap_percent: float, scope_size: int) -> int:
    """The most accounts one run may act on: the smaller of the absolute and the percentage cap."""
    return min(cap_absolute, math.floor(cap_percent / 100 * scope_size))


def day_of(due_at: datetime, now: datetime) -> int:
    """The run (days from ``now``, one run a day at this time) that acts on an action due at
    ``due_at``: the first whose moment is not before it."""
    return max(0, math.ceil((due_at - now) / DAY))


@dataclass(frozen=True, slots=True)
class CapDay:
    day: int  # days from now; 0 is a run now
    due: int  # accounts that run would act on
    cap: int  # that run's cap
    scope: int  # accounts in scope that day (the percentage cap counts against it)

    @property
    def halts(self) -> bool:
        return self.due > self.cap


def cap_days(
    due_by_day: Mapping[int, int],
    *,
    scope_size: int,
    cap_absolute: int,
    cap_percent: float,
    leaves_scope: bool = True,
) -> list[CapDay]:
    """The runs that have accounts to act on, in day order, up to and including the first that
    halts (every later run halts too). ``leaves_scope``: an account acted on leaves the policy's
    scope (suspended, deactivated ...), so a percentage cap shrinks after each run that acts."""
    days = []
    scope = scope_size
    for day in sorted(d for d, n in due_by_day.items() if n > 0):
        row = CapDay(day=day, due=due_by_day[day], cap=cap_for(cap_absolute, cap_percent, scope), scope=scope)
        days.append(row)
        if row.halts:
            break
        if leaves_scope:
            scope = max(0, scope - row.due)
    return days


def first_halt(days: Iterable[CapDay]) -> CapDay | None:
    return next((d for d in days if d.halts), None)


def due_by_day(act_today: int, warned_due_ats: Iterable[datetime], now: datetime) -> Counter:
    """Accounts due per run: ``act_today`` now, and each warned account on the day its action is due."""
    counts = Counter({0: act_today}) if act_today else Counter()
    counts.update(day_of(due_at, now) for due_at in warned_due_ats)
    return counts
