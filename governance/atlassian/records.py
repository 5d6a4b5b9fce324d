"""Typed, immutable records the client returns, independent of JSON casing.

The client maps each API family's JSON (camelCase v2, snake_case v1, Jira beans) onto these,
so the sync and services never see raw dictionaries. Timestamps are timezone-aware UTC
datetimes; a value Atlassian did not send is None, never a guessed default.
"""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ProductActivity:
    """One product (site) a user can use, with the last time they used it (None = never)."""

    key: str  # product key as sent, e.g. "jira-software", "confluence"
    resource_id: str  # product instance ARI, e.g. "ari:cloud:confluence::site/<cloudId>"
    last_active: datetime | None


@dataclass(frozen=True, slots=True)
class GroupRef:
    """A group a user belongs to. ``id`` is canonical (the bare UUID, see ``groupids``);
    ``id_form`` says how Atlassian spelt it (``ari`` or ``uuid``)."""

    id: str
    name: str
    id_form: str = "uuid"


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """A user from the v2 search (``POST /admin/v2/orgs/{orgId}/directories/-/users/search``)."""

    account_id: str
    account_type: str  # "atlassian" (v2 only knows this one); "app"/"customer" come from v1/Jira
    status: str  # active | suspended | not_invited | deactivated | for_deletion
    account_status: str | None  # active | inactive | closed
    membership_status: str | None  # active | suspended | no_membership
    name: str
    email: str | None
    claim_status: str | None  # managed | unmanaged
    added_to_org: datetime | None
    platform_roles: tuple[str, ...] = ()
    management_source: str | None = None  # invited | synced
    product_access: tuple[ProductActivity, ...] = ()
    groups: tuple[GroupRef, ...] = ()

    @property
    def is_org_admin(self) -> bool:
        return "atlassian/org-admin" in self.platform_roles


@dataclass(frozen=True, slots=True)
class DirectoryGroup:
    """A group from the v2 group search. ``id`` is canonical (the bare UUID, see ``groupids``);
    ``id_form`` says how the search spelt it, which is how its paths want it."""

    id: str
    name: str
    description: str
    directory_id: str | None
    external_synced: bool  # synced from an identity provider: membership not editable here
    managed_by: str | None  # external | admins | team-members | open
    modifiable: bool | None
    user_count: int | None
    id_form: str = "uuid"


@dataclass(frozen=True, slots=True)
class GroupRoleAssignment:
    """A product role a group grants (``GET .../groups/{groupId}/role-assignments``)."""

    resource_id: str  # product instance ARI
    resource_owner: str  # product key, e.g. "jira-software"
    roles: tuple[str, ...]  # e.g. ("atlassian/user",)
    default_role: str | None = None


@dataclass(frozen=True, slots=True)
class UserRoleAssignment:
    """A product role held by a user (``GET .../users/{accountId}/role-assignments``)."""

    resource_id: str
    resource_owner: str
    roles: tuple[str, ...]
    methods: tuple[str, ...]  # inferred | direct | group_direct
    # The roles given to the user directly (method ``direct``): what ``roles/revoke`` can take.
    direct_roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LastActiveDates:
    """The v1 per-user activity record (``GET .../directory/users/{id}/last-active-dates``)."""

    account_id: str
    added_to_org: datetime | None
    product_access: tuple[ProductActivity, ...]


@dataclass(frozen=True, slots=True)
class ApplicationRole:
    """A Jira application role (licence): seats and the groups that grant it."""

    key: str
    name: str
    group_ids: tuple[str, ...]
    group_names: tuple[str, ...]
    default_group_names: tuple[str, ...]
    number_of_seats: int | None
    remaining_seats: int | None
    user_count: int | None
    unlimited: bool
    platform: bool


@dataclass(frozen=True, slots=True)
class JiraUser:
    account_id: str
    account_type: str  # atlassian | app | customer | unknown
    active: bool
    display_name: str
    email: str | None


@dataclass(slots=True)
class CallStats:
    """Counters a client keeps, for run records and benchmarks."""

    requests: int = 0
    retries: int = 0
    waited_seconds: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)

    def add(self, other: "CallStats") -> None:
        """Count ``other``'s calls in these (a forked client's, when its thread is done)."""
        self.requests += other.requests
        self.retries += other.retries
        self.waited_seconds += other.waited_seconds
        for status, n in other.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + n
