"""User management API (``https://api.atlassian.com/users/{account_id}/manage...``): managed accounts only.

Unknown accounts answer 404 ``{"key":"accountNotFound"}``; accounts the org does not manage
(unmanaged, app, customer) answer 403 ``{"key":"forbidden"}``. A delete the account is not eligible
for (an org admin, or one marked with ``state.refuse_deletion``) answers 409
``{"key":"conflict.lifecycleErrors","context":{"message","accountId","errorCodes":[{"code","message"}]}}``
as the document describes; the codes themselves are the simulator's (the document lists none).

Accounts provisioned by the identity provider (managed accounts of the IdP directory, whose v2
``managementSource`` is ``synced``) cannot be deactivated, enabled, deleted or restored here: the
lifecycle answers 403 ``{"key":"forbidden.action","context":{"allowed":false,"reason":{"key":
"externalDirectory.scim"}}}`` (the document's Forbidden.Action with its restriction reason
``externalDirectory.scim``: "the user is managed by an external SCIM directory"), and ``/manage``
says so for ``lifecycle.enablement`` and ``lifecycle.delete``.
"""

from datetime import UTC, datetime

from . import render
from .errors import Response, um_error
from .request import Request
from .state import SimulatorState, StateError

ALLOWED = {"allowed": True}
SCIM = {"allowed": False, "reason": {"key": "externalDirectory.scim"}}
PROFILE_FIELDS = ("name", "nickname", "zoneinfo", "locale", "job_title", "organization", "department", "location")


def _managed(app, req: Request):
    a = app.state.account(req.params["accountId"])
    if a is None:
        raise um_error(404, "accountNotFound")
    if a.kind != "atlassian" or not a.managed:
        raise um_error(403, "forbidden")
    return a


def _scim_managed(a) -> bool:
    """Provisioned by the identity provider (the v2 ``managementSource: synced``)."""
    return SimulatorState.management_source(a) == "synced"


def _lifecycle_target(app, req: Request):
    """The managed account of a lifecycle call; one the IdP provisions is refused as documented."""
    a = _managed(app, req)
    if _scim_managed(a):
        raise um_error(403, "forbidden.action", SCIM)
    return a


def manage(app, req: Request) -> Response:
    a = _managed(app, req)
    synced = _scim_managed(a)
    field_rule = SCIM if synced else ALLOWED
    profile = dict.fromkeys(PROFILE_FIELDS, field_rule)
    enablement = SCIM if synced else ALLOWED
    if a.deletion_at is not None and not synced:
        enablement = {"allowed": False, "reason": {"key": "administrative"}}
    return Response(
        200,
        {
            "profile": profile,
            "profile.write": profile,
            "profile.read": ALLOWED,
            "email.set": field_rule,
            "lifecycle.enablement": enablement,
            "lifecycle.delete": SCIM if synced else ALLOWED,
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
    app.state.disable(_lifecycle_target(app, req))
    return Response(204)


def enable(app, req: Request) -> Response:
    try:
        app.state.enable(_lifecycle_target(app, req))
    except StateError:
        raise um_error(403, "forbidden.action", {"allowed": False, "reason": {"key": "administrative"}}) from None
    return Response(204)


def delete(app, req: Request) -> Response:
    a = _lifecycle_target(app, req)
    refusals = app.state.delete_refusals(a)
    if refusals:
        context = {"message": "This account isn't eligible for deletion", "accountId": a.account_id}
        raise um_error(409, "conflict.lifecycleErrors", {**context, "errorCodes": refusals})
    when = app.state.schedule_deletion(a)
    day = datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%d")
    return Response(200, {"message": f"The account is deactivated and will be deleted on {day}"})


def cancel_delete(app, req: Request) -> Response:
    app.state.cancel_deletion(_lifecycle_target(app, req))
    return Response(200, {"message": "The account deletion was cancelled and the account is active again"})


ROUTES = [
    ("GET", "/users/{accountId}/manage", manage, None),
    ("GET", "/users/{accountId}/manage/profile", profile, None),
    ("POST", "/users/{accountId}/manage/lifecycle/disable", disable, None),
    ("POST", "/users/{accountId}/manage/lifecycle/enable", enable, None),
    ("POST", "/users/{accountId}/manage/lifecycle/delete", delete, None),
    ("POST", "/users/{accountId}/manage/lifecycle/cancel-delete", cancel_delete, None),
]
