"""What taking products away from one account means: pure, no ORM, no HTTP.

A product seat comes from groups whose role assignments grant the product (licence groups) and
from roles given to the account directly. Taking someone out of a group takes away everything the
group grants, not only the product in question: a policy scoped to Jira Software that removed
``site-admins`` would also take Confluence, Jira Service Management and site administration
(DESIGN.md 5.9). So the plan removes a group only when it grants nothing but the products being
taken away, with plain user roles. When a product comes through a group that grants something
else as well, nothing is removed: the account needs a person's decision, and the plan says why in
one sentence. A person may then decide to remove such groups anyway (``remove_shared``), and the
plan records that they did.

:func:`plan_product_removal` is fed what the mirror knows (accounts/removal.py loads it) and is
tested as a unit.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# Roles that make a member an administrator of a product, a site or the organization. A group
# granting one of them is never removed to free a seat: that would take the administration too.
ADMIN_ROLES = frozenset(
    {"atlassian/admin", "atlassian/site-admin", "atlassian/user-access-admin", "atlassian/org-admin"}
)
SITE_ADMIN_ROLE = "atlassian/site-admin"
_PRODUCT_ADMIN_ROLES = ADMIN_ROLES - {SITE_ADMIN_ROLE}
# Atlassian's system group whose members administer the site (and every product on it).
SITE_ADMIN_GROUPS = frozenset({"site-admins"})
# Revoked when the mirror knows a product is granted directly but not by which role: the
# billable product role. The exact role is used whenever the mirror holds it.
DEFAULT_DIRECT_ROLE = "atlassian/user"


@dataclass(frozen=True, slots=True)
class ProductRef:
    resource_id: str  # the product instance ARI: what roles are granted on
    key: str  # e.g. jira-software
    name: str  # e.g. Jira Software


@dataclass(frozen=True, slots=True)
class Grant:
    product: ProductRef
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupGrants:
    """A group the account is in, and what membership in it grants."""

    group_id: str
    name: str
    grants: tuple[Grant, ...] = ()
    external_synced: bool = False  # membership is managed in an identity provider
    site_admin: bool = False  # membership makes the account a site admin


@dataclass(frozen=True, slots=True)
class DirectRoles:
    """Roles on one product given to the account itself, not through a group."""

    resource_id: str
    roles: tuple[str, ...] = ()  # empty: the mirror only knows the access is direct


@dataclass(frozen=True, slots=True)
class SharedGroup:
    """A group that grants a product being taken away and something else besides."""

    group_id: str
    name: str
    carries: tuple[str, ...]  # the products being taken away it grants (names)
    also: tuple[str, ...]  # what else it grants, in words

    def sentence(self) -> str:
        return f"{_words(self.carries)} comes through {self.name}, which also grants {_words(self.also)}"


@dataclass(frozen=True)
class RemovalPlan:
    products: tuple[str, ...]  # keys of the products taken away (for people: two sites share a key)
    resources: tuple[str, ...] = ()  # their instance ARIs: what tells two sites of one product apart
    groups: tuple[str, ...] = ()  # group ids to leave
    roles: tuple[tuple[str, str], ...] = ()  # (role, resource ARI) to revoke
    shared: tuple[SharedGroup, ...] = ()
    synced: tuple[SharedGroup, ...] = ()  # identity-provider groups granting a product taken away
    shared_removed: bool = False  # a person decided to remove the shared groups too

    @property
    def attention(self) -> str:
        """Why a person must decide before anything is removed ('' when nothing stands in the way)."""
        if self.shared_removed or not self.shared:
            return ""
        return "; ".join(group.sentence() for group in self.shared)

    @property
    def blocked(self) -> str:
        """Why this plan frees no seat as it stands: shared groups, or groups only an identity
        provider can change ('' when it frees the seats)."""
        reasons = [self.attention] if self.attention else []
        reasons += [
            f"{_words(g.carries)} comes through {g.name}, which is synced from an identity provider: "
            "change its members there"
            for g in self.synced
        ]
        return "; ".join(reasons)

    @property
    def frees_seats(self) -> bool:
        return not self.blocked and bool(self.groups or self.roles)

    def as_dict(self) -> dict[str, Any]:
        """What an enforcement records as removed, and what a restore gives back."""
        removed = {
            "products": list(self.products),
            "resources": list(self.resources),
            "groups": list(self.groups),
            "roles": [{"role": role, "resource": resource} for role, resource in self.roles],
        }
        if self.shared_removed and self.shared:
            removed["shared_groups"] = [group.name for group in self.shared]
        elif self.attention:
            removed["attention"] = self.attention
        return removed


def plan_product_removal(
    products: Sequence[ProductRef],
    groups: Iterable[GroupGrants],
    direct: Iterable[DirectRoles] = (),
    *,
    remove_shared: bool = False,
) -> RemovalPlan:
    """What taking ``products`` from one account removes.

    ``groups`` are the account's groups with what each grants; ``direct`` its direct roles. A group
    granting only products of ``products``, with plain roles, is removed; a direct role on one of
    them is revoked, by its exact name when known. A group granting one of them and also another
    product, an admin role or the site-admin role is *shared*: then nothing at all is removed
    (leaving the other groups would not free the seat either) and :attr:`RemovalPlan.attention`
    says why, unless ``remove_shared`` (a person's explicit decision) removes the shared groups too.
    Groups synced from an identity provider are listed in ``synced``: the portal cannot change them.
    """
    scoped = {p.resource_id: p for p in products}
    keys = tuple(sorted({p.key for p in products}))
    resources = tuple(sorted(scoped))
    removable: list[str] = []
    shared: list[SharedGroup] = []
    synced: list[SharedGroup] = []
    for group in sorted(groups, key=lambda g: (g.name.lower(), g.group_id)):
        carries = _names(grant.product for grant in group.grants if grant.product.resource_id in scoped)
        if not carries:
            continue
        also = _also(group, scoped)
        if group.external_synced:
            synced.append(SharedGroup(group.group_id, group.name, carries, also))
        elif also:
            shared.append(SharedGroup(group.group_id, group.name, carries, also))
        else:
            removable.append(group.group_id)
    roles = tuple(
        sorted(
            {
                (role, access.resource_id)
                for access in direct
                if access.resource_id in scoped
                for role in (access.roles or (DEFAULT_DIRECT_ROLE,))
            }
        )
    )
    if shared and not remove_shared:
        return RemovalPlan(products=keys, resources=resources, shared=tuple(shared), synced=tuple(synced))
    return RemovalPlan(
        products=keys,
        resources=resources,
        groups=tuple(removable + [group.group_id for group in shared]),
        roles=roles,
        shared=tuple(shared),
        synced=tuple(synced),
        shared_removed=bool(shared),
    )


def _also(group: GroupGrants, scoped: dict[str, ProductRef]) -> tuple[str, ...]:
    """What ``group`` grants besides plain roles on the scoped products, in words."""
    also = list(_names(grant.product for grant in group.grants if grant.product.resource_id not in scoped))
    admin = sum(1 for grant in group.grants if _PRODUCT_ADMIN_ROLES.intersection(grant.roles))
    if admin:
        also.append("admin roles" if admin > 1 else "an admin role")
    if group.site_admin or any(SITE_ADMIN_ROLE in grant.roles for grant in group.grants):
        also.append("the site-admin role")
    return tuple(also)


def _names(products: Iterable[ProductRef]) -> tuple[str, ...]:
    return tuple(sorted({p.name or p.key for p in products}))


def _words(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
