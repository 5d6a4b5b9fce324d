"""Settings of one simulator instance (sizes, identity, credentials, faults)."""

from dataclasses import dataclass
from datetime import datetime

from governance.atlassian.groupids import ARI, FORMS


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes a simulated organization and the server in front of it.

    ``users`` counts the people in the organization's directories; app and customer accounts come
    on top (about 1% and 3% of ``users``) and exist in Jira only, and so do managed accounts in no
    directory (about 1%, at least one), which the v2 search and ``users/count`` over ``-`` include.
    ``now`` fixes the simulator's clock (activity is generated relative to it and the clock stays
    frozen until ``state.advance_time``); ``None`` means real time.

    ``group_id_form`` is how the Admin API's group search, group details and group paths spell a
    group id: ``ari`` (``ari:cloud:identity::group/<uuid>``) or ``uuid`` (the bare id, as in the
    documents' examples). A user's ``groups`` expansion gives the ARI either way and Jira the bare
    id; an id in another form than the endpoint's names no group (404).
    """

    users: int = 200
    groups: int = 30
    seed: int = 1
    org_id: str = "demo-org"
    api_key: str = "demo-key"
    jira_email: str = "admin@example.com"
    host: str = "127.0.0.1"
    port: int = 0
    now: datetime | None = None
    org_name: str | None = None
    group_id_form: str = ARI
    # A second Jira site (a sandbox): Jira Software under the same product key on another cloud id,
    # a few people with access. Off by default: the portal's product-scoped plans name products by
    # key, which such a world makes ambiguous.
    sandbox_site: bool = False
    # The org API key has expired: the Admin and User management APIs answer 401 (Jira's token works).
    api_key_expired: bool = False
    # v2 writes (suspend, restore, remove, memberships, group roles) refuse the directory "-", which
    # the documents offer to reads only ("increase the operation scope to all directories"); writes
    # are to name a directory id from the directories endpoint. On by default: the portal must
    # never send "-" on a write (DESIGN.md 5.12); turn it off only to model a lenient tenant.
    writes_need_directory: bool = True
    # Random faults (0 = off).
    error_rate: float = 0.0
    latency_ms: int = 0
    rate_limit_per_minute: int = 0
    malformed_rate: float = 0.0
    drop_rate: float = 0.0
    # Paged answers whose links.next goes back to the same page, or jumps over the next one.
    cursor_repeat_rate: float = 0.0
    cursor_skip_rate: float = 0.0
    # Documented per-endpoint limit: last-active-dates, per organization.
    last_active_limit_per_minute: int = 200
    # Page size of the v1 managed-accounts list (Atlassian does not document one).
    v1_page_size: int = 100
    # Deletion grace period of the user management API, in days.
    deletion_grace_days: int = 14

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError("users must be at least 1")
        if self.groups < 1:
            raise ValueError("groups must be at least 1")
        for name in ("error_rate", "malformed_rate", "drop_rate", "cursor_repeat_rate", "cursor_skip_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.latency_ms < 0 or self.rate_limit_per_minute < 0:
            raise ValueError("latency_ms and rate_limit_per_minute must not be negative")
        if self.group_id_form not in FORMS:
            raise ValueError(f"group_id_form must be one of {', '.join(FORMS)}")
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
