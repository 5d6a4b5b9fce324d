"""Policies act only on what a sync confirmed: an import of an Atlassian export is not enough.

Against a synced simulator. The files are built from the mirror's own dates (themselves relative
to the suite's clock), so nothing here depends on the date the suite runs.
"""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.importexport.formats import read_csv
from accounts.importexport.seed import apply_seed, plan_seed
from accounts.importexport.variants import detect, normalise_site, seed_records
from accounts.models import Account, Group, Membership, ProductAccess
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.runs.models import RunStatus
from policies.engine import Verdict
from policies.models import Enforcement, EnforcementStatus, PolicyMode
from policies.selectors.preview import WAIT, policy_preview
from policies.selectors.snapshots import active_exemptions, load_snapshots, policy_spec
from policies.services.runs import evaluate, policy_run
from tests.policies.conftest import RUN_AT

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def _day_text(value: datetime) -> str:
    return f"{value.day} {value:%b %Y}"


def _users_export(organization, accounts: list[Account], *, groups: dict[int, list[str]], last_seen=None) -> bytes:
    """A users export of ``accounts`` as the mirror has them, with the groups given and, when
    ``last_seen`` is given (pk -> day), a Jira Software column for the organization's own site."""
    site = normalise_site(organization.site_url)
    header = ["User id", "User name", "email", "User status", "Group name"]
    if last_seen is not None:
        header += [f"Jira Software - {site}", f"Last seen in Jira Software - {site}"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for account in accounts:
        row = [account.account_id, account.name, account.email or "", "Active", ", ".join(groups[account.pk])]
        if last_seen is not None:
            row += ["User", _day_text(last_seen[account.pk])]
        writer.writerow(row)
    return out.getvalue().encode()


def _seed(organization, data: bytes, *, exported_at=None):
    table = read_csv(data)
    plan = plan_seed(
        organization=organization, parsed=seed_records(table, detect(table.headers)), exported_at=exported_at
    )
    assert not plan.errors, [str(e) for e in plan.errors]
    apply_seed(plan=plan, actor=ACTOR)
    return plan


def _groups(account) -> list[str]:
    return sorted(Membership.objects.filter(account=account).values_list("group__name", flat=True))


def _snapshot_pks(policy) -> set[int]:
    spec = policy_spec(policy)
    return {s.pk for s in load_snapshots(policy, spec, active_exemptions(policy.organization, RUN_AT))}


def _jira(account) -> ProductAccess:
    return ProductAccess.objects.get(account=account, product__key="jira-software")


def test_an_older_export_imported_after_a_sync_changes_nothing_a_policy_acts_on(make_policy):
    """The finding: an old export moved a person's last activity back and removed her groups, and the
    Jira Software policy's preview at once marked her "act"."""
    policy = make_policy()
    organization = policy.organization
    due = {d.account_pk for d in evaluate(policy, RUN_AT).by_verdict(Verdict.ACT)}
    ann = next(
        a
        for a in Account.objects.filter(
            organization=organization,
            status="active",
            product_access__product__key="jira-software",
            product_access__last_active__isnull=False,
        ).order_by("pk")
        if a.pk not in due and _groups(a)
    )
    before = (_jira(ann).last_active, ann.last_active, _groups(ann))
    long_ago = datetime.combine(before[0].date() - timedelta(days=340), datetime.min.time(), UTC)
    plan = _seed(
        organization,
        _users_export(organization, [ann], groups={ann.pk: _groups(ann)[:1]}, last_seen={ann.pk: long_ago}),
    )
    assert plan.as_of == long_ago
    assert any(n.column == "Last active" for n in plan.notes)
    ann.refresh_from_db()
    assert (_jira(ann).last_active, ann.last_active, _groups(ann)) == before
    preview = policy_preview(policy, RUN_AT)
    assert ann.pk not in {row.account_pk for row in preview.rows if row.today == Verdict.ACT}


def test_an_account_an_import_changed_waits_for_a_sync_then_the_sync_confirms_it(
    make_policy, atlassian, client_for, alice
):
    policy = make_policy(mode=PolicyMode.REVIEW)
    organization = policy.organization
    assert policy_run(policy=policy, now=RUN_AT).status == RunStatus.SUCCEEDED
    queued = Enforcement.objects.filter(policy=policy, status=EnforcementStatus.AWAITING_REVIEW)
    ida = queued.first().account
    # A file exported after the sync (its time given on the upload form) puts Ida in one more group,
    # and changes nothing else: the next sync finds her account row as it was, memberships apart.
    teams = Group.objects.filter(organization=organization, removed_at=None, is_licence_group=False)
    extra = teams.exclude(memberships__account=ida).first()
    plan = _seed(
        organization,
        _users_export(organization, [ida], groups={ida.pk: [*_groups(ida), extra.name]}),
        exported_at=timezone.now(),
    )
    ida.refresh_from_db()
    assert ida.imported_as_of is not None
    assert extra.name in _groups(ida)
    assert plan.changes[0].after == {}, "only a membership changed"

    assert ida.pk not in _snapshot_pks(policy), "selection leaves the account out"
    assert ida.pk not in {d.account_pk for d in evaluate(policy, RUN_AT).decisions}
    preview = policy_preview(policy, RUN_AT)
    row = next(r for r in preview.rows if r.account_pk == ida.pk)
    assert row.today == WAIT
    assert row.reason.startswith("waiting for a sync: an import changed this account")
    assert "the policy would act: " in row.reason
    assert preview.today_counts[WAIT] == 1
    assert ida.pk not in {r.account_pk for r in preview.shown("act")}
    with time_machine.travel(RUN_AT, tick=False):
        url = reverse("admin:policies_inactivitypolicy_preview", args=[policy.pk]) + f"?show={WAIT}"
        page = client_for(alice).get(url).content.decode()
    assert 'id="waiting-for-sync"' in page
    assert "<strong>Waiting for a sync (1)</strong>" in page
    assert "waiting for a sync: an import changed this account" in page

    policy_run(policy=policy, now=RUN_AT)
    item = Enforcement.objects.get(policy=policy, account=ida)
    assert item.status == EnforcementStatus.AWAITING_REVIEW, "its open enforcement is neither acted on nor cancelled"
    assert not AuditEvent.objects.filter(action=AuditAction.ENFORCEMENT_CANCELLED).exists()

    result = organization_sync(organization=organization, client=atlassian)
    assert result.ok
    assert result.counts["imports_confirmed"] == 1
    ida.refresh_from_db()
    assert ida.imported_as_of is None, "the sync saw the account: the mark is gone"
    assert extra.name not in _groups(ida), "and the mirror is Atlassian's again"
    assert ida.pk in {d.account_pk for d in evaluate(policy, RUN_AT).by_verdict(Verdict.ACT)}


def test_an_account_only_an_import_brought_waits_for_the_sync_that_finds_it(make_policy, atlassian):
    policy = make_policy(mode=PolicyMode.REVIEW)
    organization = policy.organization
    due = [d.account_pk for d in evaluate(policy, RUN_AT).by_verdict(Verdict.ACT)]
    ivo = next(a for a in Account.objects.filter(pk__in=due).order_by("pk") if _jira(a).last_active)
    last_seen = _jira(ivo).last_active
    groups = _groups(ivo)
    Account.objects.filter(pk=ivo.pk).delete()  # as if Ivo had joined after the last sync
    plan = _seed(
        organization,
        _users_export(organization, [ivo], groups={ivo.pk: groups}, last_seen={ivo.pk: last_seen}),
        exported_at=timezone.now(),
    )
    assert plan.created == 1
    ivo = Account.objects.get(organization=organization, account_id=ivo.account_id)
    assert ivo.imported_as_of is not None
    assert _jira(ivo).last_active.date() == last_seen.date()

    assert ivo.pk not in _snapshot_pks(policy)
    row = next(r for r in policy_preview(policy, RUN_AT).rows if r.account_pk == ivo.pk)
    assert (row.today, "the policy would act: " in row.reason) == (WAIT, True)
    policy_run(policy=policy, now=RUN_AT)
    assert not Enforcement.objects.filter(account=ivo).exists()

    assert organization_sync(organization=organization, client=atlassian).ok
    ivo.refresh_from_db()
    assert ivo.imported_as_of is None
    assert ivo.pk in {d.account_pk for d in evaluate(policy, RUN_AT).by_verdict(Verdict.ACT)}
