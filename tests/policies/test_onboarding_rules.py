"""Onboarding rules, end to end against the simulator: a new account appearing in Atlassian gets the
rule's groups after the next sync, as the rule's mode says (preview, review, enforce), within its
cap, never when an exemption covers it; and the evaluation's queries do not grow with the accounts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, Group, Membership, Organization
from accounts.sync.runner import organization_sync
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.audit.verify import verify_chain
from policies.models import Exemption, OnboardingItem, OnboardingItemStatus, OnboardingRule, PolicyMode
from policies.selectors.onboarding import onboarding_preview
from policies.services.onboarding import (
    OnboardingRefused,
    onboarding_item_approve,
    onboarding_item_reject,
    onboarding_rule_apply,
    onboarding_rule_save,
)
from policies.services.policies import exemption_create

pytestmark = pytest.mark.django_db
ADMIN = Actor.system("onboarding test admin")
DOMAIN = "newco.example.com"


def _target_group(organization) -> Group:
    """A plain group of the mirror the portal may add members to (not synced, directory known)."""
    group = (
        Group.objects.filter(organization=organization, external_synced=False, is_licence_group=False)
        .exclude(directory_id__in=["", "-"])
        .order_by("name")
        .first()
    )
    assert group is not None
    return group


def _rule(organization, *, mode=PolicyMode.ENFORCE, cap=50, **fields) -> OnboardingRule:
    group = _target_group(organization)
    rule = onboarding_rule_save(
        rule=OnboardingRule(organization=organization, name="New joiners", email_pattern=DOMAIN, **fields),
        actor=ADMIN,
        m2m={"add_groups": [group]},
    )
    assert rule.mode == PolicyMode.PREVIEW  # a new rule starts in preview
    rule.mode, rule.cap_per_run = mode, cap
    return onboarding_rule_save(rule=rule, actor=ADMIN)


def _join(simulator, *names: str) -> list[str]:
    return [simulator.state.add_user(name, f"{name.lower()}@{DOMAIN}") for name in names]


def _sync(organization, atlassian):
    assert organization_sync(organization=organization, client=atlassian).ok


def _members(group: Group) -> set[str]:
    return set(Membership.objects.filter(group=group).values_list("account__account_id", flat=True))


def test_in_enforce_a_new_account_gets_its_groups_after_the_next_sync_audited_with_the_rule(
    mirrored, simulator, atlassian
):
    rule = _rule(mirrored)
    group = rule.add_groups.get()
    [ana] = _join(simulator, "Ana")
    _sync(mirrored, atlassian)

    assert ana in _members(group)  # the mirror, read back from Atlassian
    assert group.name in simulator.state.user(ana).groups  # in Atlassian
    added = AuditEvent.objects.get(action=AuditAction.MEMBERSHIP_ADDED, target_id__startswith=f"{ana}:")
    assert added.reason == f"onboarding rule “New joiners” (#{rule.pk})"
    applied = AuditEvent.objects.get(action=AuditAction.ONBOARDING_RULE_APPLIED)
    assert applied.after["added"] == 1
    assert OnboardingItem.objects.get(account__account_id=ana).status == OnboardingItemStatus.DONE
    assert verify_chain().ok

    # Accounts the mirror knew already are not new: the next sync adds nobody.
    writes = len(simulator.writes_for(ana))
    _sync(mirrored, atlassian)
    assert len(simulator.writes_for(ana)) == writes
    assert AuditEvent.objects.filter(action=AuditAction.ONBOARDING_RULE_APPLIED).count() == 1


def test_in_preview_nothing_changes_but_the_preview_lists_the_new_account(mirrored, simulator, atlassian):
    rule = _rule(mirrored, mode=PolicyMode.PREVIEW)
    group = rule.add_groups.get()
    [ben] = _join(simulator, "Ben")
    _sync(mirrored, atlassian)

    assert ben not in _members(group)
    assert not simulator.writes_for(ben)
    assert not OnboardingItem.objects.exists()
    preview = onboarding_preview(rule, timezone.now())
    assert [Account.objects.get(pk=m.account_pk).account_id for m in preview.matches] == [ben]
    assert preview.names(preview.matches[0]) == [group.name]


def test_in_review_the_new_account_is_queued_then_added_once_approved(mirrored, simulator, atlassian):
    rule = _rule(mirrored, mode=PolicyMode.REVIEW)
    group = rule.add_groups.get()
    [cy, di] = _join(simulator, "Cy", "Di")
    _sync(mirrored, atlassian)

    assert not simulator.writes_for(cy)
    items = {i.account.account_id: i for i in OnboardingItem.objects.select_related("account")}
    assert {i.status for i in items.values()} == {OnboardingItemStatus.AWAITING_REVIEW}
    assert set(items) == {cy, di}

    assert onboarding_item_approve(item=items[cy], actor=ADMIN, client=atlassian) == OnboardingItemStatus.DONE
    onboarding_item_reject(item=items[di], actor=ADMIN, reason="contractor, not staff")
    assert cy in _members(group)
    assert di not in _members(group)
    assert not simulator.writes_for(di)
    assert AuditEvent.objects.filter(action=AuditAction.ONBOARDING_APPROVED).count() == 1
    assert AuditEvent.objects.get(action=AuditAction.ONBOARDING_REJECTED).reason == "contractor, not staff"
    with pytest.raises(OnboardingRefused):
        onboarding_item_approve(item=items[di], actor=ADMIN, client=atlassian)


def test_the_cap_limits_one_run_and_the_rest_wait_for_a_reviewer(mirrored, simulator, atlassian):
    rule = _rule(mirrored, cap=2)
    group = rule.add_groups.get()
    joined = _join(simulator, "Ed", "Flo", "Gus")
    _sync(mirrored, atlassian)

    assert _members(group) & set(joined) == set(joined[:2])  # oldest first, up to the cap
    skipped = OnboardingItem.objects.get(status=OnboardingItemStatus.SKIPPED_BY_CAP)
    assert skipped.account.account_id == joined[2]
    assert AuditEvent.objects.get(action=AuditAction.ONBOARDING_RULE_APPLIED).after["skipped_by_cap"] == 1
    onboarding_item_approve(item=skipped, actor=ADMIN, client=atlassian)
    assert joined[2] in _members(group)


def test_an_organization_wide_exemption_keeps_the_rule_off_an_account_and_a_policy_one_does_not(
    mirrored, simulator, atlassian, make_policy
):
    rule = _rule(mirrored)
    group = rule.add_groups.get()
    exemption_create(
        exemption=Exemption(organization=mirrored, email_pattern=f"hal@{DOMAIN}", reason="break-glass"), actor=ADMIN
    )
    policy = make_policy()
    exemption_create(
        exemption=Exemption(organization=mirrored, policy=policy, email_pattern=f"ivy@{DOMAIN}", reason="on leave"),
        actor=ADMIN,
    )
    hal, ivy = _join(simulator, "Hal", "Ivy")
    _sync(mirrored, atlassian)

    assert hal not in _members(group)
    assert ivy in _members(group)
    assert AuditEvent.objects.get(action=AuditAction.ONBOARDING_RULE_APPLIED).after["exempt"] == 1


def test_conditions_other_than_the_address_narrow_who_matches(mirrored, simulator, atlassian):
    rule = _rule(mirrored, claim_scope="external")
    group = rule.add_groups.get()
    managed = simulator.state.add_user("Jo", f"jo@{DOMAIN}", managed=True)
    external = simulator.state.add_user("Kit", f"kit@{DOMAIN}", managed=False)
    elsewhere = simulator.state.add_user("Lou", "lou@other.example.org", managed=False)
    _sync(mirrored, atlassian)

    assert _members(group) & {managed, external, elsewhere} == {external}


def test_the_first_sync_of_an_organization_onboards_nobody(organization, simulator, atlassian):
    # Everyone is new to an empty mirror: existing accounts are the bulk application's, previewed.
    _sync(organization, atlassian)  # the groups, for the rule
    rule = _rule(organization, cap=1000)
    OnboardingRule.objects.filter(pk=rule.pk).update(email_pattern="")  # everyone matches
    Account.objects.all().delete()
    Organization.objects.filter(pk=organization.pk).update(last_complete_sync_at=None)
    _sync(organization, atlassian)  # the first complete sync again: everyone is new
    assert Account.objects.count() > 100
    assert not OnboardingItem.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.MEMBERSHIP_ADDED).exists()

    # From the next sync on, a newcomer is onboarded.
    [pia] = _join(simulator, "Pia")
    _sync(organization, atlassian)
    assert OnboardingItem.objects.get().account.account_id == pia


def test_the_bulk_application_to_existing_accounts_acts_on_what_was_previewed(mirrored, simulator, atlassian):
    rule = _rule(mirrored)
    group = rule.add_groups.get()
    known = (
        Account.objects.filter(organization=mirrored, status="active", account_type="atlassian")
        .exclude(email=None)
        .exclude(memberships__group=group)
        .order_by("pk")
        .first()
    )
    rule.email_pattern = known.email
    onboarding_rule_save(rule=rule, actor=ADMIN)
    assert onboarding_preview(rule, timezone.now()).matches == []  # not new: the after-sync scope is empty

    preview = onboarding_preview(rule, timezone.now(), scope="existing")
    assert [m.account_pk for m in preview.matches] == [known.pk]
    with pytest.raises(OnboardingRefused):  # the accounts changed since the preview
        onboarding_rule_apply(
            rule=rule, client=atlassian, actor=ADMIN, now=timezone.now(), scope="existing", expected=2
        )
    assert not simulator.writes_for(known.account_id)
    counts = onboarding_rule_apply(
        rule=rule, client=atlassian, actor=ADMIN, now=timezone.now(), scope="existing", expected=1
    )
    assert counts["added"] == 1
    assert group.name in simulator.state.user(known.account_id).groups


def test_evaluating_a_rule_after_a_sync_costs_the_same_queries_for_ten_or_a_thousand_new_accounts(mirrored):
    rule = _rule(mirrored, mode=PolicyMode.PREVIEW)
    rule.email_pattern = "*@bulk.example.com"
    onboarding_rule_save(rule=rule, actor=ADMIN)

    def evaluate(n: int) -> tuple[int, int]:
        Account.objects.bulk_create(
            Account(organization=mirrored, account_id=f"bulk-{n}-{i}", email=f"p{n}-{i}@bulk.example.com", name=f"P{i}")
            for i in range(n)
        )
        pks = frozenset(Account.objects.filter(account_id__startswith=f"bulk-{n}-").values_list("pk", flat=True))
        with CaptureQueriesContext(connection) as queries:
            preview = onboarding_preview(rule, timezone.now(), scope="first_seen", account_pks=pks)
        return len(queries), len(preview.matches)

    small, large = evaluate(10), evaluate(1000)
    assert (small[1], large[1]) == (10, 1000)
    assert small[0] == large[0] == 7  # groups x2, candidates, exemption patterns, exempt, memberships, items
