"""Preflight against a real (or simulated) organization: the portal's assumptions, checked read-only.

No machine the portal is built on reaches Atlassian, so what Atlassian's documents leave open
(atlassian/API.md section 9, the UNCONFIRMED marks) is first met on the operator's organization.
:func:`organization_preflight` reads what the portal relies on and reports each assumption as a
:class:`Check`: ``pass``, ``warn`` (the portal copes, but the operator should know) or ``fail``
(fix it before the first sync), with what to do. It only reads: GETs, and the v2 searches, which
are POSTs that change nothing. ``python manage.py check_atlassian`` and the organization's
"Check connection" page in the admin call it.
"""

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice

from accounts import notifications
from accounts.clients import MissingCredentials, client_for
from accounts.models import Organization
from accounts.sync.groups import PRODUCT_NAMES
from accounts.sync.users import STATUS_FROM_REMOTE
from governance.atlassian.errors import AtlassianError
from governance.atlassian.groupids import ARI, UUID
from governance.atlassian.timeparse import parse_timestamp

PASS, WARN, FAIL = "pass", "warn", "fail"
OUTCOMES = (PASS, WARN, FAIL)
USER_EXPAND = ("productAccess", "groups", "platformRoles")
GROUP_ROLE_SAMPLE = 200  # groups whose role assignments are read (one GET each)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ADMIN_KEY_ADVICE = (
    "Create an organization API key in admin.atlassian.com → Settings → API keys (a key lasts at most a "
    "year), then set ATLASSIAN_ADMIN_API_KEY or store it on this organization."
)
JIRA_ADVICE = (
    "Create an API token at id.atlassian.com → Security → API tokens for a Jira administrator, then set "
    "ATLASSIAN_EMAIL and ATLASSIAN_API_TOKEN (or store the token on this organization)."
)


@dataclass(frozen=True)
class Check:
    """One assumption and what was found. ``advice`` says what to do (empty when nothing)."""

    name: str
    outcome: str  # pass | warn | fail
    detail: str
    advice: str = ""


def preflight_failed(checks: Iterable[Check]) -> bool:
    return any(check.outcome == FAIL for check in checks)


def organization_check(*, organization: Organization, user_limit: int | None = None, **client_options) -> list[Check]:
    """Build the organization's client and run :func:`organization_preflight` (read-only)."""
    try:
        client = client_for(organization, **client_options)
    except MissingCredentials as exc:
        return [Check("Admin API key", FAIL, str(exc), ADMIN_KEY_ADVICE)]
    with client:
        return organization_preflight(organization=organization, client=client, user_limit=user_limit)


def organization_preflight(*, organization: Organization, client, user_limit: int | None = None) -> list[Check]:
    """Every check, in order. ``user_limit`` reads only the first users (a quick look; counts say so)."""
    checks = [_admin_key(client, organization)]
    if checks[0].outcome != FAIL:
        checks.append(_directories(organization, client))
        users = _Users.read(client, user_limit)
        checks.append(users.check(client))
        groups = _Groups.read(client)
        checks.append(groups.id_forms(users, organization.group_id_form))
        checks.append(groups.licence_groups(client))
        checks.append(_products(organization, users))
        checks.append(_rate_limits(client))
    checks.extend(_jira(organization, client, user_limit))
    return checks


# -- Admin API ------------------------------------------------------------------------------------


def _failure(name: str, exc: AtlassianError, advice: str) -> Check:
    if exc.status is None:
        return Check(name, FAIL, f"Atlassian could not be reached: {exc}", "Check the API base URL and the network.")
    return Check(name, FAIL, f"Atlassian answered {exc}", advice)


def _admin_key(client, organization: Organization) -> Check:
    name = "Admin API key"
    try:
        org = client.organization()
    except AtlassianError as exc:
        notifications.key_refused(org_id=organization.org_id, exc=exc, during="connection check")
        if exc.status == 404:
            advice = "Check the org id: it is in admin.atlassian.com's address, /o/<org id>/."
        elif exc.status == 403:
            advice = "The key lacks a scope the portal needs: create an unscoped key, or one with the read and write "
            advice += "scopes of directories, users and groups."
        else:
            advice = ADMIN_KEY_ADVICE
        return _failure(name, exc, advice)
    return Check(name, PASS, f"Accepted for the organization {org['name'] or org['id']!r} ({org['id']}).")


def _directories(organization: Organization, client) -> Check:
    name = "Directories"
    try:
        found = client.directories()
    except AtlassianError as exc:
        return _failure(name, exc, "The key needs the read:directories:admin scope.")
    listed = "; ".join(f"{d['name'] or '(no name)'} ({d['id']})" for d in found)
    if not found:
        return Check(name, FAIL, "Atlassian lists no directory.", "The organization has no users the portal can see.")
    configured = organization.directory_id or "-"
    if configured != "-" and configured not in {d["id"] for d in found}:
        return Check(
            name,
            FAIL,
            f"{len(found)} listed ({listed}), but not the organization's directory {configured}.",
            "Set the organization's directory to one of those listed, or to '-'.",
        )
    return Check(name, PASS, f"{len(found)} listed: {listed}.")


@dataclass
class _Users:
    """What one walk of the v2 user search showed."""

    seen: int = 0
    total: int | None = None
    complete: bool = True
    error: AtlassianError | None = None
    status: Counter = field(default_factory=Counter)
    claim: Counter = field(default_factory=Counter)
    source: Counter = field(default_factory=Counter)
    kind: Counter = field(default_factory=Counter)
    group_refs: Counter = field(default_factory=Counter)  # id form -> references
    group_ids: set[str] = field(default_factory=set)  # canonical ids of the groups users belong to
    products: dict[str, dict] = field(default_factory=dict)  # key -> resources, holders, never opened

    @classmethod
    def read(cls, client, limit: int | None) -> "_Users":
        found = cls()
        try:
            for user in islice(client.iter_users(expand=USER_EXPAND), limit):
                found._add(user)
            found.complete = limit is None or found.seen < limit
            found.total = client.count_users()
        except AtlassianError as exc:
            found.error = exc
        return found

    def _add(self, user) -> None:
        self.seen += 1
        self.status[user.status] += 1
        self.claim[user.claim_status or "none"] += 1
        self.source[user.management_source or "none"] += 1
        self.kind[user.account_type] += 1
        for ref in user.groups:
            self.group_refs[ref.id_form] += 1
            self.group_ids.add(ref.id)
        for access in user.product_access:
            entry = self.products.setdefault(access.key, {"resources": set(), "holders": 0, "never": 0})
            entry["resources"].add(access.resource_id)
            entry["holders"] += 1
            entry["never"] += access.last_active is None

    def check(self, client) -> Check:
        name = "Users"
        if self.error is not None:
            advice = "The key needs the read:accounts:admin and read:directories:admin scopes."
            return _failure(name, self.error, advice)
        read = f"{self.seen} read" if self.complete else f"the first {self.seen} read (a sample)"
        total = "" if self.total is None else f" of {self.total} counted"
        detail = (
            f"{read}{total}. By status: {_counts(self.status)}. By claim: {_counts(self.claim)}. "
            f"By management source: {_counts(self.source)}. By account type: {_counts(self.kind)}."
        )
        outside = self.status.get("not_invited", 0)
        if outside:
            detail += f" {outside} managed account(s) in no directory (status not_invited)."
        unknown = {s: n for s, n in self.status.items() if s not in STATUS_FROM_REMOTE}
        if self.complete and self.total is not None and self.seen < self.total:
            return Check(
                name,
                FAIL,
                detail + " The listing brought fewer users than Atlassian counts.",
                "A sync would stop with the same shortfall: report it to Atlassian support with this output.",
            )
        if unknown:
            return Check(
                name,
                WARN,
                detail + f" Statuses the portal does not know: {_counts(unknown)}.",
                "They are mirrored as Unknown and never acted on; tell the portal's maintainers.",
            )
        if not self.seen:
            return Check(name, WARN, detail, "Atlassian lists nobody: check the key's organization.")
        return Check(name, PASS, detail)


@dataclass
class _Groups:
    groups: list
    error: AtlassianError | None = None

    @classmethod
    def read(cls, client) -> "_Groups":
        try:
            return cls(list(client.iter_groups()))
        except AtlassianError as exc:
            return cls([], exc)

    def id_forms(self, users: _Users, last_seen: str) -> Check:
        """How group ids are spelt in the group search and in users' groups; whether they meet."""
        name = "Group ids"
        if self.error is not None:
            return _failure(name, self.error, "The key needs the read:groups:admin scope.")
        now = self.groups[0].id_form if self.groups else ""
        search = Counter(g.id_form for g in self.groups)
        odd = [g.id for g in self.groups if not _UUID.match(g.id)]
        listed = {g.id for g in self.groups}
        unmatched = users.group_ids - listed
        detail = (
            f"Group search: {_counts(search) or 'no groups'}; users' groups: {_counts(users.group_refs) or 'none'}. "
            f"The portal stores the bare UUID and matches either form; paths use the search's form "
            f"({_form_name(self.groups[0].id_form) if self.groups else 'none seen'})."
        )
        if odd:
            return Check(
                name,
                WARN,
                detail + f" {len(odd)} group id(s) are neither a UUID nor a group ARI (e.g. {odd[0]!r}).",
                "Tell the portal's maintainers: group ids of this shape are not matched across forms.",
            )
        if unmatched:
            return Check(
                name,
                WARN,
                detail + f" {len(unmatched)} group(s) users belong to are not in the group search.",
                "The sync creates them without details; check their directory and the key's scopes.",
            )
        if last_seen and now and now != last_seen:
            return Check(
                name,
                WARN,
                detail + f" The last sync saw the {_form_name(last_seen)} form.",
                "Run a sync before changing memberships: it records the new form, which calls naming a group use.",
            )
        return Check(name, PASS, detail + " Every group users belong to is in the group search.")

    def licence_groups(self, client) -> Check:
        """Whether the groups' role assignments are readable, in the search's id form; how many grant products."""
        name = "Licence groups"
        if self.error is not None or not self.groups:
            return Check(name, WARN, "No groups to read.", "Product access can then only be direct roles.")
        sample = self.groups[:GROUP_ROLE_SAMPLE]
        granting = 0
        try:
            for group in sample:
                roles = client.group_role_assignments(group.id, directory_id=group.directory_id or None)
                granting += any(r.roles for r in roles)
        except AtlassianError as exc:
            return _failure(
                name,
                exc,
                "Atlassian did not take a group id its own search gave: tell the portal's maintainers (the id form).",
            )
        of = f"{len(sample)} of {len(self.groups)}" if len(sample) < len(self.groups) else f"all {len(sample)}"
        detail = f"Role assignments read for {of} groups; {granting} grant product access."
        if not granting:
            return Check(
                name,
                WARN,
                detail,
                "No group grants a product: removing product access by group membership will find nothing to do.",
            )
        return Check(name, PASS, detail)


def _products(organization: Organization, users: _Users) -> Check:
    name = "Product keys"
    if not users.products:
        return Check(name, WARN, "No product access seen.", "Check that the users read have product access.")
    unknown = sorted(key for key in users.products if key not in PRODUCT_NAMES)
    parts = []
    for key, entry in sorted(users.products.items()):
        sites = len(entry["resources"])
        where = f", {sites} sites" if sites > 1 else ""
        parts.append(f"{key} ({entry['holders']} holders{where}, {entry['never']} never opened)")
    detail = "Seen: " + "; ".join(parts) + ". Access never opened is mirrored without a date: never used."
    several = [key for key, entry in users.products.items() if len(entry["resources"]) > 1]
    blank = [key for key, entry in users.products.items() if "" in entry["resources"]]
    if blank:
        return Check(
            name,
            WARN,
            detail + f" Access without a product instance id: {', '.join(sorted(blank))}.",
            "Such access cannot be told apart per site; tell the portal's maintainers.",
        )
    if unknown:
        return Check(
            name,
            WARN,
            detail + f" Keys the portal does not know: {', '.join(unknown)}.",
            "They are mirrored as products named by their key; scope policies to them by product if needed.",
        )
    if several and not organization.cloud_id:
        return Check(
            name,
            WARN,
            detail + f" Several sites share a key: {', '.join(sorted(several))}.",
            "Set the organization's cloud id so Jira's seat counts go to the right site's product.",
        )
    return Check(name, PASS, detail)


def _rate_limits(client) -> Check:
    name = "Rate-limit headers"
    origin = _origin(client.api_base)
    headers = client.rate_limit_headers.get(origin, {})
    wanted = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
    missing = [h for h in wanted if h not in headers]
    shown = ", ".join(f"{h} {v}" for h, v in headers.items()) or "none"
    if missing:
        return Check(
            name,
            WARN,
            f"The Admin API's last answer carried: {shown}. Missing: {', '.join(missing)}.",
            "The client then paces itself by backoff alone; nothing to do unless syncs hit 429 often.",
        )
    try:
        parse_timestamp(headers["X-RateLimit-Reset"])
    except ValueError:
        return Check(
            name, WARN, f"{shown}. X-RateLimit-Reset is not an ISO-8601 time.", "The client falls back to backoff."
        )
    return Check(name, PASS, f"The Admin API's last answer carried: {shown}.")


# -- Jira -----------------------------------------------------------------------------------------


def _jira(organization: Organization, client, user_limit: int | None) -> list[Check]:
    configured = bool((organization.site_url or organization.cloud_id) and organization.jira_email)
    if not configured or client.jira_base is None or not organization.jira_api_token():
        return [
            Check(
                "Jira API token",
                WARN,
                "No Jira site, email or token configured.",
                "Seats are then counted from product access, and app and portal-customer accounts are not told "
                "apart. " + JIRA_ADVICE,
            )
        ]
    try:
        roles = client.application_roles()
    except AtlassianError as exc:
        advice = JIRA_ADVICE
        if exc.status == 403:
            advice = "The token's account needs the Administer Jira permission (a Jira or site administrator)."
        return [_failure("Jira API token", exc, advice)]
    checks = [Check("Jira API token", PASS, f"Accepted by {organization.site_url or organization.cloud_id}.")]
    seats = [
        f"{r.key} {r.user_count if r.user_count is not None else '?'}/"
        f"{'unlimited' if r.unlimited else r.number_of_seats if r.number_of_seats is not None else '?'}"
        for r in roles
    ]
    detail = f"Application roles (used/seats): {', '.join(seats) or 'none'}."
    if not roles or all(r.number_of_seats is None and not r.unlimited for r in roles):
        checks.append(
            Check("Jira seats", WARN, detail, "Jira gives no seat counts: seats are counted from product access.")
        )
    else:
        checks.append(Check("Jira seats", PASS, detail))
    kinds: Counter = Counter()
    try:
        for user in islice(client.iter_jira_users(), user_limit):
            kinds[user.account_type] += 1
    except AtlassianError as exc:
        checks.append(_failure("Jira users", exc, "The token's account needs the Browse users and groups permission."))
        return checks
    checks.append(Check("Jira users", PASS, f"By account type: {_counts(kinds) or 'nobody'}."))
    return checks


# -- helpers --------------------------------------------------------------------------------------


def _counts(counter) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _form_name(form: str) -> str:
    return {ARI: "ARI", UUID: "bare UUID"}.get(form, form)


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
