"""A faithful local simulator of the Atlassian Cloud APIs the portal uses (DESIGN.md section 7).

One base URL serves the Admin API (v1 and v2), the User management API and Jira platform v3, over
real HTTP, with state that changes on writes, a deterministic seeded organization of any size and
scriptable faults::

    from governance.atlassian.simulator import Simulator, SimulatorConfig

    with Simulator(SimulatorConfig(users=50, groups=8, seed=7)) as sim:
        base = sim.base_url                      # http://127.0.0.1:<port>
        sim.state.user(account_id)               # snapshot of one account
        sim.faults.fail_next(2, status=503, path_contains="/users/search", retry_after=1)

Choices where Atlassian's documents leave room (see ``atlassian/API.md`` section 9); each is
UNCONFIRMED on a real organization (``manage.py check_atlassian`` reports what a real one does):
- ``--users N`` counts directory members; app accounts (~1%) and portal customers (~3%) come on
  top and exist only in Jira ``users/search`` (the v2 ``accountType`` enum only knows atlassian),
  and so do managed accounts in no directory (~1%, at least one), which the v2 listing and count
  over ``-`` include (``users/count``: "including managed accounts that aren't in a directory")
  as ``not_invited``. A managed account removed from its directory stays listed so.
- Group ids: the group search, details and group paths spell them as ``group_id_form`` says
  (``ari`` or ``uuid``), a user's ``groups`` always as ARIs, Jira as bare ids (the documents'
  examples show both forms); an id in another form than the endpoint's names no group (404).
- The products of the documents' role-assignment list beside the older four: Jira Product
  Discovery (also a Jira application role), Loom, Compass, and Rovo (whose key and resource the
  documents do not give; role assignment refuses it). They are direct roles, often never opened
  (access without ``lastActiveTimestamp``). The Admin v1 answers leave them out: their product
  enum lacks them. Bitbucket's resource is a workspace ARI. ``sandbox_site`` adds a second Jira
  site under the same product key.
- Deleting an org admin answers 409 ``conflict.lifecycleErrors`` (the document gives the shape,
  not the codes: ``ORG_ADMIN``, and ``ENTITLEMENT_OWNER`` via ``state.refuse_deletion``).
- An expired org API key (``faults.expire_api_key()``) is refused like a wrong one (401).
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
