"""Organizations (Admin) API v1: orgs, managed accounts, last-active dates, user roles (snake_case JSON).

Error codes as each endpoint documents them: the user-role endpoints answer with ADMIN-UAM codes
(400 ADMIN-UAM-400-1 or -400-3, 404 ADMIN-UAM-404-3, 409 ADMIN-UAM-409-3), last-active-dates with
ADMIN-400-4 and ADMIN-404-8. The v1 list's ``links.next`` is a full URL with ``?cursor=``.

A ``roles/revoke`` of a role the user does not hold answers 204, as a real one does: the document
gives 404 ADMIN-UAM-404-3 for an unknown organization, user or group only, and no error for "no such
role assignment". So a revoke that changed nothing looks like success; the portal reads the role
assignments back after each revoke to tell (accounts/services/memberships.py).
"""

from urllib.parse import quote

from . import render
from .errors import (
    INVALID_RESOURCE,
    ROLE_LICENCE_LIMIT,
    UAM_BAD_REQUEST,
    UAM_INVALID_ROLE,
    UAM_NOT_FOUND,
    Response,
    admin_error,
)
from .handlers_admin import NO_CONTENT, bad_cursor, bad_request, role_body, user_not_found
from .paging import BadCursor, page_after
from .request import Request
from .state import ORG_ADMIN, StateError


def orgs(app, req: Request) -> Response:
    base = f"{req.base}/admin/v1/orgs"
    return Response(200, {"data": [render.v1_org(app.state, req.base)], "links": {"self": base}})


def org(app, req: Request) -> Response:
    return Response(200, {"data": render.v1_org(app.state, req.base)})


def v1_users(app, req: Request) -> Response:
    state = app.state
    accounts = state.data.accounts
    url = f"{req.base}/admin/v1/orgs/{quote(state.org_id, safe='')}/users"
    token = req.arg("cursor")
    after = -1
    if token is not None:
        try:
            after = app.codec.decode(token, "v1-users")["p"]
        except BadCursor:
            raise bad_cursor() from None

    def managed(i: int) -> bool:
        a = accounts[i]
        return a.kind == "atlassian" and a.managed and not a.gone

    items, following = page_after(range(len(accounts)), after, app.config.v1_page_size, managed)
    total = app.total_managed()
    links = {"self": url if token is None else f"{url}?cursor={quote(token)}"}
    if following is not None:
        links["next"] = f"{url}?cursor={quote(app.codec.encode({'k': 'v1-users', 'p': following}))}"
    data = [render.v1_user(state, accounts[i], req.base) for i in items]
    return Response(200, {"data": data, "meta": {"total": total}, "links": links})


def last_active_dates(app, req: Request) -> Response:
    a = app.state.directory_user(req.params["accountId"])
    if a is None:
        raise user_not_found()
    if req.arg("cursor") not in (None, ""):
        # The endpoint documents ADMIN-400-4 as its only 400 code: the simulator never pages it.
        raise admin_error(400, INVALID_RESOURCE, "The cursor is invalid")
    return Response(200, render.last_active_dates(app.state, a))


def _v1_role(app, req: Request, assign: bool, org_level: bool) -> Response:
    a = app.state.directory_user(req.params["userId"])
    if a is None:
        raise admin_error(404, UAM_NOT_FOUND, "User not found")
    role, product = role_body(app, req, "role", "resource", codes=(UAM_BAD_REQUEST, UAM_BAD_REQUEST))
    if org_level and role != ORG_ADMIN:
        raise bad_request("Only atlassian/org-admin can be assigned at the organization level", UAM_INVALID_ROLE)
    try:
        if assign:
            app.state.assign_role(a, role, product)
        else:
            app.state.revoke_role(a, role, product)
    except StateError as exc:
        raise admin_error(409, ROLE_LICENCE_LIMIT, exc.detail) from None
    return Response(NO_CONTENT)


def role_assign(app, req: Request) -> Response:
    return _v1_role(app, req, True, False)


def role_revoke(app, req: Request) -> Response:
    return _v1_role(app, req, False, False)


def org_role_assign(app, req: Request) -> Response:
    return _v1_role(app, req, True, True)


def org_role_revoke(app, req: Request) -> Response:
    return _v1_role(app, req, False, True)


V1 = "/admin/v1/orgs/{orgId}"
LAST_ACTIVE = "last-active"
# (method, path, handler, rate-limit bucket)
ROUTES = [
    ("GET", "/admin/v1/orgs", orgs, None),
    ("GET", V1, org, None),
    ("GET", V1 + "/users", v1_users, None),
    ("GET", V1 + "/directory/users/{accountId}/last-active-dates", last_active_dates, LAST_ACTIVE),
    ("POST", V1 + "/users/{userId}/roles/assign", role_assign, None),
    ("POST", V1 + "/users/{userId}/roles/revoke", role_revoke, None),
    ("POST", V1 + "/users/{userId}/role-assignments/assign", org_role_assign, None),
    ("POST", V1 + "/users/{userId}/role-assignments/revoke", org_role_revoke, None),
]
