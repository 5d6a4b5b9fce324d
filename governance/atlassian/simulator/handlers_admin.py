"""Organizations (Admin) API v2: directories, users, groups, memberships, role assignments.

The server has already checked the Bearer key and the org id. Every handler runs under the state lock.
Error codes come from the documents' code list only (see ``errors.py``): ADMIN-400-1 bad cursor,
ADMIN-400-4 invalid resource, ADMIN-400-19 bad query parameters, ADMIN-400-24 invalid body,
ADMIN-403-5 IdP-synced group, ADMIN-404-1 unknown directory, ADMIN-404-2 org, ADMIN-404-8 user,
ADMIN-404-10 group, ADMIN-409-3 licence limit, ADMIN-409-28 already a member, ADMIN-UAM-409-3 role
licence limit.

Group ids in the group search, group details and group paths are spelt as configured
(``SimulatorConfig.group_id_form``); a user's ``groups`` expansion gives ARIs.
"""

from typing import Any

from . import render
from .dataset import PRODUCTS
from .errors import (
    CONFLICT,
    GROUP_NOT_FOUND,
    INVALID_BODY,
    INVALID_CURSOR,
    INVALID_RESOURCE,
    INVALID_SYNTAX,
    LICENCE_LIMIT,
    NOT_ALLOWED_GROUP,
    UNKNOWN_RESOURCE,
    USER_NOT_FOUND,
    ApiError,
    Response,
    admin_error,
)
from .paging import BadCursor, page_after, page_offset
from .query import GROUP_ARRAYS, USER_ARRAYS, GroupQuery, InvalidRequest, UserQuery, from_query, parse_limit
from .request import Request
from .state import ORG_ADMIN, PRODUCT_ROLES, StateError

NO_CONTENT = 204
STATE_ERRORS = {
    "synced_group": (403, NOT_ALLOWED_GROUP),
    "already_member": (409, CONFLICT),
    "licence_limit": (409, LICENCE_LIMIT),
    "not_member": (404, USER_NOT_FOUND),
}


def bad_request(detail: str, code: str = INVALID_BODY) -> ApiError:
    return admin_error(400, code, detail)


def bad_parameter(detail: str) -> ApiError:
    return admin_error(400, INVALID_SYNTAX, detail)


def bad_cursor() -> ApiError:
    return admin_error(400, INVALID_CURSOR, "The cursor is invalid or has expired")


def user_not_found() -> ApiError:
    return admin_error(404, USER_NOT_FOUND, "User not found")


def group_not_found() -> ApiError:
    return admin_error(404, GROUP_NOT_FOUND, "Group not found")


def directory_not_found() -> ApiError:
    return admin_error(404, UNKNOWN_RESOURCE, "Directory not found")


def _scope(app, req: Request) -> int:
    scope = app.state.directory_scope(req.params["directoryId"])
    if scope is None:
        raise directory_not_found()
    return scope


def _write_scope(app, req: Request) -> int:
    """The directory of a write; ``-`` is refused when the simulator is told to (writes_need_directory)."""
    scope = _scope(app, req)
    if scope < 0 and app.config.writes_need_directory:
        raise directory_not_found()
    return scope


def _user(app, req: Request, scope: int, key: str = "accountId"):
    a = app.state.directory_user(req.params[key], scope)
    if a is None:
        raise user_not_found()
    return a


def _group(app, req: Request, scope: int):
    g = app.state.admin_group_by_id(req.params["groupId"], scope)
    if g is None:
        raise group_not_found()
    return g


def _state_error(exc: StateError) -> ApiError:
    status, code = STATE_ERRORS.get(exc.kind, (400, INVALID_BODY))
    return admin_error(status, code, exc.detail)


def _body(req: Request) -> dict[str, Any]:
    return req.json(bad_request)


def _decode(app, token: str, kind: str, directory: str) -> dict[str, Any]:
    try:
        payload = app.codec.decode(token, kind)
    except BadCursor:
        raise bad_cursor() from None
    if payload.get("d") != directory:
        raise bad_cursor()
    return payload


def _paged(app, req: Request, kind: str, body: dict[str, Any], default_limit: int, make_query, render_one):
    """Cursor paging shared by the user and group listings (keyset by default, offset when sorted)."""
    directory = req.params.get("directoryId", "")
    scope = _scope(app, req)
    token = body.get("cursor")
    if token is not None:
        if not isinstance(token, str):
            raise bad_cursor()
        payload = _decode(app, token, kind, directory)
        filters, limit, position = payload["f"], payload["l"], payload["p"]
    else:
        try:
            limit = parse_limit(body, default_limit)
        except InvalidRequest as exc:
            raise bad_request(exc.detail) from None
        filters, position = {k: v for k, v in body.items() if k not in ("cursor", "limit")}, None
    try:
        query = make_query(app.state, scope, filters)
    except InvalidRequest as exc:
        raise (bad_parameter(exc.detail) if req.method == "GET" else bad_request(exc.detail, exc.code)) from None
    if query.sort:
        position = position or 0
        items, following = page_offset(query.sorted_matches(), position, limit)
    else:
        position = -1 if position is None else position
        items, following = page_after(query.candidates(), position, limit, query.accept)
    links = {"self": app.codec.encode({"k": kind, "d": directory, "f": filters, "l": limit, "p": position})}
    if following is not None:
        links["next"] = app.codec.encode({"k": kind, "d": directory, "f": filters, "l": limit, "p": following})
    return Response(200, {"data": [render_one(query, i, scope) for i in items], "links": links})


def _render_user(app):
    accounts = app.state.data.accounts
    return lambda query, i, scope: render.v2_user(app.state, accounts[i], query.expand, scope=scope)


def _render_group(app):
    groups = app.state.data.groups
    return lambda query, i, scope: render.v2_group(app.state, groups[i], query.expand)


def _offset_page(app, req: Request, kind: str, items: list, default_limit: int = 20) -> Response:
    """Offset paging of small GET lists; a cursor makes the server ignore the other parameters."""
    directory = req.params.get("directoryId", "") + "|" + req.path
    token = req.arg("cursor")
    if token is not None:
        payload = _decode(app, token, kind, directory)
        limit, offset = payload["l"], payload["p"]
    else:
        try:
            limit = parse_limit({"limit": req.int_arg("limit", default_limit, bad_parameter)}, default_limit)
        except InvalidRequest as exc:
            raise bad_parameter(exc.detail) from None
        offset = 0
    chunk, following = page_offset(items, offset, limit)
    links = {"self": app.codec.encode({"k": kind, "d": directory, "l": limit, "p": offset})}
    if following is not None:
        links["next"] = app.codec.encode({"k": kind, "d": directory, "l": limit, "p": following})
    return Response(200, {"data": chunk, "links": links})


# -- v2 users --------------------------------------------------------------------------------------
def user_search(app, req: Request) -> Response:
    return _paged(app, req, "users", _body(req), 50, UserQuery, _render_user(app))


def user_list(app, req: Request) -> Response:
    try:
        body = from_query(req.query, USER_ARRAYS)
    except InvalidRequest as exc:
        raise bad_parameter(exc.detail) from None
    if "cursor" in body:
        body = {"cursor": body["cursor"]}
    return _paged(app, req, "users", body, 20, UserQuery, _render_user(app))


def user_count(app, req: Request) -> Response:
    try:
        query = UserQuery(app.state, _scope(app, req), from_query(req.query, USER_ARRAYS))
    except InvalidRequest as exc:
        raise bad_parameter(exc.detail) from None
    return Response(200, {"count": query.count()})


def user_details(app, req: Request) -> Response:
    a = _user(app, req, _scope(app, req))
    return Response(200, {"data": render.v2_user(app.state, a, details=True)})


def user_suspend(app, req: Request) -> Response:
    app.state.suspend(_user(app, req, _write_scope(app, req)))
    return Response(NO_CONTENT)


def user_restore(app, req: Request) -> Response:
    app.state.restore(_user(app, req, _write_scope(app, req)))
    return Response(NO_CONTENT)


def user_remove(app, req: Request) -> Response:
    app.state.remove_from_directory(_user(app, req, _write_scope(app, req)))
    return Response(NO_CONTENT)


def user_role_assignments(app, req: Request) -> Response:
    a = _user(app, req, _scope(app, req))
    items = render.v2_user_roles(app.state, a)
    owners, resources, roles = (req.query.get(k) for k in ("resourceOwners", "resourceIds", "roleIds"))
    items = [
        item
        for item in items
        if (not owners or item["resourceOwner"] in owners)
        and (not resources or item["resourceId"] in resources)
        and (not roles or set(item["roles"]) & set(roles))
    ]
    return _offset_page(app, req, "user-roles", items)


def directories(app, req: Request) -> Response:
    state = app.state
    items = []
    account = state.directory_user(req.arg("accountId")) if req.arg("accountId") else None
    wanted, term = req.query.get("directoryIds"), (req.arg("searchTerm") or "").lower()
    for i, (did, name) in enumerate(state.data.directories):
        if req.arg("accountId") and (account is None or account.directory != i):
            continue
        if (wanted and did not in wanted) or (term and term not in name.lower()):
            continue
        icon = (
            "https://admin.atlassian.com/static/directory-local.svg"
            if i == 0
            else "https://admin.atlassian.com/static/okta.svg"
        )
        items.append({"directoryId": did, "name": name, "icon": icon})
    return _offset_page(app, req, "directories", items)


# -- v2 groups -------------------------------------------------------------------------------------
def group_search(app, req: Request) -> Response:
    return _paged(app, req, "groups", _body(req), 20, GroupQuery, _render_group(app))


def group_count(app, req: Request) -> Response:
    try:
        query = GroupQuery(app.state, _scope(app, req), from_query(req.query, GROUP_ARRAYS))
    except InvalidRequest as exc:
        raise bad_parameter(exc.detail) from None
    return Response(200, {"count": sum(1 for i in query.candidates() if query.accept(i))})


def group_details(app, req: Request) -> Response:
    g = _group(app, req, _scope(app, req))
    return Response(200, {"data": render.v2_group(app.state, g)})


def group_role_assignments(app, req: Request) -> Response:
    g = _group(app, req, _scope(app, req))
    return _offset_page(app, req, "group-roles", render.v2_group_roles(app.state, g))


def role_body(
    app, req: Request, role_key: str, resource_key: str, codes: tuple[str, str] = (INVALID_BODY, INVALID_RESOURCE)
) -> tuple[str, int | None]:
    """The role and product of a role assignment body; ``codes`` are those of a bad body and of a
    resource the endpoint does not take (the v1 user-role endpoints document ADMIN-UAM codes)."""
    bad_body, bad_resource = codes
    body = req.json(lambda detail: bad_request(detail, bad_body))
    role, resource = body.get(role_key), body.get(resource_key)
    if role not in PRODUCT_ROLES and role != ORG_ADMIN:
        raise bad_request(f"{role_key} is missing or not a known role", bad_body)
    if role == ORG_ADMIN and not resource:
        return role, None
    product = next((p for p in range(len(PRODUCTS)) if app.state.data.resource_id(p) == resource), None)
    if product is None or not PRODUCTS[product].assignable:
        raise bad_request("The resource is missing or invalid", bad_resource)
    return role, product


def group_role_assign(app, req: Request) -> Response:
    g = _group(app, req, _write_scope(app, req))
    role, product = role_body(app, req, "roleId", "resourceId")
    if product is None:
        raise bad_request("Org admin can't be granted through a group")
    app.state.group_assign_role(g, role, product)
    return Response(200)


def group_role_revoke(app, req: Request) -> Response:
    g = _group(app, req, _write_scope(app, req))
    role, product = role_body(app, req, "roleId", "resourceId")
    if product is not None:
        app.state.group_revoke_role(g, role, product)
    return Response(NO_CONTENT)


def membership_add(app, req: Request) -> Response:
    scope = _write_scope(app, req)
    g = _group(app, req, scope)
    account_id = _body(req).get("accountId")
    if not isinstance(account_id, str) or not account_id:
        raise bad_request("accountId is required")
    a = app.state.directory_user(account_id)
    if a is None:
        raise user_not_found()
    try:
        app.state.add_member(g, a)
    except StateError as exc:
        raise _state_error(exc) from None
    return Response(NO_CONTENT)


def membership_remove(app, req: Request) -> Response:
    g = _group(app, req, _write_scope(app, req))
    a = _user(app, req, -1)
    try:
        app.state.remove_member(g, a)
    except StateError as exc:
        raise _state_error(exc) from None
    return Response(NO_CONTENT)


V2 = "/admin/v2/orgs/{orgId}/directories/{directoryId}"
# (method, path, handler, rate-limit bucket) - specific paths before parameterised ones
ROUTES = [
    ("GET", "/admin/v2/orgs/{orgId}/directories", directories, None),
    ("POST", V2 + "/users/search", user_search, None),
    ("GET", V2 + "/users/count", user_count, None),
    ("GET", V2 + "/users", user_list, None),
    ("GET", V2 + "/users/{accountId}", user_details, None),
    ("DELETE", V2 + "/users/{accountId}", user_remove, None),
    ("POST", V2 + "/users/{accountId}/suspend", user_suspend, None),
    ("POST", V2 + "/users/{accountId}/restore", user_restore, None),
    ("GET", V2 + "/users/{accountId}/role-assignments", user_role_assignments, None),
    ("POST", V2 + "/groups/search", group_search, None),
    ("GET", V2 + "/groups/count", group_count, None),
    ("GET", V2 + "/groups/{groupId}", group_details, None),
    ("GET", V2 + "/groups/{groupId}/role-assignments", group_role_assignments, None),
    ("POST", V2 + "/groups/{groupId}/role-assignments/assign", group_role_assign, None),
    ("POST", V2 + "/groups/{groupId}/role-assignments/revoke", group_role_revoke, None),
    ("POST", V2 + "/groups/{groupId}/memberships", membership_add, None),
    ("DELETE", V2 + "/groups/{groupId}/memberships/{accountId}", membership_remove, None),
]
