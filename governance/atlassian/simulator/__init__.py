"""A faithful local simulator of the Atlassian Cloud APIs the portal uses (DESIGN.md section 7).

One base URL serves the Admin API (v1 and v2), the User management API and Jira platform v3, over
real HTTP, with state that changes on writes, a deterministic seeded organization of any size and
scriptable faults::

    from governance.atlassian.simulator import Simulator, SimulatorConfig

    with Simulator(SimulatorConfig(users=50, groups=8, seed=7)) as sim:
        base = sim.base_url                      # http://127.0.0.1:<port>
        sim.state.user(account_id)               # snapshot of one account
        sim.faults.fail_next(2, status=503, path_contains="/users/search", retry_after=1)

Choices where Atlassian's documents leave room (see ``atlassian/API.md`` section 9):
- ``--users N`` counts directory members; app accounts (~1%) and portal customers (~3%) come on
  top and exist only in Jira ``users/search`` (the v2 ``accountType`` enum only knows atlassian).
- ``platformRoles``, ``productAccess``, ``groups`` and ``counts`` come back only when expanded in
  the v2 search; user details always carry ``platformRoles`` and ``counts``.
- Removing a user from the directory (v2 DELETE) hides them from v2; a managed account still lists
  in v1 ``/users`` (without product access), and Jira shows them with ``active: false``.
- Group details (``GET .../groups/{groupId}``) carry no ``counts``: the document types that field
  as ``GroupCounts``, which no validator accepts; use the group search with ``counts.users``.
- Jira ``active`` is true only for directory users whose v2 status is active (suspended,
  deactivated, for-deletion and removed users are ``active: false``); hidden emails are omitted.
- Errors on v2 write endpoints documented without a body carry the ``Errors`` JSON.
- With ``SimulatorConfig.now`` set, the clock is frozen there until ``state.advance_time()``.
- A gateway 401 is ``{"code":401,"message":"Unauthorized"}`` on the Admin API; the User management
  API answers ``{"key":"unauthorized"}`` as its document says.
"""

from .config import SimulatorConfig
from .faults import Faults
from .server import Simulator
from .snapshots import GroupInfo, UserInfo
from .state import SimulatorState

__all__ = ["Faults", "GroupInfo", "Simulator", "SimulatorConfig", "SimulatorState", "UserInfo"]
