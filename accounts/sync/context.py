from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accounts.models import Organization
from governance.audit.record import Actor
from governance.foreground import Foreground


class SyncDataError(Exception):
    """Atlassian sent something the mirror cannot represent (an unknown status, say)."""


@dataclass
class SyncContext:
    """What one sync run knows while it streams: lookups, counters and deferred destructive changes."""

    organization: Organization
    now: datetime
    correlation_id: str
    actor: Actor
    # The reason on the audit events of what it finds changed (an account refresh says its own).
    seen_reason: str = "seen in Atlassian by the sync"
    # Whether the organization had a complete sync before this one: the first sees everyone as new.
    had_complete_sync: bool = True
    group_pks: dict[str, int] = field(default_factory=dict)  # Atlassian group id -> Group pk
    licence_group_pks: set[int] = field(default_factory=set)
    product_pks: dict[str, int] = field(default_factory=dict)  # resource ARI -> Product pk
    product_keys: dict[int, str] = field(default_factory=dict)
    grants_by_group: dict[int, set[int]] = field(default_factory=dict)  # Group pk -> Product pks
    seen_accounts: set[str] = field(default_factory=set)
    seen_groups: set[str] = field(default_factory=set)
    # Accounts the mirror knew in another status that this sync saw active again (re-invited,
    # or re-activated in the identity provider): the after-sync hooks look only at these.
    reactivated: set[int] = field(default_factory=set)
    # Accounts this sync inserted into the mirror (seen for the first time): onboarding rules
    # look only at these. Their pks come from the lookup the insert needs anyway: no extra query.
    first_seen: set[int] = field(default_factory=set)
    # Account id -> its directory, from one listing per directory (None: not listed, e.g. a
    # single account's read-back, which keeps what the mirror knew).
    account_directories: dict[str, str] | None = None
    # The listing filling account_directories in the background (accounts/sync/directories.py),
    # and the accounts written while their directory there was not final, with the directory
    # the mirror holds for them since: settled at its end.
    directory_listing: Any = None
    unsettled_directories: dict[str, str | None] = field(default_factory=dict)
    # Destructive changes wait for the end of a complete sync and the safety check.
    blanked_accounts: list[int] = field(default_factory=list)
    blanked_access: list[int] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    # What Atlassian sent that the portal does not know (mirrored anyway), for the run's log.
    unknown_statuses: Counter = field(default_factory=Counter)
    unknown_product_keys: set[str] = field(default_factory=set)
    # The thread fetching the user pages runs in it; the batches give way to it between accounts
    # (governance/foreground.py). A read-back's context has no thread in it: never waits.
    foreground: Foreground = field(default_factory=Foreground)

    def log_lines(self) -> list[str]:
        """The run's notes for its record (``TaskRun.log_excerpt``): what was mirrored as unknown."""
        lines = [
            f"Atlassian sent the unknown status {status!r} for {n} account(s): mirrored as Unknown, never acted on."
            for status, n in sorted(self.unknown_statuses.items())
        ]
        if self.unknown_product_keys:
            keys = ", ".join(sorted(self.unknown_product_keys))
            lines.append(f"Products with keys the portal does not know, mirrored under their key: {keys}.")
        return lines

    def audit_fields(self) -> dict:
        return {"organization": self.organization.org_id, "correlation_id": self.correlation_id}
