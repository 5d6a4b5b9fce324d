"""User management API (``https://api.atlassian.com/users/{account_id}/manage...``): managed accounts only.

Unknown accounts answer 404 ``{"key":"accountNotFound"}``; accounts the org does not manage
(unmanaged, app, customer) answer 403 ``{"key":"forbidden"}``. A delete the account is not eligible
for (an org admin, or one marked with ``state.refuse_deletion``) answers 409
``{"key":"conflict.lifecycleErrors","context":{"message","accountId","errorCodes":[{"code","message"}]}}``
as the document describes; the codes themselves are the simulator's (the document lists none).
"""

from datetime import UTC, datetime

from . import render
from .errors import Response, um_error
from .request import Request
from .state import StateError

ALLOWED = {"allowed": True}
PROFILE_FIELDS = ("name", "nickname", "zoneinfo", "locale", "job_title", "organization", "department", "location")


def _managed(app, req: Request):
    a = app.state.account(req.params["accountId"])
    if a is None:
        raise um_error(404, "accountNotFound")
    if a.kind != "atlassian" or not a.managed:
        raise um_error(403, "forbidden")
    return a


def manage(app, req: Request) -> Response:
    a = _managed(app, req)
    synced = a.directory == 1
    field_rule = {"allowed": False, "reason": {"key": "externalDirectory.scim"}} if synced else ALLOWED
    profile = dict.fromkeys(PROFILE_FIELDS, field_rule)
    enablement = ALLOWED
    if a.deletion_at is not None:
        enablement = {"allowed": False, "reason": {"key": "administrative"}}
    return Response(
        200,
        {
            "profile": profile,
            "profile.write": profile,
            "profile.read": ALLOWED,
            "email.set": field_rule,
            "lifecycle.enablement": enablement,
            "lifecycle.delete": ALLOWED,
            "apiToken.read": ALLOWED,
            "apiToken.delete": ALLOWED,
        },
    )


def profile(app, req: Request) -> Response:
    a = _managed(app, req)
    state = app.state
    city, zone = render.location(a, state.data.seed)
    v2 = render.v2_user(state, a, details=True)
    account = {
        "account_id": a.account_id,
        "account_type": "atlassian",
        "account_status": state.account_status(a),
        "name": a.name,
        "picture": render.avatar(a, 48),
        "email": a.email or "",
        "nickname": a.nickname,
        "zoneinfo": zone,
        "locale": "en-US",
        "extended_profile": {
            "job_title": v2.get("jobTitle", ""),
            "organization": state.data.org_name,
            "department": v2.get("department", ""),
            "location": city,
        },
    }
    return Response(200, {"account": account})


def disable(app, req: Request) -> Response:
    app.state.disable(_managed(app, req))
    return Response(204)


def enable(app, req: Request) -> Response:
    try:
        app.state.enable(_managed(app, req))
    except StateError:
        raise um_error(403, "forbidden.action", {"allowed": False, "reason": {"key": "administrative"}}) from None
    return Response(204)


def delete(app, req: Request) -> Response:
    a = _managed(app, req)
    refusals = app.state.delete_refusals(a)
    if refusals:
        context = {"message": "This account isn't eligible for deletion", "accountId": a.account_id}
        raise um_error(409, "conflict.lifecycleErrors", {**context, "errorCodes": refusals})
    when = app.state.schedule_deletion(a)
    day = datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%d")
    return Response(200, {"message": f"The account is deactivated and will be deleted on {day}"})


def cancel_delete(app, req: Request) -> Response:
    app.state.cancel_deletion(_managed(app, req))
    return Response(200, {"message": "The account deletion was cancelled and the account is active again"})


ROUTES = [
    ("GET", "/users/{accountId}/manage", manage, None),
    ("GET", "/users/{accountId}/manage/profile", profile, None),
    ("POST", "/users/{accountId}/manage/lifecycle/disable", disable, None),
    ("POST", "/users/{accountId}/manage/lifecycle/enable", enable, None),
    ("POST", "/users/{accountId}/manage/lifecycle/delete", delete, None),
    ("POST", "/users/{accountId}/manage/lifecycle/cancel-delete", cancel_delete, None),
]
