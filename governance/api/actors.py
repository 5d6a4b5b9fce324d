"""Who an API write is recorded as."""

from governance.api.models import ApiToken
from governance.audit.models import ActorKind
from governance.audit.record import Actor


def api_actor(request) -> Actor:
    """The request's user with the API as the channel (``ActorKind.API``); a token's prefix is kept in
    the actor name, so each change can be traced to the token (and script) that made it."""
    user = request.user
    name = user.get_username()
    if isinstance(getattr(request, "auth", None), ApiToken):
        name = f"{name} (API token {request.auth.prefix})"
    client_ip = getattr(getattr(request, "_request", request), "client_ip", None) or request.META.get("REMOTE_ADDR")
    return Actor(kind=ActorKind.API, name=name, user=user, client_ip=client_ip or None)
