"""The Atlassian endpoints the portal uses, as typed methods on :class:`AtlassianClient`.

Three auth/base-URL families share one session:

- Admin API (``{api_base}/admin/v1|v2/orgs/{orgId}/...``) and User management lifecycle
  (``{api_base}/users/{accountId}/manage/lifecycle/...``): ``Authorization: Bearer <org API key>``.
- Jira (``{site_url}/rest/api/3/...``, or the gateway ``{api_base}/ex/jira/{cloudId}`` that scoped
  tokens need): HTTP Basic with the account email and API token.

Reads stream page by page; writes are sent once (retried only on 429/503, when Atlassian refused
before acting) and raise :class:`AtlassianError` on failure. Retries, pacing and error parsing
live in :mod:`.transport`, page walking in :mod:`.paging`, JSON-to-record mapping in :mod:`.mappers`.

Group ids: records carry the canonical bare UUID (``governance.atlassian.groupids``). A path that
names a group spells it in ``group_id_form``, the form the group search uses: given by the caller
(the organization remembers what its last sync saw) and learnt again whenever the groups are
listed. Unknown, the id goes as given. Jira always gets the bare UUID.

Directories: ``-`` ("every directory I can manage") is for reads only. The documents tell writes
(suspend, restore, remove, memberships, group roles) to name a directory id from the directories
endpoint, so every write method takes ``directory_id`` and refuses ``-`` or nothing before sending
(DESIGN.md 5.12).
"""

import copy
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import urlsplit

import requests

from governance.atlassian.errors import AtlassianError
from governance.atlassian.groupids import FORMS, canonical_group_id, group_id_as
from governance.atlassian.records import (
    ApplicationRole,
    CallStats,
    DirectoryGroup,
    DirectoryUser,
    GroupRoleAssignment,
    JiraUser,
    LastActiveDates,
    ProductActivity,
    UserRoleAssignment,
)

from . import mappers, paging
from .bodies import ShapeError, json_body, shape_guard
from .pace import Pacer
from .read_batcher import USER_SEARCH_EMAILS, USER_SEARCH_IDS, UserReadBatcher
from .transport import BasicAuth, BearerAuth, Call, RetryPolicy, Secret, Transport, secrets_of
from .urls import checked_base, join_segments, origin, segment

log = logging.getLogger("governance.atlassian")

DEFAULT_USER_AGENT = "atlassian-governance-portal/0.1 (python-requests)"
ADMIN_PAGE_LIMIT = 100  # v2 `limit` is 1-100
JIRA_GROUP_MEMBER_LIMIT = 50  # /group/member maxResults is 1-50

# A 409 from "add to group" means either "already a member" (harmless: the goal is reached) or
# "user limit exceeded for an app the group grants" (must surface). Atlassian documents both
# under the same status with no body schema, so we look at what the body says: the licence
# limit's codes end in 409-3 (ADMIN-409-3, ADMIN-UAM-409-3), and any mention of a limit, licence,
# seat or quota wins over "already". Only a body that positively says "already" counts as success;
# an empty or unrecognised 409 is raised, because guessing "already a member" could hide a
# failed grant.
_LIMIT_WORDS = ("limit", "licen", "seat", "quota", "exceed")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def is_already_member_conflict(error: AtlassianError) -> bool:
    """True when a 409 from a membership add says the user is already in the group."""
    if error.status != 409:
        return False
    code = (error.code or "").upper()
    if code.endswith("409-3"):
        return False
    text = f"{error.code or ''} {error.message}".lower()
    if any(word in text for word in _LIMIT_WORDS):
        return False
    return "already" in text


class AtlassianClient:
    """A thin, typed client for the Atlassian Admin, User management and Jira REST APIs.

    Construct with keyword arguments only. ``sleep``, ``clock``, ``now`` and ``rng`` are seams for
    tests: nothing in here reads the wall clock or sleeps except through them. Use as a context
    manager, or call :meth:`close`, to release the session's connections.
    """

    def __init__(
        self,
        *,
        org_id: str,
        api_key: str,
        api_base: str = "https://api.atlassian.com",
        site_url: str | None = None,
        jira_email: str | None = None,
        jira_api_token: str | None = None,
        cloud_id: str | None = None,
        directory_id: str = "-",
        group_id_form: str | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 6,
        max_total_wait: float = 300.0,
        page_size: int = 100,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
        session: requests.Session | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        rng: random.Random | None = None,
    ):
        if not org_id or not api_key:
            raise ValueError("org_id and api_key are required")
        if page_size < 1 or max_attempts < 1 or max_total_wait < 0:
            raise ValueError("page_size and max_attempts must be at least 1, max_total_wait not negative")
        if group_id_form not in (None, "", *FORMS):
            raise ValueError(f"group_id_form must be one of {', '.join(FORMS)}")
        self.org_id = org_id
        self.directory_id = directory_id
        self.group_id_form = group_id_form or None
        self.page_size = page_size
        self.api_base = checked_base(api_base, "api_base")
        self.jira_base = self._jira_base(site_url, cloud_id)
        self._admin_auth = BearerAuth(Secret(api_key))
        self._jira_auth = BasicAuth(jira_email, Secret(jira_api_token)) if jira_email and jira_api_token else None
        self._owns_session = session is None
        self._reads: UserReadBatcher | None = None
        # What another process needs to make the same Admin API calls (process_options): only for
        # a client on its own session whose seams are the real ones, which a test's are not.
        portable = session is None and rng is None and (sleep, clock, now) == (time.sleep, time.monotonic, _utcnow)
        self._portable_options: dict[str, Any] | None = (
            dict(
                org_id=org_id,
                api_key=Secret(api_key),
                api_base=self.api_base,
                directory_id=directory_id,
                group_id_form=self.group_id_form,
                timeout=timeout,
                max_attempts=max_attempts,
                max_total_wait=max_total_wait,
                page_size=page_size,
                user_agent=user_agent,
            )
            if portable
            else None
        )
        self._transport = Transport(
            session=session if session is not None else requests.Session(),
            timeout=timeout,
            policy=RetryPolicy(max_attempts=max_attempts, max_total_wait=max_total_wait),
            sleep=sleep,
            clock=clock,
            now=now,
            user_agent=user_agent,
            secrets=secrets_of([api_key, jira_api_token, self._jira_auth.encoded() if self._jira_auth else None]),
            rng=rng or random.Random(),
        )

    def _jira_base(self, site_url: str | None, cloud_id: str | None) -> str | None:
        if site_url:
            return checked_base(site_url, "site_url")
        if cloud_id:
            return f"{self.api_base}/ex/jira/{segment(cloud_id)}"
        return None

    @property
    def stats(self) -> CallStats:
        """Counters for every HTTP request this client sent: requests, retries, waits, statuses."""
        return self._transport.stats

    @property
    def can_fork(self) -> bool:
        """Whether :meth:`fork` is available: not for a client built on a caller's ``session``."""
        return self._owns_session

    def fork(self, *, pacer: Pacer | None = None, reads: UserReadBatcher | None = None) -> Self:
        """The same client, for another thread: its own HTTP session, counters and pacing.

        Settings, credentials, retry policy, clock, sleep and user agent are shared; a
        ``requests.Session`` is not meant to be used from several threads at once. Close the fork
        when done and count its calls with ``client.stats.add(fork.stats)``. With ``pacer`` (the
        organization's, :func:`.pace.shared_pacer`), the fork's requests are paced by it, together
        with those of the other workers sharing it. With ``reads`` (one per pool), the forks'
        :meth:`user_by_id` calls made at the same moment go out together (:mod:`.read_batcher`).
        """
        if not self._owns_session:
            raise ValueError("a client built on a caller's session cannot be forked")
        twin = copy.copy(self)
        twin._transport = dataclasses.replace(
            self._transport,
            session=requests.Session(),
            stats=CallStats(),
            rng=random.Random(self._transport.rng.random()),
            rate_limit_headers={},
            _not_before={},
            pacer=pacer,
        )
        twin._reads = reads
        if pacer is not None or reads is not None:  # shared with other threads of this process
            twin._portable_options = None
        return twin

    def process_options(self) -> dict[str, Any] | None:
        """Keyword arguments that build this client's Admin API side in another process (a large
        sync's user listing, accounts/sync/listing_process.py): the org API key (revealed: the
        caller hands it over a pipe, never a command line or an environment), its settings, no
        Jira credentials. None for a client on a caller's session or with the caller's ``sleep``,
        ``clock``, ``now`` or ``rng``: those cannot cross to another process."""
        if self._portable_options is None:
            return None
        options = dict(self._portable_options)
        options["api_key"] = options["api_key"].reveal()
        return options

    def close(self) -> None:
        """Release pooled connections (only when the client created its own session)."""
        if self._owns_session:
            self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AtlassianClient(org_id={self.org_id!r}, api_base={self.api_base!r})"

    # -- Admin v2: users and groups ----------------------------------------------------------------

    def iter_user_pages(self, *, expand: Iterable[str] = ("productAccess", "groups")) -> Iterator[list[DirectoryUser]]:
        """Every directory user, one page at a time (v2 ``POST .../directories/{dir}/users/search``)."""
        body: dict[str, Any] = {"limit": self._admin_limit}
        if expand := list(expand):
            body["expand"] = expand
        url = self._directory_url(None, "users", "search")
        yield from self._search_pages(url, body, mappers.directory_user_v2, key=_item_key("accountId"))

    def iter_users(self, *, expand: Iterable[str] = ("productAccess", "groups")) -> Iterator[DirectoryUser]:
        """Every directory user, flattened from :meth:`iter_user_pages`."""
        for page in self.iter_user_pages(expand=expand):
            yield from page

    def iter_directory_account_ids(self, directory_id: str) -> Iterator[list[str]]:
        """The account ids of one directory's members, a page at a time (v2 ``POST
        .../directories/{directoryId}/users/search``, nothing expanded): the user records carry no
        directory, so listing each directory is how a sync learns who is in which."""
        url = self._directory_url(directory_id, "users", "search")
        body = {"limit": self._admin_limit}
        yield from self._search_pages(url, body, _account_id_of, key=_item_key("accountId"))

    def user_by_id(
        self,
        account_id: str,
        *,
        expand: Iterable[str] = ("productAccess", "groups", "platformRoles"),
        directory_id: str | None = None,
    ) -> DirectoryUser | None:
        """One directory user as the search maps it, or None when the search does not list them
        (v2 ``POST .../users/search`` with ``accountIds=[id]``): the same record a sync reads, so a
        service can make the mirror equal Atlassian for that account right after changing it.
        With ``directory_id``, only a member of that directory is found.

        A client forked for a pool of workers (:meth:`fork` with ``reads``) sends the ids its
        workers ask for at the same moment together, up to ten in one search."""
        expand = tuple(expand)
        if self._reads is not None:
            return self._reads.user(self, account_id, expand=expand, directory_id=directory_id)
        return self.users_by_ids([account_id], expand=expand, directory_id=directory_id).get(account_id)

    def users_by_ids(
        self,
        account_ids: Sequence[str],
        *,
        expand: Iterable[str] = ("productAccess", "groups", "platformRoles"),
        directory_id: str | None = None,
    ) -> dict[str, DirectoryUser]:
        """The directory users with these ids (at most ``USER_SEARCH_IDS``), by id, as one search
        (``accountIds``) returns them; an id the search does not list is left out."""
        ids = list(dict.fromkeys(account_ids))
        if not 1 <= len(ids) <= USER_SEARCH_IDS:
            raise ValueError(f"between 1 and {USER_SEARCH_IDS} account ids, not {len(ids)}")
        # One record per id: the first page holds them all (a single id keeps the request it always sent).
        limit = 1 if len(ids) == 1 else ADMIN_PAGE_LIMIT
        return self._users_where({"accountIds": ids}, set(ids), expand, directory_id, limit=limit, pages=1)

    def users_by_emails(
        self,
        emails: Sequence[str],
        *,
        expand: Iterable[str] = ("productAccess", "groups", "platformRoles"),
        directory_id: str | None = None,
    ) -> dict[str, DirectoryUser]:
        """The directory users with these email addresses (at most ``USER_SEARCH_EMAILS``), by
        account id, as one search (``emails``) returns them. Atlassian matches the addresses, not
        the caller: which account a record is comes from its id, never from its email."""
        wanted = list(dict.fromkeys(emails))
        if not 1 <= len(wanted) <= USER_SEARCH_EMAILS:
            raise ValueError(f"between 1 and {USER_SEARCH_EMAILS} emails, not {len(wanted)}")
        return self._users_where({"emails": wanted}, None, expand, directory_id, limit=ADMIN_PAGE_LIMIT)

    def _users_where(
        self,
        where: dict[str, Any],
        ids: set[str] | None,
        expand: Iterable[str],
        directory_id: str | None,
        *,
        limit: int,
        pages: int | None = None,
    ) -> dict[str, DirectoryUser]:
        body: dict[str, Any] = {**where, "limit": limit}
        if expand := list(expand):
            body["expand"] = expand
        url = self._directory_url(directory_id, "users", "search")
        found: dict[str, DirectoryUser] = {}
        pages_read = self._search_pages(url, body, mappers.directory_user_v2, key=_item_key("accountId"))
        for number, page in enumerate(pages_read):
            for user in page:
                if ids is None or user.account_id in ids:
                    found[user.account_id] = user
            if pages is not None and number + 1 >= pages:
                break
        return found

    def count_users(self) -> int:
        """How many users the default search covers (v2 ``GET .../users/count``).

        The search's pages carry no total; comparing what a listing brought with this count is the
        only way to notice a cursor that skipped users (API.md 2.5 (e)).
        """
        call = Call("GET", self._directory_url(None, "users", "count"), self._admin_auth)
        body = self._json(call)
        with shape_guard(call.method, call.path):
            count = paging.require_mapping(body, "response").get("count")
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ShapeError("count is not a non-negative integer")
            return count

    @property
    def rate_limit_headers(self) -> dict[str, dict[str, str]]:
        """The rate-limit headers of the newest response from each origin (``scheme://host``)."""
        return self._transport.rate_limit_headers

    def organization(self) -> dict[str, str]:
        """The organization's id and name (v1 ``GET /orgs/{orgId}``): the cheapest proof the key works."""
        call = Call("GET", f"{self.api_base}/admin/v1/orgs/{segment(self.org_id)}", self._admin_auth)
        body = self._json(call)
        with shape_guard(call.method, call.path):
            data = paging.require_mapping(paging.require_mapping(body, "response").get("data"), "data")
            attributes = data.get("attributes")
            name = attributes.get("name") if isinstance(attributes, Mapping) else None
            return {"id": mappers.required_str(data, "id"), "name": name if isinstance(name, str) else ""}

    def directories(self) -> list[dict[str, str]]:
        """The organization's directories, ``{"id", "name"}`` each (v2 ``GET /orgs/{orgId}/directories``)."""
        url = f"{self.api_base}/admin/v2/orgs/{segment(self.org_id)}/directories"

        def directory(item: Mapping[str, Any]) -> dict[str, str]:
            return {"id": mappers.required_str(item, "directoryId"), "name": mappers.optional_str(item, "name") or ""}

        return [item for page in self._get_cursor_pages(url, directory) for item in page]

    def iter_group_pages(self) -> Iterator[list[DirectoryGroup]]:
        """Every group with its user count, one page at a time (v2 ``POST .../groups/search``).

        The ids' spelling is noted as ``group_id_form``: later paths naming a group use it.
        """
        body = {"limit": self._admin_limit, "expand": ["counts.users"]}
        url = self._directory_url(None, "groups", "search")
        for page in self._search_pages(url, body, mappers.directory_group, key=_item_key("id")):
            if page:
                self.group_id_form = page[0].id_form
            yield page

    def iter_groups(self) -> Iterator[DirectoryGroup]:
        """Every group, flattened from :meth:`iter_group_pages`."""
        for page in self.iter_group_pages():
            yield from page

    def group_role_assignments(self, group_id: str, *, directory_id: str | None = None) -> list[GroupRoleAssignment]:
        """The product roles a group grants (v2 ``GET .../groups/{groupId}/role-assignments``)."""
        url = self._directory_url(directory_id, "groups", self._group(group_id), "role-assignments")
        return [item for page in self._get_cursor_pages(url, mappers.group_role_assignment) for item in page]

    def user_role_assignments(self, account_id: str, *, directory_id: str | None = None) -> list[UserRoleAssignment]:
        """The product roles a user holds and how (v2 ``GET .../users/{accountId}/role-assignments``)."""
        url = self._directory_url(directory_id, "users", account_id, "role-assignments")
        return [item for page in self._get_cursor_pages(url, mappers.user_role_assignment) for item in page]

    # -- Admin v1: managed accounts and activity ---------------------------------------------------

    def iter_managed_account_pages(self) -> Iterator[list[DirectoryUser]]:
        """Managed accounts (verified domains only), one page at a time (v1 ``GET /orgs/{orgId}/users``)."""
        url = self._admin_url("v1", "users")
        with shape_guard("GET", urlsplit(url).path):
            for body in self._next_link_pages(url):
                yield [mappers.directory_user_v1(item) for item in paging.data_list(body)]

    def iter_managed_accounts(self) -> Iterator[DirectoryUser]:
        """Managed accounts, flattened from :meth:`iter_managed_account_pages`."""
        for page in self.iter_managed_account_pages():
            yield from page

    def last_active_dates(self, account_id: str) -> LastActiveDates:
        """Per-product last activity of one user (v1 ``GET .../directory/users/{id}/last-active-dates``).

        All pages are merged; a product listed twice keeps its latest activity.
        """
        url = self._admin_url("v1", "directory", "users", account_id, "last-active-dates")
        products: dict[tuple[str, str], ProductActivity] = {}
        added: datetime | None = None
        with shape_guard("GET", urlsplit(url).path):
            for body in self._next_link_pages(url):
                data = paging.require_mapping(body.get("data"), "data")
                added = added or mappers.last_active_added(data)
                for product in mappers.last_active_products(data):
                    _keep_latest(products, product)
        return mappers.last_active_dates(account_id, added, list(products.values()))

    # -- Jira ------------------------------------------------------------------------------------

    def application_roles(self) -> list[ApplicationRole]:
        """Jira application roles (licences) with seats and licensed groups (``GET /applicationrole``)."""
        call = Call("GET", self._jira_url("applicationrole"), self._jira())
        body = self._json(call)
        with shape_guard(call.method, call.path):
            return [mappers.application_role(item) for item in paging.item_list(body, "response")]

    def iter_jira_user_pages(self) -> Iterator[list[JiraUser]]:
        """All Jira users, apps and customers included, one page at a time (``GET /users/search``)."""
        url = self._jira_url("users", "search")

        def fetch(start_at: int) -> Any:
            params = {"startAt": start_at, "maxResults": self.page_size}
            return self._json(Call("GET", url, self._jira(), params=params))

        with shape_guard("GET", urlsplit(url).path):
            for page in paging.start_at_array_pages(fetch):
                yield [mappers.jira_user(item) for item in page]

    def iter_jira_users(self) -> Iterator[JiraUser]:
        """All Jira users, flattened from :meth:`iter_jira_user_pages`."""
        for page in self.iter_jira_user_pages():
            yield from page

    def iter_jira_group_members(self, group_id: str, *, include_inactive: bool = False) -> Iterator[JiraUser]:
        """Members of a Jira group by id (``GET /group/member``), page bean by page bean."""
        url = self._jira_url("group", "member")
        size = min(self.page_size, JIRA_GROUP_MEMBER_LIMIT)

        def fetch(start_at: int) -> Any:
            params = {
                "groupId": canonical_group_id(group_id),  # Jira knows the bare id only
                "includeInactiveUsers": "true" if include_inactive else "false",
                "startAt": start_at,
                "maxResults": size,
            }
            return self._json(Call("GET", url, self._jira(), params=params))

        with shape_guard("GET", urlsplit(url).path):
            for page in paging.start_at_bean_pages(fetch):
                yield from (mappers.jira_user(item) for item in page)

    # -- Admin v2 writes: directory users and group memberships ------------------------------------

    def user_suspend(self, account_id: str, *, directory_id: str | None) -> None:
        """Suspend a user's access in a directory; roles and groups are kept (v2 ``.../suspend``)."""
        self._write("POST", self._write_url(directory_id, "users", account_id, "suspend"))

    def user_restore(self, account_id: str, *, directory_id: str | None) -> None:
        """Restore a suspended user's access in a directory (v2 ``.../restore``)."""
        self._write("POST", self._write_url(directory_id, "users", account_id, "restore"))

    def user_remove(self, account_id: str, *, directory_id: str | None) -> None:
        """Remove a user from a directory; roles and groups are lost (v2 ``DELETE .../users/{id}``)."""
        self._write("DELETE", self._write_url(directory_id, "users", account_id))

    def group_membership_add(self, group_id: str, account_id: str, *, directory_id: str | None) -> None:
        """Add a user to a group. Already being a member counts as success; a licence-limit 409 raises."""
        url = self._write_url(directory_id, "groups", self._group(group_id), "memberships")
        try:
            self._write("POST", url, json={"accountId": account_id})
        except AtlassianError as exc:
            if not is_already_member_conflict(exc):
                raise
            log.info("POST %s: user already a member, nothing to do", exc.path)

    def group_membership_remove(self, group_id: str, account_id: str, *, directory_id: str | None) -> None:
        """Remove a user from a group. A 404 (not a member, or no such group) raises: the caller decides."""
        url = self._write_url(directory_id, "groups", self._group(group_id), "memberships", account_id)
        self._write("DELETE", url)

    # -- Admin v1 writes: direct product roles -----------------------------------------------------

    def user_role_assign(self, account_id: str, *, role: str, resource: str | None) -> None:
        """Grant a product role on a resource ARI (v1 ``.../users/{id}/roles/assign``)."""
        self._write("POST", self._admin_url("v1", "users", account_id, "roles", "assign"), json=_role(role, resource))

    def user_role_revoke(self, account_id: str, *, role: str, resource: str | None) -> None:
        """Revoke a directly assigned product role (v1 ``.../users/{id}/roles/revoke``)."""
        self._write("POST", self._admin_url("v1", "users", account_id, "roles", "revoke"), json=_role(role, resource))

    # -- User management lifecycle (managed accounts only) -----------------------------------------

    def lifecycle_disable(self, account_id: str, *, message: str | None = None) -> None:
        """Deactivate an Atlassian account everywhere (``.../manage/lifecycle/disable``)."""
        # The spec marks the body as required even though the message is optional.
        self._lifecycle(account_id, "disable", json={"message": message} if message else {})

    def lifecycle_enable(self, account_id: str) -> None:
        """Reactivate a deactivated account (``.../manage/lifecycle/enable``)."""
        self._lifecycle(account_id, "enable")

    def lifecycle_delete(self, account_id: str) -> str | None:
        """Schedule an account for deletion after a 14-day grace period; returns Atlassian's message."""
        return _message_of(self._lifecycle(account_id, "delete"))

    def lifecycle_cancel_delete(self, account_id: str) -> str | None:
        """Cancel a scheduled deletion (also reactivates the account); returns Atlassian's message."""
        return _message_of(self._lifecycle(account_id, "cancel-delete"))

    # -- plumbing ----------------------------------------------------------------------------------

    @property
    def _admin_limit(self) -> int:
        return min(self.page_size, ADMIN_PAGE_LIMIT)

    def _group(self, group_id: str) -> str:
        """A group id spelt as the Admin API's group paths want it (the segment is escaped later)."""
        return group_id_as(group_id, self.group_id_form)

    def _admin_url(self, version: str, *segments: str) -> str:
        return f"{self.api_base}/admin/{version}/orgs/{segment(self.org_id)}/" + join_segments(segments)

    def _directory_url(self, directory_id: str | None, *segments: str) -> str:
        return self._admin_url("v2", "directories", directory_id or self.directory_id, *segments)

    def _write_url(self, directory_id: str | None, *segments: str) -> str:
        """A write's URL: it names a real directory, never ``-`` (nothing is sent otherwise)."""
        if not directory_id or directory_id == "-":
            raise AtlassianError(
                "A write must name the account's or group's directory, not '-': sync to learn it",
                retryable=False,
            )
        return self._admin_url("v2", "directories", directory_id, *segments)

    def _jira_url(self, *segments: str) -> str:
        if self.jira_base is None:
            raise AtlassianError("Jira is not configured: give site_url or cloud_id", retryable=False)
        return f"{self.jira_base}/rest/api/3/" + join_segments(segments)

    def _jira(self) -> BasicAuth:
        if self._jira_auth is None:
            raise AtlassianError("Jira is not configured: give jira_email and jira_api_token", retryable=False)
        return self._jira_auth

    def _json(self, call: Call) -> Any:
        response = self._transport.send(call)
        with shape_guard(call.method, call.path, response.status_code):
            return json_body(response)

    def _write(self, method: str, url: str, *, json: Any = None) -> requests.Response:
        return self._transport.send(Call(method, url, self._admin_auth, json=json, idempotent=False))

    def _lifecycle(self, account_id: str, action: str, *, json: Any = None) -> requests.Response:
        url = f"{self.api_base}/users/{segment(account_id)}/manage/lifecycle/{action}"
        return self._write("POST", url, json=json)

    def _search_pages(
        self, url: str, body: Mapping[str, Any], mapper: Callable[[Any], Any], *, key=None
    ) -> Iterator[list[Any]]:
        """v2 ``/search`` POSTs: the cursor goes in the body. They are reads, so they may be retried.

        ``key`` names an item, so that a listing going round in circles is stopped (paging.cursor_pages).
        """

        def fetch(cursor: str | None) -> Any:
            payload = dict(body) if cursor is None else {**body, "cursor": cursor}
            return self._json(Call("POST", url, self._admin_auth, json=payload, idempotent=True))

        with shape_guard("POST", urlsplit(url).path):
            for items in paging.cursor_pages(fetch, key=key):
                yield [mapper(item) for item in items]

    def _get_cursor_pages(self, url: str, mapper: Callable[[Any], Any]) -> Iterator[list[Any]]:
        """v2 GET lists: ``?cursor=`` alone on later pages, since the server ignores other parameters then."""

        def fetch(cursor: str | None) -> Any:
            params = {"limit": self._admin_limit} if cursor is None else {"cursor": cursor}
            return self._json(Call("GET", url, self._admin_auth, params=params))

        with shape_guard("GET", urlsplit(url).path):
            for items in paging.cursor_pages(fetch):
                yield [mapper(item) for item in items]

    def _next_link_pages(self, url: str) -> Iterator[dict[str, Any]]:
        def fetch(link: str | None) -> Any:
            target, params = self._resolve_v1_next(url, link)
            return self._json(Call("GET", target, self._admin_auth, params=params))

        return paging.next_link_pages(fetch)

    def _resolve_v1_next(self, url: str, link: str | None) -> tuple[str, dict[str, str] | None]:
        """v1 ``links.next`` is reported both as a full URL and as a bare cursor token: accept both.

        A full URL is followed only on the API host: it will carry the org API key.
        """
        if link is None:
            return url, None
        if link.startswith(("https://", "http://")):
            if origin(link) != origin(self.api_base):
                raise ShapeError("links.next points to a different host")
            return link, None
        return url, {"cursor": link}


def _item_key(field: str) -> Callable[[dict], Any]:
    """An item's identity for the paging loop guard; an item without one counts as new."""

    def key(item: dict) -> Any:
        value = item.get(field)
        return value if isinstance(value, str) else object()

    return key


def _account_id_of(item: Any) -> str:
    return mappers.required_str(paging.require_mapping(item, "user"), "accountId")


def _role(role: str, resource: str | None) -> dict[str, str]:
    # The resource may be left out only for the org-admin role.
    return {"role": role} if resource is None else {"role": role, "resource": resource}


def _message_of(response: requests.Response) -> str | None:
    """The ``message`` of a lifecycle 200, if readable.

    The status code already says the action happened; an unreadable body must not make the
    caller believe it failed, so it is not treated as MalformedResponse here.
    """
    try:
        body = json_body(response)
    except ShapeError:
        return None
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) else None


def _keep_latest(products: dict[tuple[str, str], ProductActivity], product: ProductActivity) -> None:
    key = (product.key, product.resource_id)
    known = products.get(key)
    if known is None or _later(product.last_active, known.last_active):
        products[key] = product


def _later(candidate: datetime | None, current: datetime | None) -> bool:
    return candidate is not None and (current is None or candidate > current)
