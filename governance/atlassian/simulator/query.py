"""Filters of the v2 user and group listings, parsed from a search body or GET query parameters."""

from typing import Any

from .dataset import PRODUCTS
from .errors import INVALID_BODY
from .state import SimulatorState

USER_STATUSES = ("active", "suspended", "not_invited", "deactivated", "for_deletion")
ACCOUNT_STATUSES = ("active", "inactive", "closed")
MEMBERSHIP_STATUSES = ("active", "suspended", "no_membership")
ROLE_IDS = (
    "atlassian/user",
    "atlassian/admin",
    "atlassian/guest",
    "atlassian/customer",
    "atlassian/user-access-admin",
    "atlassian/contributor",
    "atlassian/basic",
    "atlassian/stakeholder",
    "atlassian/org-admin",
    "atlassian/site-admin",
    "atlassian/ai-access",
)
USER_EXPANDS = ("platformRoles", "counts.resources", "productAccess", "groups")
GROUP_EXPANDS = ("counts.resources", "counts.users")
USER_ARRAYS = {
    "accountIds": 10,
    "directoryIds": 10,
    "resourceIds": 20,
    "groupIds": 10,
    "status": 5,
    "accountStatus": 3,
    "membershipStatus": 3,
    "roleIds": 10,
    "emailDomains": 10,
    "emails": 100,
    "expand": 4,
}
GROUP_ARRAYS = {
    "accountIds": 10,
    "directoryIds": 10,
    "roleIds": 10,
    "resourceOwners": 10,
    "resourceIds": 20,
    "groupIds": 10,
    "groupNames": 100,
    "expand": 2,
}


class InvalidRequest(ValueError):
    """A request the API refuses with 400 (by default ADMIN-400-24, "Invalid request body")."""

    def __init__(self, detail: str, code: str = INVALID_BODY):
        super().__init__(detail)
        self.detail = detail
        self.code = code


def from_query(query: dict[str, list[str]], arrays: dict[str, int]) -> dict[str, Any]:
    """GET query parameters (repeated keys for arrays) as a search body."""
    body: dict[str, Any] = {}
    for key, values in query.items():
        if key in arrays:
            body[key] = [v for value in values for v in value.split(",") if v]
        elif key == "limit":
            try:
                body[key] = int(values[0])
            except ValueError as exc:
                raise InvalidRequest("limit must be an integer") from exc
        elif key == "mfaEnabled":
            body[key] = values[0].lower() == "true"
        elif key in ("cursor", "searchTerm", "claimStatus"):
            body[key] = values[0]
    return body


def parse_limit(body: dict[str, Any], default: int) -> int:
    limit = body.get("limit", default)
    if limit is None:
        return default
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise InvalidRequest("limit must be an integer between 1 and 100")
    return limit


def _strings(body: dict[str, Any], key: str, limits: dict[str, int], allowed=None) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"{key} must be a non-empty array of strings")
    if len(value) > limits[key]:
        raise InvalidRequest(f"{key} accepts at most {limits[key]} items")
    if allowed is not None and any(v not in allowed for v in value):
        raise InvalidRequest(f"{key} contains an unsupported value")
    return value


def _sort(body: dict[str, Any], field: str) -> str | None:
    value = body.get("sortBy")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise InvalidRequest("sortBy must hold exactly one {field, direction} object")
    item = value[0]
    if item.get("field") != field or item.get("direction") not in ("asc", "desc"):
        raise InvalidRequest(f"sortBy supports field {field} with direction asc or desc")
    return item["direction"]


def _directories(state: SimulatorState, ids: list[str] | None) -> set[int] | None:
    if ids is None:
        return None
    return {i for i, (did, _n) in enumerate(state.data.directories) if did in ids}


def _products(state: SimulatorState, resource_ids: list[str] | None) -> set[int] | None:
    if resource_ids is None:
        return None
    return {p for p in range(len(PRODUCTS)) if state.data.resource_id(p) in resource_ids}


class UserQuery:
    def __init__(self, state: SimulatorState, scope: int, body: dict[str, Any]):
        self.state = state
        self.scope = scope
        self.filters = {k: v for k, v in body.items() if k not in ("cursor", "limit")}
        b = self.filters
        if b.get("searchTerm") is not None and b.get("emails") is not None:
            raise InvalidRequest("searchTerm and emails can't be used together")
        self.account_ids = _strings(b, "accountIds", USER_ARRAYS)
        self.directories = _directories(state, _strings(b, "directoryIds", USER_ARRAYS))
        self.products = _products(state, _strings(b, "resourceIds", USER_ARRAYS))
        group_ids = _strings(b, "groupIds", USER_ARRAYS)
        self.groups = (
            None if group_ids is None else [g for g in map(state.admin_group_by_id, group_ids) if g is not None]
        )
        self.status = _strings(b, "status", USER_ARRAYS, USER_STATUSES)
        self.account_status = _strings(b, "accountStatus", USER_ARRAYS, ACCOUNT_STATUSES)
        self.membership_status = _strings(b, "membershipStatus", USER_ARRAYS, MEMBERSHIP_STATUSES)
        self.role_ids = _strings(b, "roleIds", USER_ARRAYS, ROLE_IDS)
        domains = _strings(b, "emailDomains", USER_ARRAYS)
        self.domains = None if domains is None else tuple("@" + d.lower().lstrip("@") for d in domains)
        emails = _strings(b, "emails", USER_ARRAYS)
        self.emails = None if emails is None else {e.lower() for e in emails}
        self.expand = set(_strings(b, "expand", USER_ARRAYS, USER_EXPANDS) or ())
        self.sort = _sort(b, "nick_name")
        self.claim = b.get("claimStatus")
        if self.claim not in (None, "managed", "unmanaged"):
            raise InvalidRequest("claimStatus must be managed or unmanaged")
        self.mfa = b.get("mfaEnabled")
        if self.mfa is not None and not isinstance(self.mfa, bool):
            raise InvalidRequest("mfaEnabled must be a boolean")
        term = b.get("searchTerm")
        if term is not None and not isinstance(term, str):
            raise InvalidRequest("searchTerm must be a string")
        self.term = term.lower() if term else None

    def candidates(self):
        data = self.state.data
        if self.account_ids is not None:
            return sorted(i for aid in self.account_ids if (i := data.by_account_id.get(aid)) is not None)
        if self.groups is not None:
            members: set[int] = set()
            for g in self.groups:
                members |= g.members
            return sorted(members)
        return range(len(data.accounts))

    def accept(self, idx: int) -> bool:
        state = self.state
        a = state.data.accounts[idx]
        if a.gone or a.kind != "atlassian":
            return False
        if not a.in_directory:
            # Managed accounts outside any directory count over "-" only (ORG26 users/count).
            if not (a.managed and self.scope < 0 and self.directories is None):
                return False
        elif self.scope >= 0 and a.directory != self.scope:
            return False
        if self.directories is not None and a.directory not in self.directories:
            return False
        if self.claim is not None and a.managed != (self.claim == "managed"):
            return False
        if self.mfa is not None and a.mfa != self.mfa:
            return False
        if self.status is not None and state.status(a) not in self.status:
            return False
        if self.account_status is not None and state.account_status(a) not in self.account_status:
            return False
        if self.membership_status is not None and state.membership_status(a) not in self.membership_status:
            return False
        if self.groups is not None and not any(idx in g.members for g in self.groups):
            return False
        if self.emails is not None and (a.email or "").lower() not in self.emails:
            return False
        if self.domains is not None and not (a.email or "").lower().endswith(self.domains):
            return False
        if self.term is not None and not any(
            self.term in (text or "").lower() for text in (a.name, a.nickname, a.email)
        ):
            return False
        if self.products is not None and not self.products.intersection(state.roles_of(a)):
            return False
        if self.role_ids is not None:
            held = set(state.platform_roles(a))
            for roles in state.roles_of(a).values():
                held.update(roles)
            if not held.intersection(self.role_ids):
                return False
        return True

    def sorted_matches(self) -> list[int]:
        accounts = self.state.data.accounts
        found = [i for i in self.candidates() if self.accept(i)]
        found.sort(key=lambda i: (accounts[i].nickname.lower(), i), reverse=self.sort == "desc")
        return found

    def count(self) -> int:
        return sum(1 for i in self.candidates() if self.accept(i))


class GroupQuery:
    def __init__(self, state: SimulatorState, scope: int, body: dict[str, Any]):
        self.state = state
        self.scope = scope
        self.filters = {k: v for k, v in body.items() if k not in ("cursor", "limit")}
        b = self.filters
        exclusive = [k for k in ("searchTerm", "groupIds", "groupNames") if b.get(k) is not None]
        if len(exclusive) > 1:
            raise InvalidRequest(f"{' and '.join(exclusive)} can't be used together")
        accounts = _strings(b, "accountIds", GROUP_ARRAYS)
        self.members = None
        if accounts is not None:
            self.members = {i for aid in accounts if (i := state.data.by_account_id.get(aid)) is not None}
        self.directories = _directories(state, _strings(b, "directoryIds", GROUP_ARRAYS))
        self.role_ids = _strings(b, "roleIds", GROUP_ARRAYS)
        owners = _strings(b, "resourceOwners", GROUP_ARRAYS)
        self.owners = None if owners is None else {i for i, p in enumerate(PRODUCTS) if p.key in owners}
        self.products = _products(state, _strings(b, "resourceIds", GROUP_ARRAYS))
        ids = _strings(b, "groupIds", GROUP_ARRAYS)
        self.ids = None if ids is None else {g.idx for g in map(state.admin_group_by_id, ids) if g is not None}
        names = _strings(b, "groupNames", GROUP_ARRAYS)
        self.names = None if names is None else {n.lower() for n in names}
        self.expand = set(_strings(b, "expand", GROUP_ARRAYS, GROUP_EXPANDS) or ())
        self.sort = _sort(b, "name")
        term = b.get("searchTerm")
        if term is not None and not isinstance(term, str):
            raise InvalidRequest("searchTerm must be a string")
        self.term = term.lower() if term else None

    def candidates(self):
        return range(len(self.state.data.groups))

    def accept(self, idx: int) -> bool:
        g = self.state.data.groups[idx]
        if g.gone or (self.scope >= 0 and g.directory != self.scope):
            return False
        if self.directories is not None and g.directory not in self.directories:
            return False
        if self.ids is not None and idx not in self.ids:
            return False
        if self.names is not None and g.name.lower() not in self.names:
            return False
        if self.term is not None and self.term not in g.name.lower():
            return False
        if self.members is not None and not self.members.intersection(g.members):
            return False
        if self.role_ids is not None and not any(role in self.role_ids for _p, role in g.roles):
            return False
        if self.owners is not None and not any(p in self.owners for p, _r in g.roles):
            return False
        return not (self.products is not None and not any(p in self.products for p, _r in g.roles))

    def sorted_matches(self) -> list[int]:
        groups = self.state.data.groups
        found = [i for i in self.candidates() if self.accept(i)]
        found.sort(key=lambda i: (groups[i].name.lower(), i), reverse=self.sort == "desc")
        return found
