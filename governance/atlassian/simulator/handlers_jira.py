"""Jira Cloud platform REST API v3: licences (application roles), users, group membership.

Served at ``/rest/api/3/...`` (site URL) and ``/ex/jira/{cloudId}/rest/api/3/...`` (gateway); the
server has checked Basic auth (jira email + API key). Group ids are the bare ids Jira uses (the
part after ``ari:cloud:identity::group/``); an ARI names no group (404). Jira's ``active`` is
true only for directory users whose status is active (suspended, deactivated, removed: false).
"""

from urllib.parse import quote, urlencode

from . import render
from .dataset import PRODUCTS
from .errors import Response, jira_error
from .request import Request
from .state import StateError

MAX_USERS_PAGE = 1000
MAX_MEMBERS_PAGE = 50


def _bad(detail: str):
    return jira_error(400, detail)


def application_roles(app, req: Request) -> Response:
    roles = [render.application_role(app.state, p, req.site) for p, product in enumerate(PRODUCTS) if product.jira_role]
    return Response(200, roles)


def application_role(app, req: Request) -> Response:
    for p, product in enumerate(PRODUCTS):
        if product.jira_role and product.key == req.params["key"]:
            return Response(200, render.application_role(app.state, p, req.site))
    raise jira_error(404, f"The application role {req.params['key']} does not exist")


def users_search(app, req: Request) -> Response:
    start = req.int_arg("startAt", 0, _bad)
    size = req.int_arg("maxResults", 50, _bad)
    if start < 0 or size < 0:
        raise _bad("startAt and maxResults must not be negative")
    visible = app.jira_visible()
    accounts = app.state.data.accounts
    chunk = visible[start : start + min(size, MAX_USERS_PAGE)]
    return Response(200, [render.jira_user(app.state, accounts[i], req.site) for i in chunk])


def user(app, req: Request) -> Response:
    a = app.state.account(req.arg("accountId") or "")
    if a is None:
        raise jira_error(404, f"User with accountId '{req.arg('accountId')}' does not exist")
    return Response(200, render.jira_user(app.state, a, req.site))


def user_groups(app, req: Request) -> Response:
    a = app.state.account(req.arg("accountId") or "")
    if a is None:
        raise jira_error(404, f"User with accountId '{req.arg('accountId')}' does not exist")
    groups = app.state.data.groups
    return Response(200, [render.jira_group_ref(groups[g], req.site) for g in a.groups])


def _group(app, req: Request):
    group_id, name = req.arg("groupId"), req.arg("groupname") or req.arg("groupName")
    if not group_id and not name:
        raise _bad("Either groupId or groupname must be provided")
    g = app.state.jira_group_by_id(group_id) if group_id else app.state.group_by_name(name)
    if g is None:
        raise jira_error(404, f"The group {group_id or name} does not exist")
    return g


def group_members(app, req: Request) -> Response:
    g = _group(app, req)
    start = req.int_arg("startAt", 0, _bad)
    size = req.int_arg("maxResults", 50, _bad)
    if start < 0 or size < 1:
        raise _bad("startAt must not be negative and maxResults must be positive")
    size = min(size, MAX_MEMBERS_PAGE)
    include_inactive = (req.arg("includeInactiveUsers") or "false").lower() == "true"
    state, accounts = app.state, app.state.data.accounts
    members = app.cached(
        f"members:{g.idx}:{include_inactive}",
        lambda: [i for i in sorted(g.members) if include_inactive or render.jira_active(state, accounts[i])],
    )
    chunk = members[start : start + size]
    last = start + size >= len(members)
    query = {"groupId": g.uuid, "includeInactiveUsers": str(include_inactive).lower()}
    url = f"{req.site}/rest/api/3/group/member"
    body = {
        "self": f"{url}?{urlencode({**query, 'startAt': start, 'maxResults': size})}",
        "maxResults": size,
        "startAt": start,
        "total": len(members),
        "isLast": last,
        "values": [render.jira_user(state, accounts[i], req.site, details=True) for i in chunk],
    }
    if not last:
        body["nextPage"] = f"{url}?{urlencode({**query, 'startAt': start + size, 'maxResults': size})}"
    return Response(200, body)


def group_bulk(app, req: Request) -> Response:
    start = req.int_arg("startAt", 0, _bad)
    size = min(max(req.int_arg("maxResults", 50, _bad), 1), 50)
    ids, names = set(req.query.get("groupId", [])), {n.lower() for n in req.query.get("groupName", [])}
    groups = [
        g
        for g in app.state.data.groups
        if not g.gone and (not ids or g.uuid in ids) and (not names or g.name.lower() in names)
    ]
    chunk = groups[start : start + size]
    return Response(
        200,
        {
            "maxResults": size,
            "startAt": start,
            "total": len(groups),
            "isLast": start + size >= len(groups),
            "values": [{"groupId": g.uuid, "name": g.name} for g in chunk],
        },
    )


def group_user_add(app, req: Request) -> Response:
    g = _group(app, req)
    account_id = req.json(_bad).get("accountId")
    if not isinstance(account_id, str) or not account_id:
        raise _bad("accountId is required")
    a = app.state.directory_user(account_id)
    if a is None:
        raise jira_error(404, f"User with accountId '{account_id}' does not exist")
    try:
        app.state.add_member(g, a)
    except StateError as exc:
        raise _bad(f"Cannot add user to group '{g.name}': {exc.detail}") from None
    return Response(201, render.jira_group(g, req.site))


def group_user_remove(app, req: Request) -> Response:
    g = _group(app, req)
    account_id = req.arg("accountId")
    if not account_id:
        raise _bad("accountId is required")
    a = app.state.directory_user(account_id)
    if a is None:
        raise jira_error(404, f"User with accountId '{quote(account_id)}' does not exist")
    try:
        app.state.remove_member(g, a)
    except StateError as exc:
        raise _bad(f"Cannot remove user from group '{g.name}': {exc.detail}") from None
    return Response(200)


J = "/rest/api/3"
ROUTES = [
    ("GET", J + "/applicationrole", application_roles, None),
    ("GET", J + "/applicationrole/{key}", application_role, None),
    ("GET", J + "/users/search", users_search, None),
    ("GET", J + "/users", users_search, None),
    ("GET", J + "/user", user, None),
    ("GET", J + "/user/groups", user_groups, None),
    ("GET", J + "/group/member", group_members, None),
    ("GET", J + "/group/bulk", group_bulk, None),
    ("POST", J + "/group/user", group_user_add, None),
    ("DELETE", J + "/group/user", group_user_remove, None),
]
