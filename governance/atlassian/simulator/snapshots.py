"""Read-only snapshots and setup helpers of the state, for tests and demos (mixed into SimulatorState)."""

import uuid
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .dataset import PRODUCT_BY_KEY, PRODUCTS, Account

# The mixin's methods run on the SimulatorState it is mixed into, whose attributes (a class that
# inherits from the mixin) mypy cannot name as the mixin's self type: they are read untyped.
_State = Any


@dataclass(frozen=True)
class UserInfo:
    account_id: str
    account_type: str  # atlassian | app | customer
    name: str
    email: str | None
    status: str  # v2 status; "not_invited" once removed from the directory
    account_status: str
    membership_status: str
    claim_status: str | None  # managed | unmanaged (None for app/customer accounts)
    directory_id: str | None
    in_directory: bool
    org_admin: bool
    platform_roles: tuple[str, ...]
    groups: tuple[str, ...]  # group names
    group_ids: tuple[str, ...]  # group ARIs (as a user's ``groups`` expansion gives them)
    products: tuple[str, ...]  # product keys the user can access now ("jira-software@sandbox": 2nd site)
    last_active: dict[str, datetime | None] = field(hash=False)  # every product's stored last activity
    added_to_org: datetime | None = None
    deactivated_on: datetime | None = None
    deletion_scheduled_for: datetime | None = None


@dataclass(frozen=True)
class GroupInfo:
    id: str  # as the Admin API's group search and paths spell it (SimulatorConfig.group_id_form)
    jira_id: str  # the bare id Jira uses
    name: str
    description: str
    directory_id: str
    external_synced: bool
    managed_by: str
    member_ids: tuple[str, ...]
    roles: tuple[tuple[str, str], ...]  # (product key, role)
    ari: str = ""  # the ARI, as a user's ``groups`` expansion gives it


_DEFAULT = object()  # in_directory not given: directory members only (for atlassian accounts)


def _dt(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch is not None else None


class SnapshotMixin:
    """Needs the attributes and methods of SimulatorState."""

    def user(self: "_State", account_id: str) -> UserInfo | None:
        with self.lock:
            self.expire_deletions()
            a = self.account(account_id)
            return self._user_info(a) if a is not None else None

    def _user_info(self: "_State", a: Account) -> UserInfo:
        groups = [self.data.groups[g] for g in a.groups]
        return UserInfo(
            account_id=a.account_id,
            account_type=a.kind,
            name=a.name,
            email=a.email,
            status=self.status(a),
            account_status=self.account_status(a),
            membership_status=self.membership_status(a),
            claim_status=("managed" if a.managed else "unmanaged") if a.kind == "atlassian" else None,
            directory_id=self.data.directories[a.directory][0] if a.directory is not None else None,
            in_directory=a.in_directory,
            org_admin=a.org_admin,
            platform_roles=tuple(self.platform_roles(a)),
            groups=tuple(g.name for g in groups),
            group_ids=tuple(self.group_ari(g) for g in groups),
            products=tuple(PRODUCTS[p].ref for p in self.products_of(a)),
            last_active={PRODUCTS[p].ref: _dt(t) for p, t in enumerate(a.last_active)},
            added_to_org=_dt(a.added),
            deactivated_on=_dt(a.deactivated_on),
            deletion_scheduled_for=_dt(a.deletion_at),
        )

    def group(self: "_State", name_or_id: str) -> GroupInfo | None:
        with self.lock:
            g = self.group_by_id(name_or_id) or self.group_by_name(name_or_id)
            if g is None:
                return None
            return GroupInfo(
                id=self.group_api_id(g),
                ari=self.group_ari(g),
                jira_id=g.uuid,
                name=g.name,
                description=g.description,
                directory_id=self.data.directories[g.directory][0],
                external_synced=g.synced,
                managed_by=g.managed_by,
                member_ids=tuple(self.data.accounts[i].account_id for i in sorted(g.members)),
                roles=tuple((PRODUCTS[p].ref, role) for p, role in g.roles),
            )

    def group_names(self: "_State") -> list[str]:
        with self.lock:
            return [g.name for g in self.data.groups if not g.gone]

    def account_ids(self: "_State", limit: int | None = None, **criteria) -> list[str]:
        """Account ids matching every criterion, in creation order. Criteria: kind (default atlassian),
        status, claim_status, has_email, org_admin, in_directory (default True for atlassian; None: any),
        in_group / not_in_group (name or id), product (key the user can access), synced_group_member."""
        with self.lock:
            out = []
            for a in self._matching(**criteria):
                out.append(a.account_id)
                if limit is not None and len(out) >= limit:
                    break
            return out

    def find_user(self: "_State", **criteria) -> str | None:
        found = self.account_ids(limit=1, **criteria)
        return found[0] if found else None

    def _matching(
        self: _State,
        kind: str = "atlassian",
        status: str | None = None,
        claim_status: str | None = None,
        has_email: bool | None = None,
        org_admin: bool | None = None,
        in_directory: bool | object | None = _DEFAULT,
        in_group: str | None = None,
        not_in_group: str | None = None,
        product: str | None = None,
        synced_group_member: bool | None = None,
        management_source: str | None = None,
    ) -> Iterator[Account]:
        self.expire_deletions()
        if in_directory is _DEFAULT:
            in_directory = True if kind == "atlassian" else None
        inside = self.group_by_id(in_group) or self.group_by_name(in_group) if in_group else None
        outside = self.group_by_id(not_in_group) or self.group_by_name(not_in_group) if not_in_group else None
        product_idx = PRODUCT_BY_KEY[product] if product else None
        for a in self.data.accounts:
            if a.gone or a.kind != kind:
                continue
            if in_directory is not None and a.in_directory != in_directory:
                continue
            if status is not None and self.status(a) != status:
                continue
            if claim_status is not None and ("managed" if a.managed else "unmanaged") != claim_status:
                continue
            if has_email is not None and (a.email is not None) != has_email:
                continue
            if org_admin is not None and a.org_admin != org_admin:
                continue
            if in_group and (inside is None or a.idx not in inside.members):
                continue
            if outside is not None and a.idx in outside.members:
                continue
            if product_idx is not None and product_idx not in self.roles_of(a):
                continue
            in_synced = synced_group_member is not None and any(self.data.groups[g].synced for g in a.groups)
            if synced_group_member is not None and in_synced != synced_group_member:
                continue
            if management_source is not None and self.management_source(a) != management_source:
                continue
            yield a

    def add_user(
        self: _State,
        name: str,
        email: str | None = None,
        *,
        account_type: str = "atlassian",
        managed: bool = True,
        directory: str | None = "local",
        groups: Iterable[str] = (),
        last_active: dict[str, datetime] | None = None,
        added_to_org: datetime | None = None,
        org_admin: bool = False,
        suspended: bool = False,
    ) -> str:
        """Create an account (as if invited or provisioned) and return its account id.

        ``directory`` is "local", "idp" or None (a managed account in no directory: no groups, no
        access); ``groups`` are names or ids (no licence or sync checks: this is setup, not an API
        write); ``last_active`` maps product keys to datetimes.
        """
        with self.lock:
            data = self.data
            n = len(data.accounts)
            token = uuid.uuid5(uuid.NAMESPACE_URL, f"atlassian-simulator:{data.seed}:added:{n}")
            prefix = {"atlassian": "712020:", "app": "557058:", "customer": "qm:"}[account_type]
            a = data.new_account(prefix + str(token), account_type, name, email)
            data.jira_order.append(a.idx)
            if account_type == "atlassian":
                a.managed = managed
                a.directory = None if directory is None else 1 if directory == "idp" else 0
                a.in_directory = directory is not None
                a.org_admin = org_admin
                a.suspended = suspended
                a.added = added_to_org.timestamp() if added_to_org else self.now_epoch()
                member_of = []
                for ref in groups:
                    g = self.group_by_id(ref) or self.group_by_name(ref)
                    if g is None:
                        raise KeyError(ref)
                    g.members.add(a.idx)
                    member_of.append(g.idx)
                a.groups = array("I", sorted(set(member_of)))
                values: list[float | None] = [None] * len(PRODUCTS)
                for key, when in (last_active or {}).items():
                    values[PRODUCT_BY_KEY[key]] = when.timestamp()
                a.last_active = tuple(values)
            self._touch()
            return a.account_id
