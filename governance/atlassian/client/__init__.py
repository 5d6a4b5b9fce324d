"""The Atlassian HTTP client: typed endpoints over a retrying, rate-limit-aware session.

``AtlassianClient`` is the entry point; the other names are exported for tests, the simulator and
callers that need the pieces (the pagination helpers, the retry arithmetic).
"""

from governance.atlassian.errors import AtlassianError, MalformedResponse

from .client import AtlassianClient, is_already_member_conflict
from .paging import cursor_pages, next_link_pages, start_at_array_pages, start_at_bean_pages
from .transport import RetryPolicy, pacing_delay, retry_after_seconds, retry_delay, seconds_until_reset

__all__ = [
    "AtlassianClient",
    "AtlassianError",
    "MalformedResponse",
    "RetryPolicy",
    "cursor_pages",
    "is_already_member_conflict",
    "next_link_pages",
    "pacing_delay",
    "retry_after_seconds",
    "retry_delay",
    "seconds_until_reset",
    "start_at_array_pages",
    "start_at_bean_pages",
]
