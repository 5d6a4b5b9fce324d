"""The portal's accounts CSV: desired group memberships and statuses, applied in Atlassian.

One row per account (``account_id``, or ``email`` alone), a ``groups`` cell listing the groups the
account should be in (names separated by ``;``, as the export writes them) and/or a ``status`` cell
(``active``, ``suspended``, ``deactivated``; empty = leave as is). An empty ``groups`` cell also
leaves the memberships as they are: a row that only changes a status must not take every group
away. To take an account out of all its groups, the cell says so: ``(none)`` (:data:`NO_GROUPS`).
An ``expires_at`` cell (a date, ``YYYY-MM-DD``, or an ISO date-time; UTC) gives the groups that row
adds until then: ``expire_access`` warns ahead and removes them on the day. For the groups the row
lists that the account is already in, it follows the bulk "Add to group": an import never shortens
access (:func:`accounts.end_dates.kept_end_reason`). A membership ending earlier is given until the
new date (``membership_end_set``, a local change); one with no end date or a later one is left as it
is, and the preview says why (:attr:`ChangePlan.warnings`).
A ``return_on`` cell (``YYYY-MM-DD``, today or later) sets the account's return date: that day the
portal gives back what its policies took (accounts.services.returns). Empty leaves it as it is;
``(none)`` clears it. The export writes the column, so a round trip keeps the date.
The other columns of the portal's export are accepted and ignored, so an export can be edited and
imported back.

:func:`plan_changes` validates every row against the mirror and the rules the services enforce,
and lists what each row would change; nothing is sent anywhere. :func:`apply_changes` runs a plan
without errors through the services (``membership_add``/``membership_remove``,
``account_activate``/``account_suspend``/``account_deactivate``), which call Atlassian first and
then update the mirror with one audit event each. Atlassian cannot roll back, so the first row
that fails stops the import: earlier rows stay applied, later rows are not attempted (except those
already under way, several rows running at a time: accounts/pool.py), and the
report (and the ``import.applied`` audit event) says so. Importing the same file again is safe:
rows already applied plan no change.
"""

import contextlib
import hashlib
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial

from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_date

from accounts.end_dates import kept_end_reason, parse_end_date
from accounts.importexport.formats import RowError, Table
from accounts.importexport.variants import check_email, normalise
from accounts.models import AccessEndStatus, Account, AccountStatus, Group, Membership, MembershipEnd
from accounts.pool import ForkOf, run_paced
from accounts.services.access_ends import membership_end_set
from accounts.services.errors import ServiceRefused
from accounts.services.lifecycle import account_activate, account_deactivate, account_suspend
from accounts.services.memberships import membership_add, membership_remove
from accounts.services.returns import account_return_date_set
from governance.atlassian.errors import AtlassianError
from governance.audit.models import AuditAction
from governance.audit.record import Actor, new_correlation_id, record_event

logger = logging.getLogger(__name__)

CHUNK = 2000
GROUP_SEPARATOR = ";"
# The ``groups`` cell that means "in no group at all" (an empty cell means "no change").
NO_GROUPS = "(none)"
ID_COLUMNS = ("account_id", "email")
CHANGE_COLUMNS = ("groups", "status", "return_on")
# The ``return_on`` cell that clears the return date (an empty cell means "no change").
NO_DATE = "(none)"
# Goes with ``groups``: the end date of the memberships the row adds.
QUALIFIER_COLUMNS = ("expires_at",)
READ_ONLY_COLUMNS = ("name", "account_type", "managed", "org_admin", "billable", "added_to_org", "last_active")
SETTABLE_STATUSES = (AccountStatus.ACTIVE, AccountStatus.SUSPENDED, AccountStatus.DEACTIVATED)
_STATUS_WORDS = {s.value: s for s in AccountStatus} | {s.label.casefold(): s for s in AccountStatus}
_ACTIVATABLE = (AccountStatus.SUSPENDED, AccountStatus.DEACTIVATED, AccountStatus.PENDING_DELETION)
# The export prefixes a quote to cells a spreadsheet would run as a formula (safe_cell); an edited
# export comes back with those quotes, which are not part of the value.
_ESCAPED = frozenset(("'=", "'+", "'-", "'@", "'\t", "'\r"))


def unescape(cell: str) -> str:
    return cell[1:] if cell[:2] in _ESCAPED else cell


@dataclass
class RowPlan:
    """What one row changes. Groups are (Group pk, name)."""

    row: int
    account_pk: int
    account_id: str
    label: str
    add: list[tuple[int, str]] = field(default_factory=list)
    remove: list[tuple[int, str]] = field(default_factory=list)
    status_from: str = ""
    status_to: str = ""
    expires_at: datetime | None = None  # of the memberships this row adds, or extends
    # Groups the row lists that the account is already in, whose access ends before ``expires_at``:
    # (Group pk, name, the end they have now). An import never shortens access (kept_end_reason).
    extend: list[tuple[int, str, datetime]] = field(default_factory=list)
    # Groups the row lists that the account is already in: (Group pk, name, its end or None).
    listed_current: list[tuple[Group, datetime | None]] = field(default_factory=list, repr=False)
    kept: list[RowError] = field(default_factory=list)  # those listed groups left as they are, and why
    set_return: bool = False  # the return date changes (to ``return_on``; None clears it)
    return_on: date | None = None
    return_from: date | None = None

    @property
    def changes(self) -> bool:
        return bool(self.add or self.remove or self.extend or self.status_to or self.set_return)

    def describe(self) -> list[str]:
        lines = []
        if self.status_to == AccountStatus.ACTIVE:
            lines.append(f"status {self.status_from} → {self.status_to}")
        until = f" until {self.expires_at:%Y-%m-%d %H:%M} UTC" if self.expires_at else ""
        lines += [f"add to {name}{until}" for _, name in self.add]
        lines += [self.extend_change(name, was) for _, name, was in self.extend]
        lines += [f"remove from {name}" for _, name in self.remove]
        if self.status_to and self.status_to != AccountStatus.ACTIVE:
            lines.append(f"status {self.status_from} → {self.status_to}")
        if self.set_return:
            lines.append(self.return_change)
        return lines

    def extend_change(self, name: str, was: datetime) -> str:
        return f"access to {name} until {self.expires_at:%Y-%m-%d %H:%M} UTC (ended earlier: {was:%Y-%m-%d %H:%M} UTC)"

    @property
    def return_change(self) -> str:
        was = f" (was {self.return_from:%Y-%m-%d})" if self.return_from else ""
        return f"return date {self.return_on:%Y-%m-%d}{was}" if self.return_on else f"return date cleared{was}"


@dataclass
class ChangePlan:
    organization_id: int
    org_id: str
    file_name: str
    rows: int
    plans: list[RowPlan]
    unchanged: int
    columns: list[str]
    ignored: list[str]
    errors: list[RowError]
    # What the file asks that the import leaves as it is, row by row, and why (e.g. an end date for
    # a membership with none): shown in the preview, the import may go ahead.
    warnings: list[RowError] = field(default_factory=list)

    def counts(self) -> dict:
        return {
            "rows": self.rows,
            "rows_changing": len(self.plans),
            "rows_unchanged": self.unchanged,
            "memberships_added": sum(len(p.add) for p in self.plans),
            "memberships_removed": sum(len(p.remove) for p in self.plans),
            "end_dates_moved_later": sum(len(p.extend) for p in self.plans),
            "status_changes": sum(1 for p in self.plans if p.status_to),
            "return_dates": sum(1 for p in self.plans if p.set_return),
        }

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for p in self.plans:
            until = p.expires_at.isoformat() if p.expires_at else None
            back = [p.set_return, p.return_on.isoformat() if p.return_on else None]
            extend = [pk for pk, _, _ in p.extend]
            digest.update(json.dumps([p.row, p.account_pk, p.add, p.remove, extend, p.status_to, until, back]).encode())
        return digest.hexdigest()


# --- Planning ------------------------------------------------------------------------------


def check_headers(headers: list[str]) -> tuple[dict[str, int], list[str], list[RowError]]:
    """Column name -> index for the columns that matter, the ignored ones, and header errors."""
    index: dict[str, int] = {}
    ignored: list[str] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for i, header in enumerate(headers):
        name = normalise(header)
        if name in seen:
            errors.append(RowError(1, f"the column “{header}” appears twice"))
        seen.add(name)
        if name in ID_COLUMNS or name in CHANGE_COLUMNS or name in QUALIFIER_COLUMNS:
            index[name] = i
        elif name in READ_ONLY_COLUMNS or name.startswith("last_active:"):
            ignored.append(header)
        else:
            errors.append(
                RowError(
                    1,
                    f"unknown column “{header}”. Expected {', '.join(ID_COLUMNS + CHANGE_COLUMNS + QUALIFIER_COLUMNS)} "
                    f"(and, ignored, the other columns of the portal's export)",
                )
            )
    if not index.keys() & set(ID_COLUMNS):
        errors.append(RowError(1, "there is no “account_id” or “email” column to find the accounts by"))
    if not index.keys() & set(CHANGE_COLUMNS):
        errors.append(RowError(1, "there is no “groups” or “status” column: the file asks for no change"))
    return index, ignored, errors


def plan_changes(*, organization, table: Table, user=None, file_name: str = "") -> ChangePlan:
    """Validate every row and work out its changes; nothing is written or sent."""
    index, ignored, errors = check_headers(table.headers)
    plan = ChangePlan(
        organization_id=organization.pk,
        org_id=organization.org_id,
        file_name=file_name,
        rows=len(table.rows),
        plans=[],
        unchanged=0,
        columns=[h for h in table.headers if normalise(h) in index],
        ignored=ignored,
        errors=[*table.errors, *errors],
    )
    if errors:
        return plan
    groups = _Groups(organization)
    seen: dict[int, int] = {}
    for start in range(0, len(table.rows), CHUNK):
        chunk = [(number, [unescape(c) for c in cells]) for number, cells in table.rows[start : start + CHUNK]]
        accounts = _accounts_for(organization, chunk, index)
        members = _memberships(a.pk for a in accounts.values() if a is not None)
        for number, cells in chunk:
            row_errors: list[RowError] = []
            row_plan = _plan_row(number, cells, index, accounts, members, groups, user, row_errors, seen)
            plan.errors += row_errors
            if row_errors or row_plan is None:
                continue
            plan.warnings += row_plan.kept
            if row_plan.changes:
                plan.plans.append(row_plan)
            else:
                plan.unchanged += 1
    plan.errors.sort(key=lambda e: e.row or 0)
    return plan


class _Groups:
    """The organization's live groups by name (exact first, then case-insensitive)."""

    def __init__(self, organization):
        self.by_pk: dict[int, Group] = {
            g.pk: g for g in Group.objects.filter(organization=organization, removed_at__isnull=True)
        }
        self.exact: dict[str, list[Group]] = defaultdict(list)
        self.folded: dict[str, list[Group]] = defaultdict(list)
        for group in self.by_pk.values():
            self.exact[group.name].append(group)
            self.folded[group.name.casefold()].append(group)

    def find(self, name: str) -> list[Group]:
        return self.exact.get(name) or self.folded.get(name.casefold(), [])


def _accounts_for(organization, chunk, index) -> dict[tuple[str, str], Account | None]:
    """Accounts of a chunk of rows, by ("id", account id) and ("email", folded email)."""
    ids, emails = set(), set()
    for _, cells in chunk:
        account_id = cells[index["account_id"]].strip() if "account_id" in index else ""
        if account_id:
            ids.add(account_id)
        elif "email" in index and cells[index["email"]].strip():
            emails.add(cells[index["email"]].strip().casefold())
    found: dict[tuple[str, str], Account | None] = {}
    accounts = Account.objects.filter(organization=organization)
    for account in accounts.filter(account_id__in=ids):
        found[("id", account.account_id)] = account
    if emails:
        by_email: dict[str, list[Account]] = defaultdict(list)
        for account in accounts.annotate(email_folded=Lower("email")).filter(email_folded__in=emails):
            by_email[account.email_folded].append(account)
        for email, matches in by_email.items():
            found[("email", email)] = matches[0] if len(matches) == 1 else None  # None: ambiguous
    return found


def _memberships(account_pks) -> dict[int, dict[int, datetime | None]]:
    """Account pk -> {group pk: the membership's scheduled end, None when open-ended}; two queries."""
    members: dict[int, dict[int, datetime | None]] = defaultdict(dict)
    pks = list(account_pks)
    rows = Membership.objects.filter(account_id__in=pks, group__removed_at__isnull=True).values_list(
        "account_id", "group_id"
    )
    for account_pk, group_pk in rows:
        members[account_pk][group_pk] = None
    ends = MembershipEnd.objects.filter(account_id__in=pks, status=AccessEndStatus.SCHEDULED).values_list(
        "account_id", "group_id", "expires_at"
    )
    for account_pk, group_pk, expires_at in ends:
        if group_pk in members.get(account_pk, {}):
            members[account_pk][group_pk] = expires_at
    return members


def _plan_row(number, cells, index, accounts, members, groups: _Groups, user, errors, seen) -> RowPlan | None:
    account = _find_account(number, cells, index, accounts, errors)
    if account is None:
        return None
    if account.pk in seen:
        errors.append(RowError(number, f"account {account.account_id} is already on row {seen[account.pk]}"))
        return None
    seen[account.pk] = number
    plan = RowPlan(number, account.pk, account.account_id, str(account), status_from=account.status)
    if "groups" in index:
        _plan_groups(plan, account, cells[index["groups"]], members.get(account.pk, {}), groups, errors)
    if "status" in index:
        _plan_status(plan, account, cells[index["status"]], user, errors)
    if "expires_at" in index:
        _plan_end(plan, unescape(cells[index["expires_at"]]).strip(), errors)
        _plan_extensions(plan)
    if "return_on" in index:
        _plan_return(plan, account, cells[index["return_on"]].strip(), user, errors)
    if plan.changes and account.status == AccountStatus.REMOVED and not errors:
        errors.append(RowError(number, f"{account} was removed from the organization; nothing can change it"))
    may_change_groups = user is None or user.has_perm("accounts.change_membership")
    if (plan.add or plan.remove or plan.extend) and not may_change_groups:
        errors.append(RowError(number, "you may not change group memberships", "groups"))
    return plan


def _plan_end(plan: RowPlan, cell: str, errors) -> None:
    if not cell:
        return
    try:
        plan.expires_at = parse_end_date(cell)
    except ValueError as exc:
        errors.append(RowError(plan.row, str(exc), "expires_at"))
        return
    if not plan.add and not plan.listed_current:
        errors.append(RowError(plan.row, "an end date needs a group this row lists (in “groups”)", "expires_at"))


def _plan_extensions(plan: RowPlan) -> None:
    """With an end date, the groups the row lists that the account is already in: those whose
    access ends earlier move to it (``plan.extend``); the others are left as they are, each with
    the reason (``plan.kept``, for the preview). The same decision as the bulk "Add to group"."""
    if plan.expires_at is None:
        return
    for group, ends_at in plan.listed_current:
        reason: str | None
        if group.external_synced:
            reason = f"“{group}” is synced from an identity provider: its end date is not set here"
        else:
            reason = kept_end_reason(group=group, ends_at=ends_at, wanted=plan.expires_at)
        if reason:
            plan.kept.append(RowError(plan.row, f"{plan.label}: {reason}", "expires_at"))
        else:
            assert ends_at is not None  # an open-ended membership is never shortened
            plan.extend.append((group.pk, group.name, ends_at))
    plan.extend.sort(key=lambda g: g[1])


def _plan_return(plan: RowPlan, account: Account, cell: str, user, errors) -> None:
    """The row's return date: empty = no change, ``(none)`` = clear, else a day from today on."""
    if not cell:
        return
    if cell.casefold() == NO_DATE:
        wanted = None
    else:
        try:
            wanted = parse_date(cell)
        except ValueError:
            wanted = None
        if wanted is None:
            errors.append(
                RowError(plan.row, f"“{cell}” is not a date: give YYYY-MM-DD, or {NO_DATE} to clear", "return_on")
            )
            return
    if wanted == account.return_on:
        return  # as it is (an export imported back)
    today = timezone.localdate()
    if wanted is not None and wanted < today:
        problem = f"the return date {wanted:%Y-%m-%d} has passed; give a day from {today:%Y-%m-%d}"
        errors.append(RowError(plan.row, problem, "return_on"))
        return
    if user is not None and not user.has_perm("accounts.activate_account"):
        errors.append(RowError(plan.row, "you may not set return dates", "return_on"))
        return
    plan.set_return, plan.return_on, plan.return_from = True, wanted, account.return_on


def _find_account(number, cells, index, accounts, errors) -> Account | None:
    account_id = cells[index["account_id"]].strip() if "account_id" in index else ""
    email_text = cells[index["email"]] if "email" in index else ""
    try:
        email = check_email(email_text)
    except ValueError as exc:
        errors.append(RowError(number, str(exc), "email"))
        return None
    if account_id:
        account = accounts.get(("id", account_id))
        if account is None:
            errors.append(RowError(number, f"unknown account “{account_id}” (not in the mirror)", "account_id"))
        elif email and account.email and account.email.casefold() != email.casefold():
            errors.append(RowError(number, f"“{email}” is not the email of {account_id} ({account.email})", "email"))
            return None
        return account
    if not email:
        errors.append(RowError(number, "no account_id and no email: which account is this?"))
        return None
    key = ("email", email.casefold())
    if key not in accounts:
        errors.append(RowError(number, f"no account has the email “{email}”", "email"))
    elif accounts[key] is None:
        errors.append(RowError(number, f"several accounts have the email “{email}”: give the account_id", "email"))
    return accounts.get(key)


def _plan_groups(
    plan: RowPlan, account: Account, cell: str, current: dict[int, datetime | None], groups: _Groups, errors
) -> None:
    names = list(dict.fromkeys(n.strip() for n in cell.split(GROUP_SEPARATOR) if n.strip()))
    if not names:
        return  # an empty cell: the memberships stay as they are
    if any(name.casefold() == NO_GROUPS for name in names):
        if len(names) > 1:
            message = f"“{NO_GROUPS}” means in no group at all; it cannot be listed with groups"
            errors.append(RowError(plan.row, message, "groups"))
            return
        names = []  # remove from every group
    wanted = _named_groups(plan.row, names, groups, errors)
    if any(e.row == plan.row for e in errors):
        return
    add = [g for pk, g in wanted.items() if pk not in current]
    remove = [groups.by_pk[pk] for pk in current if pk not in wanted and pk in groups.by_pk]
    _check_group_changes(plan.row, account, add, remove, errors)
    plan.add = sorted(((g.pk, g.name) for g in add), key=lambda g: g[1])
    plan.remove = sorted(((g.pk, g.name) for g in remove), key=lambda g: g[1])
    plan.listed_current = [(g, current[pk]) for pk, g in wanted.items() if pk in current]


def _named_groups(row: int, names: list[str], groups: _Groups, errors) -> dict[int, Group]:
    """The group each name designates, by pk; an unknown or ambiguous name is a row error."""
    wanted: dict[int, Group] = {}
    for name in names:
        matches = groups.find(name)
        if not matches:
            errors.append(RowError(row, f"unknown group “{name}”", "groups"))
        elif len(matches) > 1:
            problem = f"“{name}” names {len(matches)} groups; rename one in Atlassian"
            errors.append(RowError(row, problem, "groups"))
        else:
            wanted[matches[0].pk] = matches[0]
    return wanted


def _check_group_changes(row: int, account: Account, add: list, remove: list, errors) -> None:
    """Row errors for memberships the portal may not change: IdP-synced groups, an org admin's licence."""
    for group in add + remove:
        if group.external_synced:
            errors.append(RowError(row, f"“{group}” is synced from an identity provider; change it there", "groups"))
    for group in remove:
        if group.is_licence_group and account.is_org_admin:
            errors.append(RowError(row, f"{account} is an org admin; the portal does not take their licence “{group}”"))


def _plan_status(plan: RowPlan, account: Account, cell: str, user, errors) -> None:
    text = " ".join(cell.split()).casefold()
    if not text:
        return
    wanted = _STATUS_WORDS.get(text.replace(" ", "_")) or _STATUS_WORDS.get(text)
    if wanted is None:
        allowed = ", ".join(s.value for s in SETTABLE_STATUSES)
        errors.append(RowError(plan.row, f"“{cell.strip()}” is not a status ({allowed})", "status"))
        return
    current = account.status
    if wanted == current:
        return
    problem = _transition_problem(account, wanted)
    if problem:
        errors.append(RowError(plan.row, problem, "status"))
        return
    needed = "accounts.activate_account" if wanted == AccountStatus.ACTIVE else "accounts.suspend_account"
    if user is not None and not user.has_perm(needed):
        errors.append(RowError(plan.row, f"you may not make accounts {wanted}", "status"))
        return
    plan.status_to = wanted


def _transition_problem(account: Account, wanted: str) -> str:
    current = account.get_status_display().lower()
    if wanted not in SETTABLE_STATUSES:
        return f"an import cannot make an account {AccountStatus(wanted).label.lower()}"
    if wanted == AccountStatus.ACTIVE:
        return "" if account.status in _ACTIVATABLE else f"{account} is {current}; it cannot be activated"
    if account.is_org_admin:
        verb = "suspend" if wanted == AccountStatus.SUSPENDED else "deactivate"
        return f"{account} is an organization admin; the portal does not {verb} org admins"
    if wanted == AccountStatus.SUSPENDED and account.status != AccountStatus.ACTIVE:
        return f"{account} is {current}; only active accounts can be suspended"
    if wanted == AccountStatus.DEACTIVATED:
        if account.status not in (AccountStatus.ACTIVE, AccountStatus.SUSPENDED):
            return f"{account} is {current}; only active or suspended accounts can be deactivated"
        if not account.managed:
            return f"{account} is not a managed account; Atlassian only deactivates managed accounts"
    return ""


# --- Applying ------------------------------------------------------------------------------


@dataclass
class RowOutcome:
    row: int
    label: str
    state: str  # applied | failed | not_attempted
    done: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class ApplyReport:
    correlation_id: str
    outcomes: list[RowOutcome]

    @property
    def ok(self) -> bool:
        return all(o.state == "applied" for o in self.outcomes)

    @property
    def failed(self) -> RowOutcome | None:
        return next((o for o in self.outcomes if o.state == "failed"), None)

    def counts(self) -> dict:
        states: defaultdict[str, int] = defaultdict(int)
        for outcome in self.outcomes:
            states[outcome.state] += 1
        return {"applied": states["applied"], "failed": states["failed"], "not_attempted": states["not_attempted"]}


class _Stopped(Exception):
    """A row failed: no further row is started."""


def apply_changes(
    *, plan: ChangePlan, client, actor: Actor, correlation_id: str = "", progress: Callable[[int], None] | None = None
) -> ApplyReport:
    """Run a validated plan through the services, row by row; stop at the first failure.

    Several rows at a time at Atlassian's pace (accounts/pool.py), each row's steps in order in
    one worker, each step through its service exactly as alone (its change lock, its transaction,
    its audit event). Once a row fails no further row is started; the rows already under way
    finish and are reported as they ended (at most ``ATLASSIAN_CONCURRENCY - 1`` rows after the
    failed one). ``progress(rows handled)`` is called after each row, in the file's order (a
    background import's run record).
    """
    if plan.errors:
        raise ValueError("a plan with errors cannot be applied")
    report = ApplyReport(correlation_id=correlation_id or new_correlation_id(), outcomes=[])
    accounts = _load_accounts([p.account_pk for p in plan.plans])
    wanted = {pk for p in plan.plans for pk, _ in p.add + p.remove} | {pk for p in plan.plans for pk, _, _ in p.extend}
    groups = {g.pk: g for g in Group.objects.filter(pk__in=wanted)}
    report.outcomes = [RowOutcome(p.row, p.label, "not_attempted", planned=p.describe()) for p in plan.plans]
    failed = threading.Event()
    handled = 0

    def work(index: int, fork_of: ForkOf) -> None:
        row_plan, outcome = plan.plans[index], report.outcomes[index]
        reason = f"import{f' “{plan.file_name}”' if plan.file_name else ''}, row {row_plan.row}"
        row_client = fork_of(client)
        steps = _steps(
            row_plan, accounts[row_plan.account_pk], groups, row_client, actor, reason, report.correlation_id
        )
        try:
            for description, step in steps:
                said = step()  # a step that left something as it is says so instead
                outcome.done.append(said if isinstance(said, str) else description)
            outcome.state = "applied"
        except (AtlassianError, ServiceRefused) as exc:
            outcome.state, outcome.error = "failed", str(exc)
            failed.set()
        except Exception as exc:  # a bug must still leave a report and an audit trail
            logger.exception("import row %s failed unexpectedly", row_plan.row)
            outcome.state, outcome.error = "failed", f"unexpected error: {exc!r}"
            failed.set()

    def stop_after_a_failure() -> None:
        if failed.is_set():
            raise _Stopped

    def delivered(index: int, _: None) -> None:
        nonlocal handled
        handled += 1
        if progress:
            progress(handled)

    # The rows never started stay "not attempted".
    with contextlib.suppress(_Stopped):
        run_paced(list(range(len(plan.plans))), work, on_result=delivered, before_each=stop_after_a_failure)
    _record_summary(plan, report, actor)
    return report


def _load_accounts(pks: list[int]) -> dict[int, Account]:
    accounts: dict[int, Account] = {}
    for start in range(0, len(pks), CHUNK):
        batch = Account.objects.select_related("organization").filter(pk__in=pks[start : start + CHUNK])
        accounts.update((a.pk, a) for a in batch)
    return accounts


def _steps(
    row_plan: RowPlan, account: Account, groups: dict[int, Group], client, actor, reason, correlation_id
) -> list[tuple[str, Callable[[], object]]]:
    """The service calls for one row, in a safe order: access comes back first and goes last."""
    common = dict(account=account, client=client, actor=actor, reason=reason, correlation_id=correlation_id)
    steps: list[tuple[str, Callable[[], object]]] = []
    if row_plan.status_to == AccountStatus.ACTIVE:
        steps.append((f"status → {row_plan.status_to}", lambda: account_activate(**common)))
    for pk, name in row_plan.add:
        add = partial(membership_add, group=groups[pk], expires_at=row_plan.expires_at, **common)
        steps.append((f"added to {name}", add))
    for pk, name, was in row_plan.extend:
        extend = partial(
            _end_later,
            account=account,
            group=groups[pk],
            expires_at=row_plan.expires_at,
            actor=actor,
            reason=reason,
            correlation_id=correlation_id,
        )
        steps.append((row_plan.extend_change(name, was), extend))
    for pk, name in row_plan.remove:
        steps.append((f"removed from {name}", partial(membership_remove, group=groups[pk], **common)))
    if row_plan.status_to == AccountStatus.SUSPENDED:
        steps.append((f"status → {row_plan.status_to}", lambda: account_suspend(**common)))
    elif row_plan.status_to == AccountStatus.DEACTIVATED:
        steps.append((f"status → {row_plan.status_to}", lambda: account_deactivate(**common)))
    if row_plan.set_return:  # a local change, audited as account.return_date_set
        back = partial(
            account_return_date_set,
            account=account,
            return_on=row_plan.return_on,
            actor=actor,
            reason=reason,
            correlation_id=correlation_id,
        )
        steps.append((row_plan.return_change, back))
    return steps


def _end_later(*, account: Account, group: Group, expires_at: datetime | None, **audit) -> str | None:
    """Give a member's access until ``expires_at`` (``membership_end_set``: a local change, one
    audit event), deciding again as the preview did: if the membership lost its end or got a later
    one since, it is left as it is and the reason is returned. A person who left the group
    meanwhile is refused by the service (the row fails, like any stale row)."""
    if Membership.objects.filter(account=account, group=group).exists():
        ends_at = (
            MembershipEnd.objects.filter(account=account, group=group, status=AccessEndStatus.SCHEDULED)
            .values_list("expires_at", flat=True)
            .first()
        )
        kept = kept_end_reason(group=group, ends_at=ends_at, wanted=expires_at)
        if kept:
            return kept
    membership_end_set(account=account, group=group, expires_at=expires_at, **audit)
    return None


def _record_summary(plan: ChangePlan, report: ApplyReport, actor: Actor) -> None:
    failed = report.failed
    record_event(
        actor=actor,
        action=AuditAction.IMPORT_APPLIED,
        target_type="accounts.organization",
        target_id=str(plan.organization_id),
        target_repr=plan.org_id,
        organization=plan.org_id,
        correlation_id=report.correlation_id,
        after={
            "kind": "changes",
            "file": plan.file_name,
            "outcome": "completed" if report.ok else "failed",
            **plan.counts(),
            **report.counts(),
            **({"failed_row": failed.row, "error": failed.error} if failed else {}),
        },
        reason="accounts CSV applied in Atlassian through the services"
        if report.ok
        else f"accounts CSV import stopped at row {failed.row if failed else '?'}",
    )
