"""Mutable simulator state: the dataset, a clock, and the write rules every API shares.

All public methods take ``self.lock`` (re-entrant), so the HTTP handlers and the tests can call
them from any thread. Derived facts (status, product access, seat usage) are computed from the
stored flags on demand, so a write through one API is visible through all the others.
"""

import threading
import time
from array import array
from datetime import UTC, datetime, timedelta

from governance.atlassian.groupids import ARI, GROUP_ARI_PREFIX, UUID, canonical_group_id, group_id_form

from .config import SimulatorConfig
from .dataset import DAY, PRODUCT_BY_KEY, PRODUCTS, SITE_ADMINS, Account, Dataset, Group
from .snapshots import SnapshotMixin

ORG_ADMIN = "atlassian/org-admin"
SITE_ADMIN = "atlassian/site-admin"
PRODUCT_ROLES = frozenset(
    {
        "atlassian/user",
        "atlassian/user-access-admin",
        "atlassian/admin",
        "atlassian/guest",
        "atlassian/contributor",
        "atlassian/customer",
        "atlassian/basic",
        "atlassian/stakeholder",
        "atlassian/site-admin",
    }
)
BILLABLE_ROLES = frozenset({"atlassian/user", "atlassian/admin"})


class StateError(Exception):
    """A write or lookup the rules refuse. ``kind`` is mapped to a status and body by each API family."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class SimulatorState(SnapshotMixin):
    def __init__(self, config: SimulatorConfig):
        self.config = config
        self.lock = threading.RLock()
        self._frozen = config.now.timestamp() if config.now is not None else None
        self._offset = 0.0
        started = time.perf_counter()
        self.data = Dataset(
            users=config.users,
            groups=config.groups,
            seed=config.seed,
            org_id=config.org_id,
            org_name=config.org_name,
            now=self.now_epoch(),
            sandbox_site=config.sandbox_site,
        )
        self.generation_seconds = time.perf_counter() - started
        self.version = 0
        self._usage_cache: tuple[int, list[int | None]] = (-1, [])
        self._pending_deletions: dict[int, float] = {}

    # -- clock -----------------------------------------------------------------------------------
    def now_epoch(self) -> float:
        base = self._frozen if self._frozen is not None else time.time()
        return base + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_epoch(), tz=UTC)

    def advance_time(self, delta: timedelta) -> None:
        """Move the simulator's clock forward (deletion grace periods expire lazily)."""
        with self.lock:
            self._offset += delta.total_seconds()
            self.expire_deletions()

    @property
    def dataset(self) -> Dataset:
        return self.data

    # -- identity --------------------------------------------------------------------------------
    @property
    def org_id(self) -> str:
        return self.data.org_id

    @property
    def cloud_id(self) -> str:
        return self.data.cloud_id

    @property
    def directory_ids(self) -> list[str]:
        return [d for d, _name in self.data.directories]

    def directory_scope(self, directory_id: str) -> int | None:
        """-1 for ``-`` (all directories), the directory index, or None when unknown."""
        if directory_id == "-":
            return -1
        for i, (did, _name) in enumerate(self.data.directories):
            if did == directory_id:
                return i
        return None

    # -- lookups ---------------------------------------------------------------------------------
    def account(self, account_id: str) -> Account | None:
        idx = self.data.by_account_id.get(account_id)
        if idx is None:
            return None
        a = self.data.accounts[idx]
        return None if a.gone else a

    def directory_user(self, account_id: str, scope: int = -1) -> Account | None:
        """A member of the org's directories (v2 view), optionally of one directory."""
        a = self.account(account_id)
        if a is None or a.kind != "atlassian" or not a.in_directory:
            return None
        if scope >= 0 and a.directory != scope:
            return None
        return a

    def group_by_id(self, group_id: str, scope: int = -1, *, form: str | None = None) -> Group | None:
        """The group named by ``group_id`` in ``form`` (``ari`` or ``uuid``): an id in the other form
        names no group, as an API that knows only one spelling would answer. ``None`` takes either
        (setup helpers and snapshots)."""
        if form is not None and group_id_form(group_id) != form:
            return None
        idx = self.data.group_by_uuid.get(canonical_group_id(group_id))
        if idx is None:
            return None
        g = self.data.groups[idx]
        if g.gone or (scope >= 0 and g.directory != scope):
            return None
        return g

    @property
    def group_id_form(self) -> str:
        """How the Admin API's group search, details and paths spell a group id (``ari`` or ``uuid``)."""
        return self.config.group_id_form

    def admin_group_by_id(self, group_id: str, scope: int = -1) -> Group | None:
        """A group named as the Admin API's group endpoints name it (the configured form only)."""
        return self.group_by_id(group_id, scope, form=self.config.group_id_form)

    def jira_group_by_id(self, group_id: str) -> Group | None:
        """A group named as Jira names it: the bare id only."""
        return self.group_by_id(group_id, form=UUID)

    def group_api_id(self, g: Group) -> str:
        """The id of the Admin API's group search and details (a user's ``groups`` always give the ARI)."""
        return self.group_ari(g) if self.config.group_id_form == ARI else g.uuid

    def group_by_name(self, name: str) -> Group | None:
        lowered = name.lower()
        return next((g for g in self.data.groups if not g.gone and g.name.lower() == lowered), None)

    @staticmethod
    def group_ari(g: Group) -> str:
        return GROUP_ARI_PREFIX + g.uuid

    # -- derived facts ---------------------------------------------------------------------------
    @staticmethod
    def status(a: Account) -> str:
        if a.deletion_at is not None:
            return "for_deletion"
        if a.deactivated_on is not None:
            return "deactivated"
        if not a.in_directory:
            return "not_invited"
        return "suspended" if a.suspended else "active"

    @staticmethod
    def account_status(a: Account) -> str:
        return "inactive" if a.deletion_at is not None or a.deactivated_on is not None else "active"

    @staticmethod
    def membership_status(a: Account) -> str:
        if not a.in_directory:
            return "no_membership"
        return "suspended" if a.suspended else "active"

    @staticmethod
    def management_source(a: Account) -> str | None:
        """v2 ``managementSource``: ``synced`` for managed accounts the identity provider (the second
        directory) provisions, ``invited`` for other managed directory members, else none."""
        if not a.managed or a.directory is None:
            return None
        return "synced" if a.directory == 1 else "invited"

    def in_default_scope(self, a: Account) -> bool:
        """Whether the v2 listing over ``-`` shows the account: every directory member, and managed
        accounts outside any directory (ORG26, ``users/count``: "including managed accounts that
        aren't in a directory")."""
        return a.kind == "atlassian" and not a.gone and (a.in_directory or a.managed)

    def delete_refusals(self, a: Account) -> list[dict[str, str]]:
        """Why a lifecycle delete is refused (409 ``conflict.lifecycleErrors``); empty when allowed.

        The document gives the shape, not the codes: these are the simulator's (UNCONFIRMED).
        """
        refusals = []
        if a.org_admin and a.in_directory:
            refusals.append(
                {"code": "ORG_ADMIN", "message": "The account is an organization admin: revoke the admin role first"}
            )
        if a.delete_refusal is not None:
            code, message = a.delete_refusal
            refusals.append({"code": code, "message": message})
        return refusals

    def counts_for_seats(self, a: Account) -> bool:
        return a.in_directory and not a.suspended and a.deactivated_on is None and a.deletion_at is None

    def roles_of(self, a: Account) -> dict[int, dict[str, set[str]]]:
        """product index -> role -> assignment methods (group_direct / direct)."""
        out: dict[int, dict[str, set[str]]] = {}
        if not a.in_directory:
            return out
        groups = self.data.groups
        for g in a.groups:
            for p, role in groups[g].roles:
                out.setdefault(p, {}).setdefault(role, set()).add("group_direct")
        for p, role in self.data.direct_roles.get(a.idx, ()):
            out.setdefault(p, {}).setdefault(role, set()).add("direct")
        return out

    def products_of(self, a: Account) -> list[int]:
        return sorted(self.roles_of(a))

    def platform_roles(self, a: Account) -> list[str]:
        roles = [ORG_ADMIN] if a.org_admin and a.in_directory else []
        if any(self.data.groups[g].name == SITE_ADMINS for g in a.groups):
            roles.append(SITE_ADMIN)
        return roles

    def billable(self, a: Account) -> bool:
        if not self.counts_for_seats(a):
            return False
        return any(role in BILLABLE_ROLES for roles in self.roles_of(a).values() for role in roles)

    def seat_usage(self) -> list[int]:
        """Per product: accounts holding it that count against the licence (active, not suspended)."""
        return [self.product_usage(p) for p in range(len(PRODUCTS))]

    def product_usage(self, product: int) -> int:
        version, usage = self._usage_cache
        if version != self.version:
            usage = [None] * len(PRODUCTS)
            self._usage_cache = (self.version, usage)
        count = usage[product]
        if count is None:
            holders: set[int] = set()
            for g in self.data.groups:
                if not g.gone and any(gp == product for gp, _r in g.roles):
                    holders |= g.members
            holders.update(i for i, roles in self.data.direct_roles.items() if any(rp == product for rp, _r in roles))
            accounts = self.data.accounts
            count = usage[product] = sum(1 for i in holders if self.counts_for_seats(accounts[i]))
        return count

    def _touch(self) -> None:
        self.version += 1

    # -- directory writes (Admin v2) -------------------------------------------------------------
    def suspend(self, a: Account) -> None:
        with self.lock:
            a.suspended = True
            self._touch()

    def restore(self, a: Account) -> None:
        with self.lock:
            a.suspended = False
            self._touch()

    def remove_from_directory(self, a: Account) -> None:
        """Loses groups, roles and platform roles; the account itself stays (managed accounts still list in v1)."""
        with self.lock:
            self._drop_memberships(a)
            a.in_directory = False
            a.suspended = False
            a.org_admin = False
            self._touch()

    def _drop_memberships(self, a: Account) -> None:
        for g in a.groups:
            self.data.groups[g].members.discard(a.idx)
        a.groups = array("I")
        self.data.direct_roles.pop(a.idx, None)

    def _check_licence(self, a: Account, products: set[int]) -> None:
        if not products or not self.counts_for_seats(a):
            return
        for p in products - set(self.roles_of(a)):
            if self.product_usage(p) >= self.data.seats[p]:
                raise StateError("licence_limit", f"The user limit for {PRODUCTS[p].name} has been reached")

    def add_member(self, g: Group, a: Account) -> None:
        with self.lock:
            if g.synced:
                raise StateError("synced_group", "This group is synced from an identity provider and can't be changed")
            if a.idx in g.members:
                raise StateError("already_member", "The user is already a member of the group")
            self._check_licence(a, {p for p, _r in g.roles})
            g.members.add(a.idx)
            a.groups.append(g.idx)
            self._touch()

    def remove_member(self, g: Group, a: Account) -> None:
        with self.lock:
            if g.synced:
                raise StateError("synced_group", "This group is synced from an identity provider and can't be changed")
            if a.idx not in g.members:
                raise StateError("not_member", "The user is not a member of the group")
            g.members.discard(a.idx)
            a.groups.remove(g.idx)
            self._touch()

    def assign_role(self, a: Account, role: str, product: int | None) -> None:
        with self.lock:
            if role == ORG_ADMIN:
                a.org_admin = True
            else:
                assert product is not None
                self._check_licence(a, {product})
                self.data.direct_roles.setdefault(a.idx, set()).add((product, role))
            self._touch()

    def revoke_role(self, a: Account, role: str, product: int | None) -> None:
        """Revokes a direct role only: access granted through a group stays (take the user out of the group)."""
        with self.lock:
            if role == ORG_ADMIN:
                a.org_admin = False
            else:
                roles = self.data.direct_roles.get(a.idx)
                if roles is not None:
                    roles.discard((product, role))
                    if not roles:
                        del self.data.direct_roles[a.idx]
            self._touch()

    def group_assign_role(self, g: Group, role: str, product: int) -> None:
        with self.lock:
            if (product, role) not in g.roles:
                g.roles.append((product, role))
            self._touch()

    def group_revoke_role(self, g: Group, role: str, product: int) -> None:
        with self.lock:
            if (product, role) in g.roles:
                g.roles.remove((product, role))
            self._touch()

    # -- account lifecycle (User management API) -------------------------------------------------
    def disable(self, a: Account) -> None:
        with self.lock:
            if a.deactivated_on is None:
                a.deactivated_on = self.now_epoch()
            self._touch()

    def enable(self, a: Account) -> None:
        with self.lock:
            if a.deletion_at is not None:
                raise StateError("pending_deletion", "Cancel the scheduled deletion before enabling the account")
            a.deactivated_on = None
            self._touch()

    def schedule_deletion(self, a: Account) -> float:
        with self.lock:
            if a.deletion_at is None:
                a.deletion_at = self.now_epoch() + self.config.deletion_grace_days * DAY
                if a.deactivated_on is None:
                    a.deactivated_on = self.now_epoch()
                self._pending_deletions[a.idx] = a.deletion_at
            self._touch()
            return a.deletion_at

    def cancel_deletion(self, a: Account) -> None:
        with self.lock:
            a.deletion_at = None
            a.deactivated_on = None
            self._pending_deletions.pop(a.idx, None)
            self._touch()

    def expire_deletions(self) -> None:
        """Deletes for good every account whose grace period has ended."""
        if not self._pending_deletions:
            return
        with self.lock:
            now = self.now_epoch()
            for idx, when in list(self._pending_deletions.items()):
                if when <= now:
                    self._purge(self.data.accounts[idx])

    def _purge(self, a: Account) -> None:
        self._drop_memberships(a)
        a.gone = True
        a.in_directory = False
        self._pending_deletions.pop(a.idx, None)
        self._touch()

    # -- helpers for tests and demos -------------------------------------------------------------
    def remove_user(self, account_id: str) -> None:
        """The account disappears everywhere, as if Atlassian had deleted it."""
        with self.lock:
            a = self.account(account_id)
            if a is None:
                raise KeyError(account_id)
            self._purge(a)

    def set_last_active(self, account_id: str, product_key: str, when: datetime | None) -> None:
        """Record (or clear, with None) when the user last used a product."""
        with self.lock:
            a = self.account(account_id)
            if a is None:
                raise KeyError(account_id)
            values = list(a.last_active)
            values[PRODUCT_BY_KEY[product_key]] = when.timestamp() if when is not None else None
            a.last_active = tuple(values)
            self._touch()

    def refuse_deletion(
        self,
        account_id: str,
        code: str | None = "ENTITLEMENT_OWNER",
        message: str = "The account owns sites or apps with active subscriptions",
    ) -> None:
        """From now on a lifecycle delete of the account answers 409 (``code=None`` lifts it)."""
        with self.lock:
            a = self.account(account_id)
            if a is None:
                raise KeyError(account_id)
            a.delete_refusal = None if code is None else (code, message)
            self._touch()

    def move_to_directory(self, account_id: str, directory: int) -> None:
        """The account now belongs to directory ``directory`` (an index of ``data.directories``), as
        when an identity provider takes a person over; its groups of the old directory are left."""
        with self.lock:
            a = self.account(account_id)
            if a is None:
                raise KeyError(account_id)
            if not 0 <= directory < len(self.data.directories):
                raise ValueError(f"no directory {directory}")
            for g in list(a.groups):
                if self.data.groups[g].directory != directory:
                    self.data.groups[g].members.discard(a.idx)
                    a.groups.remove(g)
            a.directory = directory
            a.in_directory = True
            self._touch()

    def set_seats(self, product_key: str, seats: int) -> None:
        with self.lock:
            self.data.seats[PRODUCT_BY_KEY[product_key]] = seats
            self._touch()
