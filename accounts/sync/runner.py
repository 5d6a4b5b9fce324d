"""One full sync of one organization, as a run with a record, a lease and audit events."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts import notifications
from accounts.leases import sync_lease
from accounts.models import Account, AccountType, Organization
from accounts.snapshots import activity_snapshot_record
from accounts.sync.context import SyncContext, SyncDataError
from accounts.sync.directories import account_directories, directories_in_background, list_directories
from accounts.sync.finish import SyncHalted, apply_removals_and_blanks, check_limits, missing_accounts, update_seats
from accounts.sync.groups import fetch_group_roles, load_products, sync_groups
from accounts.sync.prefetch import user_batches
from accounts.sync.users import apply_user_page
from governance.atlassian.errors import AtlassianError
from governance.audit.models import AuditAction
from governance.audit.record import Actor, new_correlation_id, record_event
from governance.db.sqlite import sqlite_bulk_writes
from governance.gc_pause import collector_paused
from governance.runs import locks
from governance.runs.models import RunStatus, RunTrigger, TaskRun
from governance.runs.services import task_run_begin, task_run_finish, task_run_progress, task_run_start

log = logging.getLogger(__name__)

# platformRoles tells org admins apart; productAccess and groups carry activity and memberships.
USER_EXPAND = ("productAccess", "groups", "platformRoles")
# Users written per transaction (with their audit events): fifty API pages. SQLite rewrites every
# index leaf a transaction touches; with ~1,000 memberships spread over thousands of groups per
# 100-user page, one transaction per API page wrote most of the group index again and again.
USER_BATCH = 5000
PROGRESS_EVERY = 2000  # users between two progress updates of the run record
# Counts of users read and left alone: a sync with nothing else to report writes no audit event.
_NOT_WRITES = (
    "users_seen",
    "duplicates_skipped",
    "accounts_deferred",
    "accounts_unknown_status",
    "directories_listed",
    "accounts_in_several_directories",
)


@dataclass(frozen=True)
class SyncResult:
    run: TaskRun
    status: str
    counts: dict
    error: str = ""
    http_requests: int = 0

    @property
    def ok(self) -> bool:
        return self.status == RunStatus.SUCCEEDED

    def summary(self) -> str:
        c = self.counts
        if not self.ok:
            return f"Sync {self.status}: {self.error}"
        return (
            f"Sync succeeded: {c.get('users_seen', 0)} users, {c.get('accounts_created', 0)} new, "
            f"{c.get('accounts_updated', 0)} changed, {c.get('accounts_removed', 0)} removed, "
            f"+{c.get('memberships_added', 0)}/-{c.get('memberships_removed', 0)} memberships, "
            f"{self.http_requests} HTTP requests."
        )


def organization_sync(
    *,
    organization: Organization,
    client,
    trigger: str = RunTrigger.MANUAL,
    actor: Actor | None = None,
    progress: Callable[[int], None] | None = None,
    max_removed_share: float | None = None,
    max_blanked_share: float | None = None,
    run: TaskRun | None = None,
) -> SyncResult:
    """Mirror ``organization`` from Atlassian through ``client``.

    ``run``: a queued run row to work under (a "Sync now" from the admin, ``accounts.sync.requests``);
    without it the sync opens its own. Either way the row's progress says the phase, the accounts
    processed of those Atlassian counts, and the pages fetched so far.

    Writes happen page by page and only for what changed. Destructive changes (marking
    accounts removed, blanking activity) wait for the end of a complete sync and stop the run
    when they exceed their share of the mirror (DESIGN.md 5.2). A failure part-way leaves
    every account as it was apart from the non-destructive updates already written.
    """
    actor = actor or Actor.scheduler("sync")
    lease = locks.hold(sync_lease(organization.org_id), ttl=timedelta(seconds=settings.TASK_TIMEOUT))
    correlation_id = new_correlation_id()
    # Everything after the lease is taken sits inside the try, so whatever fails (opening the run
    # row on a locked SQLite database, say) releases it rather than blocking every sync of the
    # organization until the lease's TTL runs out.
    try:
        holder = lease.holder if lease else None
        if run is None:
            run = task_run_start(
                name="sync",
                trigger=trigger,
                organization=organization.org_id,
                correlation_id=correlation_id,
                started_by=actor.name,
                lease_holder=holder,
            )
        elif not task_run_begin(run=run, correlation_id=correlation_id, lease_holder=holder):
            return SyncResult(run, run.status, {}, "This run was started already.")
        if lease is None:
            task_run_finish(run=run, status=RunStatus.REFUSED, error="Another sync of this organization is running.")
            return SyncResult(run, RunStatus.REFUSED, {}, run.error)
        ctx = SyncContext(
            organization=organization,
            now=timezone.now(),
            correlation_id=correlation_id,
            actor=actor,
            # From the database: the caller's instance may predate an earlier sync.
            had_complete_sync=Organization.objects.filter(
                pk=organization.pk, last_complete_sync_at__isnull=False
            ).exists(),
        )
        return _run(ctx, run, client, progress, max_removed_share, max_blanked_share, lease)
    finally:
        if lease:
            lease.release()


def _run(ctx, run, client, progress, max_removed_share, max_blanked_share, lease) -> SyncResult:
    removed_share = settings.SYNC_MAX_REMOVED_SHARE if max_removed_share is None else max_removed_share
    blanked_share = settings.SYNC_MAX_BLANKED_SHARE if max_blanked_share is None else max_blanked_share

    def report(phase: str, total: int | None = None) -> None:
        pages = client.stats.requests
        task_run_progress(run=run, done=len(ctx.seen_accounts), total=total, phase=phase, pages=pages)

    try:
        report("groups")
        load_products(ctx)
        groups = list(client.iter_groups())
        _note_group_id_form(ctx.organization, client)
        count_before = client.count_users()
        report("groups", count_before)
        # The users are fetched from here on, in the background, while the groups are written.
        with (
            # At 100,000 users the collections walked the few hundred thousand queued and parsed
            # records again and again: about 3.5 of the process's 23 s of CPU, holding the GIL.
            collector_paused(),
            # A large directory's pages are listed and parsed by a process of their own
            # (listing_process.py); a smaller one's by a thread, whose turn comes first: the
            # batches' comparisons give way to it (governance/foreground.py).
            user_batches(
                client,
                expand=USER_EXPAND,
                size=USER_BATCH,
                expected=count_before,
                foreground=ctx.foreground,
                in_process_from=settings.SYNC_LISTING_PROCESS_MIN_USERS,
            ) as batches,
            # Who is in which directory (writes name it), listed in the background meanwhile.
            directories_in_background(ctx, client) as listing,
            sqlite_bulk_writes(),
        ):
            roles = fetch_group_roles(client, groups)
            sync_groups(ctx, groups, roles)
            if listing is None:  # a client that cannot fork: the whole listing before the first batch
                ctx.account_directories = _account_directories(ctx, client)
            report("users", count_before)
            reported = 0
            for batch in batches:
                lease.keep()  # a sync that outlives TASK_TIMEOUT (a manual one) renews its lease here
                if listing is not None:
                    listing.wait_for(user.account_id for user in batch)  # their directories are final
                apply_user_page(ctx, batch)
                if progress:
                    progress(len(ctx.seen_accounts))
                if len(ctx.seen_accounts) - reported >= PROGRESS_EVERY:
                    reported = len(ctx.seen_accounts)
                    report("users", count_before)
        report("finishing", count_before)
        count_after = client.count_users()
        _sync_account_types(ctx, client)
        missing = missing_accounts(ctx)
        check_limits(ctx, missing, max_removed_share=removed_share, max_blanked_share=blanked_share)
        _check_listing_complete(ctx, min(count_before, count_after))
        lease.keep()  # never mark anyone removed once another sync may have taken over
        apply_removals_and_blanks(ctx, missing)
        update_seats(ctx, client.application_roles() if _has_jira(ctx.organization) else None)
    except SyncHalted as exc:
        return _close(ctx, run, client, RunStatus.HALTED, str(exc), AuditAction.SYNC_HALTED)
    except locks.LeaseLost:
        message = (
            "Stopped: this sync's lease expired before it was renewed (the process was stalled or starved) "
            "and another sync may have taken it over. Nobody was marked removed and no activity was cleared."
        )
        return _close(ctx, run, client, RunStatus.HALTED, message, AuditAction.SYNC_HALTED)
    except (AtlassianError, SyncDataError) as exc:
        return _close(ctx, run, client, RunStatus.FAILED, str(exc), AuditAction.SYNC_FAILED, exc)
    except Exception as exc:
        log.exception("Sync of %s failed unexpectedly", ctx.organization.org_id)
        return _close(ctx, run, client, RunStatus.FAILED, f"{type(exc).__name__}: {exc}", AuditAction.SYNC_FAILED)
    activity_snapshot_record(organization=ctx.organization, now=ctx.now)
    Organization.objects.filter(pk=ctx.organization.pk).update(last_complete_sync_at=ctx.now)
    result = _close(ctx, run, client, RunStatus.SUCCEEDED, "", AuditAction.SYNC_COMPLETED)
    _after_sync(ctx, client)
    return result


def _after_sync(ctx: SyncContext, client) -> None:
    """Hand what a complete sync saw change to the upper layers (``PORTAL_AFTER_SYNC``, dotted paths,
    so this layer imports none of them): each hook gets the organization, the pks of the accounts
    seen active again, the pks of the accounts it saw for the first time (``first_seen``; empty
    on the organization's first complete sync, which sees everyone for the first time), the sync's
    client and its ``now``. A hook that fails is logged; the sync itself succeeded and stays so."""
    first_seen = frozenset(ctx.first_seen) if ctx.had_complete_sync else frozenset()
    for path in settings.PORTAL_AFTER_SYNC:
        try:
            import_string(path)(
                organization=ctx.organization,
                reactivated=frozenset(ctx.reactivated),
                first_seen=first_seen,
                client=client,
                now=ctx.now,
            )
        except Exception:
            log.exception("After-sync hook %s failed for %s", path, ctx.organization.org_id)


def _check_listing_complete(ctx: SyncContext, expected: int) -> None:
    """Fail the sync when the listing brought fewer people than Atlassian counts.

    The v2 search's pages carry no total and its cursors are opaque (API.md 2.5): a cursor that
    skips a page looks like a complete answer, and the people on that page like people who left.
    Above the removal share check_limits halts the sync first; below it they would be marked
    removed. ``expected`` is the smaller of Atlassian's counts (``GET .../users/count``, the same
    default scope as the search) before and after the listing, so people leaving meanwhile make
    no shortfall. People joining and leaving at once can make one; the sync then fails safe:
    nothing is removed or blanked, and the next sync tries again.
    """
    received = len(ctx.seen_accounts)
    if received < expected:
        raise SyncDataError(
            f"The user listing brought {received} distinct users but Atlassian counts at least {expected}: "
            "a page was skipped or cut short. Nobody was marked removed and no activity was cleared."
        )


def _account_directories(ctx: SyncContext, client) -> dict[str, str]:
    """``{account id: directory id}`` from one listing per directory, ids only (no expansion), for
    a client that cannot fork (see :mod:`accounts.sync.directories`)."""
    directory_ids = list_directories(ctx, client)
    found, several = account_directories(client, directory_ids)
    ctx.counts["accounts_in_several_directories"] += several
    ctx.counts["directories_listed"] = len(directory_ids)
    return found


def _note_group_id_form(organization: Organization, client) -> None:
    """Remember how the group search spells group ids: the services' calls naming a group use it.

    The mirror stores every group id canonical (the bare UUID) whatever the form; only the paths
    of the Admin API need the spelling its group search uses (governance/atlassian/groupids.py).
    """
    form = getattr(client, "group_id_form", None)
    if form and form != organization.group_id_form:
        Organization.objects.filter(pk=organization.pk).update(group_id_form=form)
        organization.group_id_form = form


def _has_jira(organization: Organization) -> bool:
    return bool(
        (organization.site_url or organization.cloud_id) and organization.jira_email and organization.jira_api_token()
    )


def _sync_account_types(ctx: SyncContext, client) -> None:
    """Jira knows which accounts are apps or portal customers; the v2 directory API does not."""
    if not _has_jira(ctx.organization):
        return
    kinds: dict[str, list[str]] = {AccountType.APP: [], AccountType.CUSTOMER: []}
    for user in client.iter_jira_users():
        if user.account_type in kinds and user.account_id in ctx.seen_accounts:
            kinds[user.account_type].append(user.account_id)
    accounts = Account.objects.filter(organization=ctx.organization)
    for kind, ids in kinds.items():
        for start in range(0, len(ids), 500):
            updated = accounts.filter(account_id__in=ids[start : start + 500]).exclude(account_type=kind)
            ctx.counts["accounts_updated"] += updated.update(account_type=kind, billable=False)


def _close(ctx, run, client, status, error, action, exc: BaseException | None = None) -> SyncResult:
    stats = client.stats
    counts = {**dict(ctx.counts), "http_requests": stats.requests, "http_retries": stats.retries}
    wrote = any(v for k, v in ctx.counts.items() if k not in _NOT_WRITES)
    notes = ctx.log_lines()
    for line in notes:
        log.warning("Sync of %s: %s", ctx.organization.org_id, line)
    task_run_finish(run=run, status=status, counts=counts, error=error, log_lines=notes)
    if status != RunStatus.SUCCEEDED or wrote:
        with transaction.atomic():
            record_event(
                actor=ctx.actor,
                action=action,
                target_type="accounts.organization",
                target_id=str(ctx.organization.pk),
                target_repr=str(ctx.organization),
                after=counts,
                reason=error,
                **ctx.audit_fields(),
            )
    if status in (RunStatus.FAILED, RunStatus.HALTED):
        # Webhooks and Slack, once committed; never raises (governance.notifications).
        notifications.sync_ended(
            org_id=ctx.organization.org_id, run_id=run.pk, failed=status == RunStatus.FAILED, error=error, exc=exc
        )
    return SyncResult(run, status, counts, run.error, stats.requests)
