"""Raw JSON items to the typed records in ``records.py``.

Only what the portal relies on is validated (identifiers, statuses, timestamps); a missing
optional field becomes None or an empty tuple, never a guess. Problems raise ShapeError with a
message that names the field, not its value (values can be personal data).

Group ids leave here canonical (the bare UUID: ``governance.atlassian.groupids``), with the form
Atlassian used beside them: the group search and a user's ``groups`` may spell the same group two
ways. A status outside the documented enums is passed on as sent; the sync decides what to do
with it (it mirrors it as unknown).
"""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from governance.atlassian.groupids import canonical_group_id, group_id_form
from governance.atlassian.records import (
    ApplicationRole,
    DirectoryGroup,
    DirectoryUser,
    GroupRef,
    GroupRoleAssignment,
    JiraUser,
    LastActiveDates,
    ProductActivity,
    UserRoleAssignment,
)
from governance.atlassian.timeparse import parse_optional_timestamp

from .bodies import ShapeError

T = TypeVar("T")

# v1 /users account_status -> the portal's combined status. v1 has no membership notion: an
# "inactive" (deactivated) or "closed" (deleted) account is treated as deactivated either way.
# Any other value is passed on as sent (an unknown status, reported by the sync).
V1_STATUS = {"active": "active", "inactive": "deactivated", "closed": "deactivated"}


def directory_user_v2(item: Mapping[str, Any]) -> DirectoryUser:
    """A v2 ``MultiDirectoryUser`` (camelCase)."""
    return DirectoryUser(
        account_id=required_str(item, "accountId"),
        # The v2 enum only has "atlassian": apps and customers are not directory members.
        account_type=optional_str(item, "accountType") or "atlassian",
        status=required_str(item, "status"),
        account_status=optional_str(item, "accountStatus"),
        membership_status=optional_str(item, "membershipStatus"),
        name=optional_str(item, "name") or "",
        email=optional_str(item, "email"),
        claim_status=optional_str(item, "claimStatus"),
        added_to_org=timestamp(item, "addedToOrg"),
        platform_roles=str_tuple(item.get("platformRoles"), "platformRoles"),
        management_source=optional_str(item, "managementSource"),
        product_access=objects(item.get("productAccess"), "productAccess", _product_v2),
        groups=objects(item.get("groups"), "groups", _group_ref),
    )


def directory_user_v1(item: Mapping[str, Any]) -> DirectoryUser:
    """A v1 managed account from ``GET /admin/v1/orgs/{orgId}/users`` (snake_case)."""
    account_status = required_str(item, "account_status")
    status = V1_STATUS.get(account_status, account_status)
    return DirectoryUser(
        account_id=required_str(item, "account_id"),
        account_type=required_str(item, "account_type"),
        status=status,
        account_status=account_status,
        membership_status=None,
        name=optional_str(item, "name") or "",
        email=optional_str(item, "email"),
        # This endpoint lists only accounts on a verified domain, i.e. managed accounts.
        claim_status="managed",
        added_to_org=None,
        product_access=objects(item.get("product_access"), "product_access", _product_v1_user),
    )


def directory_group(item: Mapping[str, Any]) -> DirectoryGroup:
    """A v2 ``MultiDirectoryGroup``."""
    access = optional_mapping(item, "managementAccess")
    counts = optional_mapping(item, "counts")
    modifiable = access.get("modifiable")
    users = counts.get("users")
    group_id = required_str(item, "id")
    return DirectoryGroup(
        id=canonical_group_id(group_id),
        id_form=group_id_form(group_id),
        name=optional_str(item, "name") or "",
        description=optional_str(item, "description") or "",
        directory_id=optional_str(item, "directoryId"),
        external_synced=item.get("externalSynced") is True,
        managed_by=optional_str(item, "managedBy"),
        modifiable=modifiable if isinstance(modifiable, bool) else None,
        user_count=users if isinstance(users, int) and not isinstance(users, bool) else None,
    )


def group_role_assignment(item: Mapping[str, Any]) -> GroupRoleAssignment:
    """A v2 ``MultiDirectoryGroupRoleAssignment``."""
    return GroupRoleAssignment(
        resource_id=required_str(item, "resourceId"),
        resource_owner=optional_str(item, "resourceOwner") or "",
        roles=str_tuple(item.get("roles"), "roles"),
        default_role=optional_str(item, "defaultRole"),
    )


def user_role_assignment(item: Mapping[str, Any]) -> UserRoleAssignment:
    """A v2 ``MultiDirectoryUserRoleAssignment``.

    ``roleAssignments`` supersedes the deprecated ``roles``; it is used when present, and the
    methods of all its roles are merged (in first-seen order) into one tuple.
    """
    assignments = objects(item.get("roleAssignments"), "roleAssignments", lambda a: a)
    direct: tuple[str, ...] = ()
    if assignments:
        roles = tuple(required_str(a, "role") for a in assignments)
        methods: dict[str, None] = {}
        for a in assignments:
            methods.update(dict.fromkeys(str_tuple(a.get("roleAssignmentMethods"), "roleAssignmentMethods")))
        method_tuple = tuple(methods)
        direct = tuple(
            required_str(a, "role")
            for a in assignments
            if "direct" in str_tuple(a.get("roleAssignmentMethods"), "roleAssignmentMethods")
        )
    else:
        roles, method_tuple = str_tuple(item.get("roles"), "roles"), ()
    return UserRoleAssignment(
        resource_id=required_str(item, "resourceId"),
        resource_owner=optional_str(item, "resourceOwner") or "",
        roles=roles,
        methods=method_tuple,
        direct_roles=direct,
    )


def last_active_products(data: Mapping[str, Any]) -> tuple[ProductActivity, ...]:
    """The ``product_access`` of one v1 last-active-dates page (required, may be empty)."""
    if "product_access" not in data:
        raise ShapeError("data.product_access is missing")
    return objects(data["product_access"], "product_access", _product_last_active)


def last_active_added(data: Mapping[str, Any]) -> datetime | None:
    """When the user joined the org: the full timestamp when sent, else the date at midnight UTC."""
    return timestamp(data, "added_to_org_timestamp") or timestamp(data, "added_to_org")


def last_active_dates(account_id: str, added: datetime | None, products: list[ProductActivity]) -> LastActiveDates:
    return LastActiveDates(account_id=account_id, added_to_org=added, product_access=tuple(products))


def application_role(item: Mapping[str, Any]) -> ApplicationRole:
    """A Jira ``ApplicationRole``. Group ids come from ``groupDetails`` (names may also be in ``groups``)."""
    details = objects(item.get("groupDetails"), "groupDetails", lambda g: g)
    default_details = objects(item.get("defaultGroupsDetails"), "defaultGroupsDetails", lambda g: g)
    group_names = tuple(optional_str(g, "name") or "" for g in details) or str_tuple(item.get("groups"), "groups")
    default_names = str_tuple(item.get("defaultGroups"), "defaultGroups") or tuple(
        optional_str(g, "name") or "" for g in default_details
    )
    return ApplicationRole(
        key=required_str(item, "key"),
        name=optional_str(item, "name") or "",
        group_ids=tuple(canonical_group_id(optional_str(g, "groupId") or "") for g in details),
        group_names=group_names,
        default_group_names=default_names,
        number_of_seats=optional_int(item, "numberOfSeats"),
        remaining_seats=optional_int(item, "remainingSeats"),
        user_count=optional_int(item, "userCount"),
        unlimited=item.get("hasUnlimitedSeats") is True,
        platform=item.get("platform") is True,
    )


def jira_user(item: Mapping[str, Any]) -> JiraUser:
    """A Jira ``User``/``UserDetails``. ``active`` is required: policies act on it."""
    active = item.get("active")
    if not isinstance(active, bool):
        raise ShapeError("active is missing or not a boolean")
    return JiraUser(
        account_id=required_str(item, "accountId"),
        account_type=optional_str(item, "accountType") or "unknown",
        active=active,
        display_name=optional_str(item, "displayName") or "",
        email=optional_str(item, "emailAddress"),
    )


# -- nested items ---------------------------------------------------------------------------------


def _product_v2(item: Mapping[str, Any]) -> ProductActivity:
    return ProductActivity(
        key=optional_str(item, "key") or "",
        resource_id=optional_str(item, "id") or "",
        last_active=timestamp(item, "lastActiveTimestamp"),
    )


def _product_v1_user(item: Mapping[str, Any]) -> ProductActivity:
    # The v1 /users product carries key, name, url and last_active, but no instance id: the
    # site URL is the closest stable identifier available.
    return ProductActivity(
        key=required_str(item, "key"),
        resource_id=optional_str(item, "id") or optional_str(item, "url") or "",
        last_active=timestamp(item, "last_active"),
    )


def _product_last_active(item: Mapping[str, Any]) -> ProductActivity:
    # The timestamp is preferred; the date-only last_active is a fallback at midnight UTC.
    return ProductActivity(
        key=required_str(item, "key"),
        resource_id=optional_str(item, "id") or "",
        last_active=timestamp(item, "last_active_timestamp") or timestamp(item, "last_active"),
    )


# One GroupRef per group as sent (id and name), shared by every user in it. A user lists about ten
# groups: at 100,000 users a million references to a few thousand groups, each otherwise a new
# record made in the thread fetching the pages and freed in the one writing them, both holding
# the interpreter lock. Records are immutable, so sharing one is safe; the map is emptied when it
# grows past _GROUP_REFS_MAX (ids and names from many organizations in a long-lived worker).
_group_refs: dict[str, GroupRef] = {}
_GROUP_REFS_MAX = 50_000


def _group_ref(item: Mapping[str, Any]) -> GroupRef:
    group_id = required_str(item, "id")
    name = optional_str(item, "name") or ""
    ref = _group_refs.get(group_id)
    if ref is not None and ref.name == name:
        return ref
    ref = GroupRef(id=canonical_group_id(group_id), name=name, id_form=group_id_form(group_id))
    if len(_group_refs) >= _GROUP_REFS_MAX:
        _group_refs.clear()
    _group_refs[group_id] = ref
    return ref


# -- field helpers --------------------------------------------------------------------------------


def required_str(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ShapeError(f"{key} is missing or not a non-empty string")
    return value


def optional_str(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ShapeError(f"{key} is not a string")
    return value


def optional_int(item: Mapping[str, Any], key: str) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShapeError(f"{key} is not an integer")
    return value


def optional_mapping(item: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = item.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ShapeError(f"{key} is not an object")
    return value


def timestamp(item: Mapping[str, Any], key: str) -> datetime | None:
    try:
        return parse_optional_timestamp(item.get(key))
    except ValueError:
        raise ShapeError(f"{key} is not an ISO-8601 timestamp") from None


def str_tuple(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ShapeError(f"{key} is not a list of strings")
    return tuple(value)


def objects(value: Any, key: str, convert: Callable[[Mapping[str, Any]], T]) -> tuple[T, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ShapeError(f"{key} is not a list of objects")
    return tuple(convert(v) for v in value)
