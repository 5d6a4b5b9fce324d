"""Applying one account service to many accounts: what the admin's bulk actions and their task run.

Each account goes through the ordinary service (remote call, mirror update, one audit event), so
a bulk action is exactly N single actions sharing a correlation id, several at a time at
Atlassian's pace (accounts/pool.py). One account's refusal or Atlassian error is recorded and the
run goes on; anything else stops the run (the accounts already started finish first).
"""

import threading
import time
from collections import Counter
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from accounts.end_dates import kept_end_reason, parse_end_date
from accounts.models import (
    AccessEndStatus,
    Account,
    AccountStatus,
    Group,
    Membership,
    MembershipEnd,
    Product,
    ProductAccess,
)
from accounts.pool import ForkOf, run_paced
from accounts.services.access_ends import membership_end_set
from accounts.services.account_lock import AccountBusy, one_change_at_a_time
from accounts.services.errors import ChangedSinceSync, IdentityProviderManaged, ServiceRefused, idp_refusal
from accounts.services.lifecycle import account_activate, account_deactivate, account_suspend
from accounts.services.memberships import (
    NeedsDecision,
    membership_add,
    membership_remove,
    product_access_plan,
    product_access_remove,
)
from accounts.services.read_ahead import ReadAhead
from accounts.services.recheck import account_recheck
from accounts.services.refresh import account_refresh
from governance.atlassian.errors import AtlassianError
from governance.audit.record import Actor, new_correlation_id
from governance.runs import locks
from governance.runs.models import RunStatus, TaskRun
from governance.runs.services import task_run_finish, task_run_progress

CHUNK = 200
PROGRESS_EVERY = 25
LOG_LINES = 200


class BulkActionError(ValueError):
    """The request itself is wrong (unknown action, no reason, unknown group ...): nothing was done."""


class Outcome:
    DONE = "done"
    SKIPPED = "skipped"
    REFUSED = "refused"
    FAILED = "failed"
    # Left alone for a person to decide: the product comes through a group that grants more.
    NEEDS_REVIEW = "needs_review"
    # Provisioned by an identity provider: Atlassian refuses the change, nothing was sent.
    IDP_ACTION_NEEDED = "idp_action_needed"


@dataclass(frozen=True)
class BulkResult:
    account_pk: int
    account: str
    outcome: str
    message: str = ""


@dataclass
class BulkOutcome:
    action: str
    total: int
    correlation_id: str
    results: list[BulkResult] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    # Accounts handled by the earlier tasks of the same run (a follow-up goes on from there).
    before: int = 0
    # The accounts never started because the time budget was spent: a follow-up task does them.
    not_started: list[int] = field(default_factory=list)
    # An action run in a web request that ran out of time: the background run doing the rest.
    continued_in: TaskRun | None = None

    def add(self, result: BulkResult) -> None:
        self.results.append(result)
        self.counts[result.outcome] += 1

    @property
    def processed(self) -> int:
        return self.before + len(self.results)

    def count_dict(self) -> dict:
        names = [Outcome.DONE, Outcome.SKIPPED, Outcome.REFUSED, Outcome.FAILED]
        if self.action == "remove_product_access" or self.counts[Outcome.NEEDS_REVIEW]:
            names.append(Outcome.NEEDS_REVIEW)  # the only action that leaves accounts for a decision
        if self.counts[Outcome.IDP_ACTION_NEEDED]:
            names.append(Outcome.IDP_ACTION_NEEDED)
        return {name: self.counts[name] for name in names}


@dataclass(frozen=True)
class Options:
    reason: str
    group: Group | None = None
    product: Product | None = None
    expires_at: datetime | None = None  # add_to_group only: the membership is given until then


@dataclass(frozen=True)
class BulkAction:
    """One bulk action: the permission it needs, what it asks for, and how to apply it to one account."""

    label: str
    permission: str
    apply: Callable[..., object]
    needs: str | None = None  # "group" or "product"
    # ``members``: what ``members_of`` found for the chunk (account pks, or for add_to_group each
    # member's scheduled end): a container of account pks either way.
    skip: Callable[[Account, Options, Container], str | None] = lambda account, options, members: None
    members_of: Callable[[list[Account], Options], Container] = lambda accounts, options: set()
    # Takes something away: the account is read from Atlassian right before (DESIGN.md 5.10).
    destructive: bool = False
    # What Atlassian refuses for accounts an identity provider provisions (DESIGN.md 5.11), in words.
    idp_refused: str = ""


def _suspend_skip(account, options, members):
    return "already suspended" if account.status == AccountStatus.SUSPENDED else None


def _deactivate_skip(account, options, members):
    if account.status in (AccountStatus.DEACTIVATED, AccountStatus.PENDING_DELETION):
        return f"already {account.get_status_display().lower()}"
    return None


def _activate_skip(account, options, members):
    return "already active" if account.status == AccountStatus.ACTIVE else None


def _group_members(accounts, options) -> set:
    return set(
        Membership.objects.filter(group=options.group, account__in=[a.pk for a in accounts]).values_list(
            "account_id", flat=True
        )
    )


def _product_holders(accounts, options) -> set:
    return set(
        ProductAccess.objects.filter(product=options.product, account__in=[a.pk for a in accounts]).values_list(
            "account_id", flat=True
        )
    )


def _members_until(accounts, options) -> dict[int, datetime | None]:
    """The members of ``options.group`` among ``accounts``, each with the scheduled end of its
    membership (None: open-ended). Two queries for the chunk."""
    pks = [a.pk for a in accounts]
    members: dict[int, datetime | None] = dict.fromkeys(
        Membership.objects.filter(group=options.group, account__in=pks).values_list("account_id", flat=True)
    )
    ends = MembershipEnd.objects.filter(
        group=options.group, account__in=list(members), status=AccessEndStatus.SCHEDULED
    ).values_list("account_id", "expires_at")
    members.update(ends)
    return members


def _in_group_skip(account, options, members):
    """Already a member: an "Add to group" never shortens access (:func:`kept_end_reason`). Given an
    end date, a member whose access ends earlier keeps it until the new date (see
    :func:`_add_to_group`); an open-ended membership, or one ending later, is left as it is."""
    if account.pk not in members:
        return None
    return kept_end_reason(group=options.group, ends_at=members[account.pk], wanted=options.expires_at)


def _add_to_group(account, options, *, actor, reason, correlation_id="", **kw):
    """Add to the group, until ``options.expires_at`` if given. A member whose access ends before
    then (:func:`_in_group_skip` lets only those through) keeps it until the new date: the end date
    moves later, a local change, audited as ``membership.end_set``; nothing is sent to Atlassian."""
    group, until = options.group, options.expires_at
    if until is not None and Membership.objects.filter(account=account, group=group).exists():
        membership_end_set(
            account=account, group=group, expires_at=until, actor=actor, reason=reason, correlation_id=correlation_id
        )
        return f"already a member of {group}: access now until {until:%Y-%m-%d %H:%M} UTC (ended earlier)"
    return membership_add(
        account=account, group=group, expires_at=until, actor=actor, reason=reason, correlation_id=correlation_id, **kw
    )


def _not_in_group_skip(account, options, members):
    return None if account.pk in members else f"not a member of {options.group}"


def _no_product_skip(account, options, members):
    return None if account.pk in members else f"has no access to {options.product}"


def _remove_product(account, product, **kwargs):
    # Refuses org admins and IdP-granted access; the exact direct roles come from Atlassian.
    plan = product_access_plan(account=account, products=[product], client=kwargs["client"])
    if plan.get("attention"):
        # Only that product's seat goes (DESIGN.md 5.9): a group granting more stays, for a person.
        raise NeedsDecision(
            f"left alone: {plan['attention']}. Use “Remove from group” on that group if all of it should go."
        )
    return product_access_remove(account=account, plan=plan, **kwargs)


BULK_ACTIONS: dict[str, BulkAction] = {
    "activate": BulkAction(
        label="Activate (restore, re-enable or cancel deletion)",
        permission="accounts.activate_account",
        apply=lambda account, options, **kw: account_activate(account=account, **kw),
        skip=_activate_skip,
    ),
    "suspend": BulkAction(
        label="Suspend",
        permission="accounts.suspend_account",
        apply=lambda account, options, **kw: account_suspend(account=account, **kw),
        skip=_suspend_skip,
        destructive=True,
    ),
    "deactivate": BulkAction(
        label="Deactivate",
        permission="accounts.suspend_account",
        apply=lambda account, options, **kw: account_deactivate(account=account, **kw),
        skip=_deactivate_skip,
        destructive=True,
        idp_refused="deactivate",
    ),
    "add_to_group": BulkAction(
        label="Add to group",
        permission="accounts.change_membership",
        needs="group",
        apply=_add_to_group,
        skip=_in_group_skip,
        members_of=_members_until,
    ),
    "remove_from_group": BulkAction(
        label="Remove from group",
        permission="accounts.change_membership",
        needs="group",
        apply=lambda account, options, **kw: membership_remove(account=account, group=options.group, **kw),
        skip=_not_in_group_skip,
        members_of=_group_members,
        destructive=True,
    ),
    "remove_product_access": BulkAction(
        label="Remove product access",
        permission="accounts.change_membership",
        needs="product",
        apply=lambda account, options, **kw: _remove_product(account, options.product, **kw),
        skip=_no_product_skip,
        members_of=_product_holders,
        destructive=True,
    ),
}


def bulk_action(name: str) -> BulkAction:
    try:
        return BULK_ACTIONS[name]
    except KeyError:
        raise BulkActionError(f"There is no bulk action called {name!r}.") from None


def bulk_options(*, action: str, params: dict) -> Options:
    """Check ``params`` (``reason``, and ``group``/``product`` ids where the action needs one;
    ``expires_at``, an ISO date or date-time in the future, for ``add_to_group`` only)."""
    spec = bulk_action(action)
    reason = (params.get("reason") or "").strip()
    if not reason:
        raise BulkActionError("Give a reason: it is recorded in the audit trail of every account.")
    group = product = None
    if spec.needs == "group":
        group_pk = _int(params.get("group"))
        group = Group.objects.filter(pk=group_pk).first() if group_pk is not None else None
        if group is None:
            raise BulkActionError(f"There is no group with id {params.get('group')!r}.")
        if group.external_synced:
            # The service would refuse every account one by one; say it once instead.
            raise BulkActionError(f"{group} is synced from an identity provider; change its members there.")
    if spec.needs == "product":
        product_pk = _int(params.get("product"))
        product = Product.objects.filter(pk=product_pk).first() if product_pk is not None else None
        if product is None:
            raise BulkActionError(f"There is no product with id {params.get('product')!r}.")
    expires_at = None
    if params.get("expires_at"):
        if action != "add_to_group":
            raise BulkActionError("An end date (expires_at) goes with “Add to group” only.")
        try:
            expires_at = parse_end_date(params["expires_at"])
        except ValueError as exc:
            raise BulkActionError(str(exc)) from None
    return Options(reason=reason, group=group, product=product, expires_at=expires_at)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def accounts_bulk_apply(
    *,
    action: str,
    account_ids: Iterable[int],
    params: dict,
    actor: Actor,
    client_factory: Callable,
    run: TaskRun | None = None,
    lease: locks.Lease | None = None,
    deadline: float | None = None,
) -> BulkOutcome:
    """Apply ``action`` to each account in ``account_ids`` (mirror primary keys), one service call each.

    ``params``: ``reason`` (required), ``group`` or ``product`` (primary keys) for the actions that
    need one. ``client_factory(organization)`` gives an Atlassian client. With ``run``, progress,
    counts and a log of what was not done are written to that TaskRun, which is closed at the end.
    With ``lease`` (the background task's), the lease is kept before each account; once it is
    lost the run stops there and is closed as halted, saying how far it got.
    With ``deadline`` (monotonic), no account is started once it has passed: those already
    started finish, the rest are ``outcome.not_started`` and, with ``run``, the run stays open
    (its progress says which part comes next) for the follow-up task to go on with them. A run's
    follow-up continues its counts, its progress and its log.
    Raises :class:`BulkActionError`, before any change, when the request is wrong.
    """
    try:
        spec = bulk_action(action)
        options = bulk_options(action=action, params=params)
    except BulkActionError as exc:
        if run:  # e.g. the group vanished between the confirmation and the task
            task_run_finish(run=run, status=RunStatus.REFUSED, error=str(exc))
        raise
    ids = list(dict.fromkeys(account_ids))
    correlation_id = (run.correlation_id if run else "") or new_correlation_id()
    outcome = BulkOutcome(action=action, total=len(ids), correlation_id=correlation_id)
    if run and (run.progress or {}).get("part", 1) > 1:
        # A follow-up: the run's total, counts and progress go on from where the last part stopped.
        outcome.total = run.progress.get("total") or len(ids)
        outcome.before = run.progress.get("done") or 0
        outcome.counts.update({k: v for k, v in (run.counts or {}).items() if isinstance(v, int)})
    clients = _Clients(client_factory)

    def progress() -> None:
        if run and (outcome.processed % PROGRESS_EVERY == 0 or outcome.processed == outcome.total):
            _report(run, outcome)

    keep = lease.keep if lease else lambda: None
    try:
        for start in range(0, len(ids), CHUNK):
            left = _apply_chunk(
                spec, options, ids[start : start + CHUNK], outcome, clients, actor, progress, keep, deadline
            )
            if left:
                outcome.not_started = left + ids[start + CHUNK :]
                break
    except locks.LeaseLost:
        if run:
            _finish(run, outcome, lost_lease=True)
        return outcome
    except Exception as exc:
        if run:
            task_run_finish(run=run, status=RunStatus.FAILED, counts=outcome.count_dict(), error=f"{exc}")
        raise
    finally:
        clients.close()
    if run and outcome.not_started:
        _pause(run, outcome)
    elif run:
        _finish(run, outcome)
    return outcome


def _apply_chunk(spec, options, chunk, outcome, clients, actor, progress, keep, deadline) -> list[int]:
    """Apply the action to ``chunk``; returns the ids never started because ``deadline`` passed."""
    if deadline is not None and time.monotonic() >= deadline:
        return list(chunk)
    keep()
    accounts = Account.objects.select_related("organization").in_bulk(chunk)
    members = spec.members_of(list(accounts.values()), options)
    # The re-checks before a destructive action, read a hundred accounts at a time.
    ahead = ReadAhead(chunk) if spec.destructive else None

    def work(pk: int, fork_of: ForkOf) -> BulkResult:
        account = accounts.get(pk)
        if account is None:
            return BulkResult(pk, f"#{pk}", Outcome.SKIPPED, "no longer in the mirror")
        return _apply_one(
            spec, options, account, members, lambda org: fork_of(clients.get(org)), actor, outcome.correlation_id, ahead
        )

    def add(pk: int, result: BulkResult) -> None:
        outcome.add(result)
        progress()

    # Several accounts at a time, each through its service exactly as alone (accounts/pool.py);
    # keep() before each account's remote call, a no-op between renewals.
    return run_paced(chunk, work, on_result=add, before_each=keep, deadline=deadline).not_started


class _NoClient(Exception):
    """No Atlassian client could be built for the account's organization (missing credentials ...)."""


def _apply_one(spec, options, account, members, client_of, actor, correlation_id, ahead=None) -> BulkResult:
    def result(kind: str, message: str = "") -> BulkResult:
        return BulkResult(account.pk, str(account), kind, message)

    if account.status == AccountStatus.REMOVED:
        return result(Outcome.SKIPPED, "no longer in the organization")
    target = options.group or options.product
    if target is not None and target.organization_id != account.organization_id:
        return result(Outcome.REFUSED, f"{target} belongs to another organization")
    why_not = spec.skip(account, options, members)
    if why_not:
        return result(Outcome.SKIPPED, why_not)
    if spec.idp_refused and account.provisioned_by_idp:
        # Up front: no read, no call (Atlassian answers 403 externalDirectory.scim).
        return result(Outcome.IDP_ACTION_NEEDED, str(idp_refusal(account, spec.idp_refused)))
    try:
        client = client_of(account.organization)
        # The re-check, the change and its read-back as one, no other change to the account between.
        with one_change_at_a_time(account.pk):
            if spec.destructive:
                products = [options.product] if options.product else None
                account_recheck(account=account, client=client, products=products, ahead=ahead)
            done = spec.apply(
                account, options, client=client, actor=actor, reason=options.reason, correlation_id=correlation_id
            )
    except NeedsDecision as exc:
        return result(Outcome.NEEDS_REVIEW, str(exc))
    except ChangedSinceSync as exc:
        if exc.user is not None:
            account_refresh(account=account, client=client, actor=actor, correlation_id=correlation_id, user=exc.user)
        return result(Outcome.SKIPPED, f"changed since the sync: {exc}")
    except IdentityProviderManaged as exc:
        return result(Outcome.IDP_ACTION_NEEDED, str(exc))
    except AccountBusy as exc:
        return result(Outcome.FAILED, str(exc))
    except ServiceRefused as exc:
        return result(Outcome.REFUSED, str(exc))
    except (AtlassianError, _NoClient) as exc:
        return result(Outcome.FAILED, str(exc))
    return result(Outcome.DONE, done if isinstance(done, str) else "")  # a message when the action says more


class _Clients:
    """One client per organization for the whole run, closed at the end (each worker thread uses
    its own fork of it: accounts/pool.py)."""

    def __init__(self, factory: Callable):
        self.factory = factory
        self.clients: dict[int, object] = {}
        self.errors: dict[int, str] = {}
        self._lock = threading.Lock()

    def get(self, organization):
        with self._lock:
            return self._get(organization)

    def _get(self, organization):
        if organization.pk in self.errors:
            raise _NoClient(self.errors[organization.pk])
        if organization.pk not in self.clients:
            try:
                self.clients[organization.pk] = self.factory(organization)
            except Exception as exc:  # missing or undecryptable credentials: every account of the org fails alike
                self.errors[organization.pk] = f"No Atlassian client for {organization}: {exc}"
                raise _NoClient(self.errors[organization.pk]) from exc
        return self.clients[organization.pk]

    def close(self) -> None:
        for client in self.clients.values():
            close = getattr(client, "close", None)
            if close:
                close()


def _report(run: TaskRun, outcome: BulkOutcome) -> None:
    # The part stays: only the task carrying it may go on with the run (accounts/bulk_tasks.py).
    part = (run.progress or {}).get("part", 1)
    details = {"part": part} if part > 1 else {}
    task_run_progress(run=run, done=outcome.processed, total=outcome.total, **details)
    # Counts while running, so the status page can say "3 failed so far".
    TaskRun.objects.filter(pk=run.pk).update(counts=outcome.count_dict())


def _log_lines(run: TaskRun, outcome: BulkOutcome) -> list[str]:
    """What was not done, the earlier parts' lines first (the first LOG_LINES of the run)."""
    lines = run.log_excerpt.splitlines() if outcome.before and run.log_excerpt else []
    not_done = [r for r in outcome.results if r.outcome != Outcome.DONE]
    lines += [f"{r.outcome.replace('_', ' ')}: {r.account} — {r.message}" for r in not_done[:LOG_LINES]]
    return lines[:LOG_LINES]


def _pause(run: TaskRun, outcome: BulkOutcome) -> None:
    """The time budget is spent: the run stays open, its progress names the next part, which only
    the follow-up task carrying that part number may run (a re-delivered earlier task may not)."""
    part = (run.progress or {}).get("part", 1) + 1
    task_run_progress(run=run, done=outcome.processed, total=outcome.total, part=part)
    run.counts = outcome.count_dict()
    lines = _log_lines(run, outcome)
    run.log_excerpt = "\n".join(lines)
    TaskRun.objects.filter(pk=run.pk).update(counts=run.counts, log_excerpt=run.log_excerpt)


def _finish(run: TaskRun, outcome: BulkOutcome, *, lost_lease: bool = False) -> None:
    lines = _log_lines(run, outcome)
    failed = outcome.counts[Outcome.FAILED]
    status = RunStatus.FAILED if failed else RunStatus.SUCCEEDED
    error = f"{failed} of {outcome.total} accounts failed." if failed else ""
    if lost_lease:
        status = RunStatus.HALTED
        error = (
            f"Stopped after {outcome.processed} of {outcome.total} accounts: this run's lease expired before "
            "it was renewed (the worker was stalled or starved) and another worker may have taken it over. "
            f"The remaining {outcome.total - outcome.processed} accounts were not touched. {error}"
        ).strip()
    task_run_finish(run=run, status=status, counts=outcome.count_dict(), error=error, log_lines=lines)
