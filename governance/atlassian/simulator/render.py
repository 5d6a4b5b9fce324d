"""JSON shapes of each API family, rendered on demand from state (camelCase v2, snake_case v1, Jira beans).

Fields the documents do not allow to be null are omitted rather than sent as null.
"""

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from .dataset import PRODUCTS, SITE_ADMINS, Account, Group
from .state import SimulatorState

JOB_TITLES = (
    "Software Engineer",
    "Senior Software Engineer",
    "Engineering Manager",
    "Product Manager",
    "Product Designer",
    "QA Analyst",
    "Support Specialist",
    "Data Analyst",
    "Account Executive",
    "Marketing Manager",
    "Accountant",
    "Recruiter",
    "IT Administrator",
)
DEPARTMENTS = ("Engineering", "Product", "Design", "Support", "Sales", "Marketing", "Finance", "People", "IT")
LOCATIONS = (
    ("London", "Europe/London"),
    ("Berlin", "Europe/Berlin"),
    ("Sydney", "Australia/Sydney"),
    ("New York", "America/New_York"),
    ("San Francisco", "America/Los_Angeles"),
    ("Bengaluru", "Asia/Kolkata"),
    ("Tokyo", "Asia/Tokyo"),
    ("São Paulo", "America/Sao_Paulo"),
    ("Toronto", "America/Toronto"),
    ("Amsterdam", "Europe/Amsterdam"),
)


def iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def date_only(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d")


def avatar(a: Account, size: int) -> str:
    return f"https://avatars.example.com/{quote(a.account_id, safe='')}/{size}.png"


def location(a: Account, seed: int) -> tuple[str, str]:
    return LOCATIONS[(a.idx * 7 + seed) % len(LOCATIONS)]


# -- Admin v2 --------------------------------------------------------------------------------------
def v2_user(state: SimulatorState, a: Account, expand: set[str] | frozenset = frozenset(), *, details=False, scope=-1):
    seed = state.data.seed
    d: dict[str, Any] = {
        "accountId": a.account_id,
        "accountType": "atlassian",
        "status": state.status(a),
        "accountStatus": state.account_status(a),
        "membershipStatus": state.membership_status(a),
    }
    if a.added is not None:
        d["addedToOrg"] = iso(a.added)
    if details and a.deactivated_on is not None:
        d["deactivatedOn"] = iso(a.deactivated_on)
    d["name"] = a.name
    d["nickname"] = a.nickname
    if a.email is not None:
        d["email"] = a.email
    d["emailVerified"] = a.email_verified
    d["claimStatus"] = "managed" if a.managed else "unmanaged"
    if details or "platformRoles" in expand:
        d["platformRoles"] = state.platform_roles(a)
    d["picture"] = avatar(a, 48)
    d["avatar"] = avatar(a, 128)
    if (source := state.management_source(a)) is not None:
        d["managementSource"] = source
    d["mfaEnabled"] = a.mfa
    city, zone = location(a, seed)
    if a.managed:
        d["jobTitle"] = JOB_TITLES[(a.idx * 31 + seed) % len(JOB_TITLES)]
        d["department"] = DEPARTMENTS[(a.idx * 13 + seed) % len(DEPARTMENTS)]
        d["organization"] = state.data.org_name
        d["location"] = city
    d["timeZone"] = zone
    roles = state.roles_of(a) if ("productAccess" in expand or "counts.resources" in expand or details) else {}
    if details or "counts.resources" in expand:
        d["counts"] = {"resources": len(roles)}
    if "productAccess" in expand:
        access = []
        for p in sorted(roles):
            item = {"key": PRODUCTS[p].key, "id": state.data.resource_id(p)}
            if (seen_at := a.last_active[p]) is not None:
                item["lastActiveTimestamp"] = iso(seen_at)
            access.append(item)
        d["productAccess"] = access
    if "groups" in expand:
        groups = (state.data.groups[g] for g in a.groups)
        d["groups"] = [{"id": state.group_ari(g), "name": g.name} for g in groups if scope < 0 or g.directory == scope]
    return d


def v2_group(state: SimulatorState, g: Group, expand: set[str] | frozenset = frozenset()):
    """A group of the search (``counts`` only when expanded). Group details carry no ``counts``: the
    published document types it as ``GroupCounts`` (not a JSON type), so no validator accepts it."""
    d: dict[str, Any] = {
        "id": state.group_api_id(g),
        "name": g.name,
        "description": g.description,
        "directoryId": state.data.directories[g.directory][0],
        "managementAccess": {"deletable": not g.synced, "modifiable": not g.synced, "readable": True},
        "externalSynced": g.synced,
        "managedBy": g.managed_by,
    }
    counts = {}
    if "counts.users" in expand:
        counts["users"] = len(g.members)
    if "counts.resources" in expand:
        counts["resources"] = len({p for p, _r in g.roles})
    if counts:
        d["counts"] = counts
    return d


def v2_group_roles(state: SimulatorState, g: Group) -> list[dict[str, Any]]:
    by_product: dict[int, list[str]] = {}
    for p, role in g.roles:
        by_product.setdefault(p, []).append(role)
    return [
        {
            "resourceId": state.data.resource_id(p),
            "resourceOwner": PRODUCTS[p].key,
            "defaultRole": roles[0],
            "roles": roles,
        }
        for p, roles in sorted(by_product.items())
    ]


def v2_user_roles(state: SimulatorState, a: Account) -> list[dict[str, Any]]:
    directory_id = state.data.directories[a.directory][0] if a.directory is not None else None
    membership = state.membership_status(a)
    out = []
    for p, roles in sorted(state.roles_of(a).items()):
        assignments = [
            {"role": role, "roleAssignmentMethods": sorted(methods)} for role, methods in sorted(roles.items())
        ]
        out.append(
            {
                "resourceId": state.data.resource_id(p),
                "resourceOwner": PRODUCTS[p].key,
                "roles": sorted(roles),
                "roleAssignments": assignments,
                "directoryId": directory_id,
                "userDirectoryStatus": membership,
            }
        )
    if a.org_admin:
        out.append(
            {
                "resourceId": f"ari:cloud:platform::org/{state.org_id}",
                "resourceOwner": "platform",
                "roles": ["atlassian/org-admin"],
                "roleAssignments": [{"role": "atlassian/org-admin", "roleAssignmentMethods": ["direct"]}],
                "directoryId": directory_id,
                "userDirectoryStatus": membership,
            }
        )
    return out


# -- Admin v1 --------------------------------------------------------------------------------------
def v1_org(state: SimulatorState, base: str) -> dict[str, Any]:
    org = f"{base}/admin/v1/orgs/{quote(state.org_id, safe='')}"
    return {
        "id": state.org_id,
        "type": "orgs",
        "attributes": {"name": state.data.org_name},
        "relationships": {
            "domains": {"links": {"related": f"{org}/domains"}},
            "users": {"links": {"related": f"{org}/users"}},
        },
        "links": {"self": org},
    }


def v1_user(state: SimulatorState, a: Account, base: str) -> dict[str, Any]:
    d: dict[str, Any] = {
        "account_id": a.account_id,
        "account_type": "atlassian",
        "account_status": state.account_status(a),
        "name": a.name,
        "picture": avatar(a, 48),
    }
    if a.email is not None:
        d["email"] = a.email
    d["access_billable"] = state.billable(a)
    # The v1 product enum lacks the newer products (Jira Product Discovery, Loom ...): left out here.
    products = [p for p in state.products_of(a) if PRODUCTS[p].v1_key is not None]
    seen = [t for t in (a.last_active[p] for p in products) if t is not None]
    if seen:
        d["last_active"] = iso(max(seen))
    access = []
    for p in products:
        item = {"key": PRODUCTS[p].v1_key, "name": PRODUCTS[p].name, "url": state.data.product_url(p)}
        if (seen_at := a.last_active[p]) is not None:
            item["last_active"] = iso(seen_at)
        access.append(item)
    d["product_access"] = access
    d["links"] = {"self": f"{base}/users/{quote(a.account_id, safe='')}/manage/profile"}
    return d


def last_active_dates(state: SimulatorState, a: Account) -> dict[str, Any]:
    access = []
    for p in state.products_of(a):
        when = a.last_active[p]
        if when is not None and PRODUCTS[p].v1_key is not None:  # never opened: no entry
            access.append(
                {
                    "id": state.data.resource_id(p),
                    "key": PRODUCTS[p].v1_key,
                    "last_active": date_only(when),
                    "last_active_timestamp": iso(when),
                }
            )
    data: dict[str, Any] = {"product_access": access}
    if a.added is not None:
        data["added_to_org"] = date_only(a.added)
        data["added_to_org_timestamp"] = iso(a.added)
    return {"data": data, "links": {}}


# -- Jira --------------------------------------------------------------------------------------------
def jira_active(state: SimulatorState, a: Account) -> bool:
    if a.kind != "atlassian":
        return a.jira_active
    return state.status(a) == "active"


def jira_user(state: SimulatorState, a: Account, base: str, *, details: bool = False) -> dict[str, Any]:
    """A Jira ``User`` (users/search) or, with details, a ``UserDetails`` (group/member: no locale)."""
    d: dict[str, Any] = {
        "self": f"{base}/rest/api/3/user?accountId={quote(a.account_id, safe='')}",
        "accountId": a.account_id,
        "accountType": a.kind,
    }
    if a.email is not None and a.kind != "app":
        d["emailAddress"] = a.email
    d["avatarUrls"] = {f"{s}x{s}": avatar(a, s) for s in (16, 24, 32, 48)}
    d["displayName"] = a.name
    d["active"] = jira_active(state, a)
    d["timeZone"] = location(a, state.data.seed)[1] if a.kind == "atlassian" else "Etc/UTC"
    if not details:
        d["locale"] = "en_US"
    return d


def jira_group_ref(g: Group, base: str) -> dict[str, Any]:
    return {"groupId": g.uuid, "name": g.name, "self": f"{base}/rest/api/3/group?groupId={g.uuid}"}


def jira_group(g: Group, base: str) -> dict[str, Any]:
    d = jira_group_ref(g, base)
    d["users"] = {"size": len(g.members), "items": [], "max-results": 50, "start-index": 0, "end-index": 0}
    d["expand"] = "users"
    return d


def application_role(state: SimulatorState, p: int, base: str) -> dict[str, Any]:
    groups = [g for g in state.data.groups if not g.gone and any(gp == p for gp, _r in g.roles)]
    defaults = [g for g in groups if g.name != SITE_ADMINS]
    used = state.product_usage(p)
    seats = state.data.seats[p]
    noun = "agents" if PRODUCTS[p].key == "jira-servicedesk" else "users"
    return {
        "key": PRODUCTS[p].key,
        "name": PRODUCTS[p].name,
        "groups": [g.name for g in groups],
        "groupDetails": [jira_group_ref(g, base) for g in groups],
        "defaultGroups": [g.name for g in defaults],
        "defaultGroupsDetails": [jira_group_ref(g, base) for g in defaults],
        "numberOfSeats": seats,
        "remainingSeats": max(0, seats - used),
        "userCount": used,
        "userCountDescription": f"{used} {noun}",
        "hasUnlimitedSeats": False,
        "platform": False,
        "selectedByDefault": False,
        "defined": True,
    }
