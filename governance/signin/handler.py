"""django-axes' database handler with the portal's two limits and an audit event per counted failure."""

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username

from governance.signin import lockouts
from governance.signin.services import signin_failure_record


class PortalAxesHandler(AxesDatabaseHandler):
    """``AXES_HANDLER``. Attempts are stored exactly as axes stores them; only the count differs.

    axes compares one count with one limit; the portal has a limit per username and a higher one
    per address (settings), so :meth:`get_failures` hands axes a figure that reaches
    ``AXES_FAILURE_LIMIT`` when either does (``Failures.for_axes``).
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        found = lockouts.failures(
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,
            now=request.axes_attempt_time,
        )
        request.portal_signin_failures = found
        return found.for_axes()

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        # axes sets the count only for a failure it counted: a sign-in refused during a lockout
        # (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT off) leaves it None and is not an event.
        if request is None or getattr(request, "axes_failures_since_start", None) is None:
            return
        signin_failure_record(
            username=get_client_username(request, credentials),
            client_ip=request.axes_ip_address,
            failures=request.portal_signin_failures,
            # Set by axes when this failure reached a limit: the lockout starts now.
            locked_out=bool(request.axes_locked_out),
        )
