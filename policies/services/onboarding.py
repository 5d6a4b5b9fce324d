"""Onboarding rules: saved and audited, applied after each sync to the accounts it saw for the first
time (``onboarding_after_sync``, a ``PORTAL_AFTER_SYNC`` hook) or to existing accounts on request,
and their queued items approved or rejected.

Every group is added through ``membership_add`` (under the account's change lock, audited as
``membership.added`` with the rule as the reason). One ``onboarding_rule.applied`` event per rule
and run says what the run found and did. See policies/selectors/onboarding.py for the exemptions.
"""

import logging
from collections import Counter
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from accounts.clients import client_for
from accounts.models import Account, Group, Organization
from accounts.services.errors import ServiceRefused
from accounts.services.memberships import membership_add
from governance.atlassian.client import AtlassianClient
from governance.atlassian.errors import AtlassianError
from governance.audit.models import AuditAction
from governance.audit.record import Actor, new_correlation_id, record_event
from policies.models import OnboardingItem, OnboardingItemStatus, OnboardingRule, PolicyMode
from policies.models.onboarding import DECIDABLE_STATUSES
from policies.selectors.onboarding import OnboardingMatch, Scope, onboarding_preview

log = logging.getLogger(__name__)

_M2M = ("member_of", "add_groups")
ONBOARDING = "onboarding rules"


class OnboardingRefused(ServiceRefused):
    pass


def rule_reason(rule: OnboardingRule) -> str:
    """The reason on every change a rule makes."""
    return f"onboarding rule “{rule.name}” (#{rule.pk})"


def _snapshot(rule: OnboardingRule) -> dict[str, Any]:
    data = model_to_dict(rule, exclude=["id", *_M2M])
    data["organization"] = rule.organization.org_id if rule.organization_id else None
    if rule.pk:
        for name in _M2M:
            data[name] = sorted(getattr(rule, name).values_list("pk", flat=True))
    return data


def validate_rule(rule: OnboardingRule, m2m: dict[str, Any]) -> None:
    """What every caller's input must meet beyond the model: groups of the rule's organization, at
    least one group to add, none synced from an identity provider (Atlassian refuses their members),
    and a directory the organization has."""
    errors: dict[str, str] = {}
    for name, values in m2m.items():
        strangers = [str(g) for g in values if g.organization_id != rule.organization_id]
        if strangers:
            errors[name] = f"Not in organization {rule.organization}: {', '.join(strangers)}."
    add = m2m.get("add_groups")
    if add is not None and not add:
        errors["add_groups"] = "Name at least one group to add the accounts to."
    synced = [str(g) for g in add or () if g.external_synced]
    if synced and "add_groups" not in errors:
        errors["add_groups"] = f"Synced from an identity provider, change them there: {', '.join(synced)}."
    directories = rule.organization.directories or {}
    if rule.directory_id and rule.directory_id not in directories:
        known = ", ".join(f"{k} ({v})" for k, v in directories.items()) or "none listed yet: run a sync"
        errors["directory_id"] = f"Not a directory of {rule.organization}; known: {known}."
    if errors:
        raise ValidationError(errors)


def onboarding_rule_save(
    *, rule: OnboardingRule, actor: Actor, m2m: dict[str, Any] | None = None, reason: str = ""
) -> OnboardingRule:
    """Create or change a rule, validated and audited in one transaction. A new rule starts in preview."""
    creating = rule.pk is None
    if creating:
        rule.mode = PolicyMode.PREVIEW
        m2m = {"add_groups": [], **(m2m or {})}
    m2m = m2m or {}
    rule.full_clean()
    validate_rule(rule, m2m)
    with transaction.atomic():
        before = {} if creating else _snapshot(OnboardingRule.objects.get(pk=rule.pk))
        rule.save()
        for name, values in m2m.items():
            getattr(rule, name).set(values)
        after = _snapshot(rule)
        changed = after if creating else {k: v for k, v in after.items() if before.get(k) != v}
        if changed:
            record_event(
                actor=actor,
                action=AuditAction.ONBOARDING_RULE_CREATED if creating else AuditAction.ONBOARDING_RULE_UPDATED,
                target=rule,
                before=None if creating else {k: before.get(k) for k in changed},
                after=changed,
                reason=reason,
                organization=rule.organization.org_id,
            )
    return rule


def _add_groups(
    match_pk: int, group_pks: list[int], rule: OnboardingRule, *, client: AtlassianClient, actor: Actor, cid: str
) -> str:
    """Add one account to the groups it lacks; '' when done, else what went wrong."""
    account = Account.objects.select_related("organization").get(pk=match_pk)
    groups = list(Group.objects.filter(pk__in=group_pks).order_by("pk"))
    try:
        for index, group in enumerate(groups):
            account = membership_add(
                account=account,
                group=group,
                client=client,
                actor=actor,
                reason=rule_reason(rule),
                correlation_id=cid,
                refresh=index == len(groups) - 1,  # one read-back, after the last group
            )
    except (ServiceRefused, AtlassianError) as exc:
        return str(exc) or type(exc).__name__
    return ""


def onboarding_rule_apply(
    *,
    rule: OnboardingRule,
    client: AtlassianClient,
    actor: Actor,
    now: datetime,
    scope: Scope = "first_seen",
    account_pks: frozenset[int] = frozenset(),
    expected: int | None = None,
) -> dict[str, int]:
    """Apply ``rule`` to the accounts ``scope`` names (policies/selectors/onboarding.py) by its mode.

    Preview: nothing changes. Review: up to the cap, an item awaiting review per account. Enforce:
    up to the cap, the account added to the groups it lacks. Beyond the cap: an item skipped by the
    cap, for a reviewer. ``expected``: the bulk application's previewed count; refused when the
    accounts changed since. Returns the counts, also recorded in one ``onboarding_rule.applied``
    event when anything matched."""
    preview = onboarding_preview(rule, now, scope=scope, account_pks=account_pks)
    if expected is not None and expected != len(preview.matches):
        raise OnboardingRefused(
            f"The preview showed {expected} account(s) but {len(preview.matches)} match now: preview again."
        )
    counts: Counter[str] = Counter(matched=len(preview.matches), exempt=preview.exempt, already_queued=preview.queued)
    if rule.mode == PolicyMode.PREVIEW or not preview.matches:
        return {k: v for k, v in counts.items() if v}
    cid = new_correlation_id()
    within, beyond = preview.within_cap, preview.matches[rule.cap_per_run :]
    items: list[OnboardingItem] = [_item(rule, m, OnboardingItemStatus.SKIPPED_BY_CAP) for m in beyond]
    counts["skipped_by_cap"] = len(beyond)
    if rule.mode == PolicyMode.REVIEW:
        items += [_item(rule, m, OnboardingItemStatus.AWAITING_REVIEW) for m in within]
        counts["queued"] = len(within)
    else:
        for match in within:
            error = _add_groups(match.account_pk, list(match.groups), rule, client=client, actor=actor, cid=cid)
            status = OnboardingItemStatus.FAILED if error else OnboardingItemStatus.DONE
            items.append(_item(rule, match, status, error=error))
            counts["failed" if error else "added"] += 1
    with transaction.atomic():
        OnboardingItem.objects.bulk_create(items, batch_size=500)
        record_event(
            actor=actor,
            action=AuditAction.ONBOARDING_RULE_APPLIED,
            target=rule,
            after={"mode": rule.mode, "scope": scope, **{k: v for k, v in counts.items() if v}},
            reason=rule_reason(rule),
            correlation_id=cid,
            organization=rule.organization.org_id,
        )
    return {k: v for k, v in counts.items() if v}


def _item(rule: OnboardingRule, match: OnboardingMatch, status: str, error: str = "") -> OnboardingItem:
    return OnboardingItem(rule=rule, account_id=match.account_pk, groups=list(match.groups), status=status, error=error)


def onboarding_after_sync(
    *, organization: Organization, first_seen: frozenset[int] = frozenset(), client: Any, now: datetime, **_: Any
) -> dict[str, dict[str, int]]:
    """After a complete sync: every enabled rule of the organization, over the accounts it saw first."""
    if not first_seen:
        return {}
    actor = Actor.system(ONBOARDING)
    done: dict[str, dict[str, int]] = {}
    for rule in OnboardingRule.objects.filter(organization=organization, enabled=True).select_related("organization"):
        try:
            done[rule.name] = onboarding_rule_apply(
                rule=rule, client=client, actor=actor, now=now, scope="first_seen", account_pks=first_seen
            )
        except Exception:  # one rule's failure leaves the others to run
            log.exception("Onboarding rule %s failed after the sync of %s", rule.pk, organization.org_id)
    return done


def onboarding_item_approve(
    *, item: OnboardingItem, actor: Actor, reason: str = "", client: AtlassianClient | None = None
) -> str:
    """Approve a queued item and add the account to the groups it still lacks now. Returns the
    item's new status."""
    rule = item.rule
    with transaction.atomic():
        won = OnboardingItem.objects.filter(pk=item.pk, status__in=DECIDABLE_STATUSES).update(
            status=OnboardingItemStatus.DONE, decided_by=actor.user, decision_note=reason, updated_at=timezone.now()
        )
        if not won:
            raise OnboardingRefused(f"{item} is no longer awaiting a decision.")
        record_event(
            actor=actor,
            action=AuditAction.ONBOARDING_APPROVED,
            target=item,
            after={"groups": item.groups},
            reason=reason or rule_reason(rule),
            organization=rule.organization.org_id,
        )
    owned = client is None
    client = client or client_for(rule.organization)
    try:
        have = set(
            Group.objects.filter(pk__in=item.groups, memberships__account_id=item.account_id).values_list(
                "pk", flat=True
            )
        )
        missing = [pk for pk in item.groups if pk not in have]
        error = (
            _add_groups(item.account_id, missing, rule, client=client, actor=actor, cid=new_correlation_id())
            if missing
            else ""
        )
    finally:
        if owned:
            client.close()
    if error:
        OnboardingItem.objects.filter(pk=item.pk).update(status=OnboardingItemStatus.FAILED, error=error)
        return OnboardingItemStatus.FAILED
    return OnboardingItemStatus.DONE


def onboarding_item_reject(*, item: OnboardingItem, actor: Actor, reason: str) -> None:
    if not reason.strip():
        raise OnboardingRefused("A reason is required.")
    with transaction.atomic():
        won = OnboardingItem.objects.filter(pk=item.pk, status__in=DECIDABLE_STATUSES).update(
            status=OnboardingItemStatus.REJECTED, decided_by=actor.user, decision_note=reason, updated_at=timezone.now()
        )
        if not won:
            raise OnboardingRefused(f"{item} is no longer awaiting a decision.")
        record_event(
            actor=actor,
            action=AuditAction.ONBOARDING_REJECTED,
            target=item,
            reason=reason,
            organization=item.rule.organization.org_id,
        )
