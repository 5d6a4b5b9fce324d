"""A paginator that never counts a whole large table."""

from functools import cached_property

from django.core.paginator import Paginator
from django.db.models import QuerySet


class CappedCount(int):
    """A count that may have been cut off: prints as "10,000+" when it was."""

    capped: bool = False

    def __new__(cls, value: int, *, capped: bool = False):
        count = super().__new__(cls, value)
        count.capped = capped
        return count

    def __str__(self) -> str:
        return f"{int(self):,}+" if self.capped else f"{int(self):,}"


class CappedCountPaginator(Paginator):
    """Counts at most ``cap`` rows (``SELECT COUNT(*) FROM (... LIMIT cap + 1)``).

    The admin shows "10,000+ accounts" and page links up to the cap instead of running a full
    ``COUNT(*)`` over a filtered 100,000-row table on every page load (DJANGO-NOTES 3). Narrow
    the filters to reach rows past the cap.
    """

    cap = 10_000

    @cached_property
    def count(self) -> CappedCount:
        if not isinstance(self.object_list, QuerySet):
            return CappedCount(len(self.object_list))
        # No ORDER BY: the count is the same, and the database may stop after cap + 1 rows.
        counted = self.object_list.order_by()[: self.cap + 1].count()
        if counted > self.cap:
            return CappedCount(self.cap, capped=True)
        return CappedCount(counted)
