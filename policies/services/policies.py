"""Policy and exemption changes: validated, saved and audited in one transaction."""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from accounts.services.errors import ServiceRefused
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from policies.email_templates import TEMPLATE_FIELDS, check_template
from policies.models import Exemption, InactivityPolicy, PolicyMode
from policies.schedules import apply_policy_schedule

_M2M = ("products", "include_groups", "exclude_groups")


def _snapshot(policy: InactivityPolicy) -> dict[str, Any]:
    data = model_to_dict(policy, exclude=["id", *_M2M])
    data["organization"] = policy.organization.org_id if policy.organization_id else None
    if policy.pk:
        for name in _M2M:
            data[name] = sorted(getattr(policy, name).values_list("pk", flat=True))
    return data


def validate_templates(policy: InactivityPolicy) -> None:
    """Every email template holds only the documented placeholders, plain (policies/email_templates.py)."""
    from django.core.exceptions import ValidationError

    errors = {}
    for name in TEMPLATE_FIELDS:
        try:
            check_template(getattr(policy, name))
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise ValidationError(errors)


def validate_policy(policy: InactivityPolicy, m2m: dict[str, Any] | None = None) -> None:
    """What the admin's form checks beyond the model, for every caller (the API, imports): a valid
    cron expression, and products and groups of the policy's own organization."""
    from croniter import croniter
    from django.core.exceptions import ValidationError

    errors: dict[str, str] = {}
    if not croniter.is_valid((policy.schedule_cron or "").strip()):
        errors["schedule_cron"] = "Not a cron expression; for example 30 6 * * * (06:30 every day)."
    for name, values in (m2m or {}).items():
        strangers = [str(obj) for obj in values if getattr(obj, "organization_id", None) != policy.organization_id]
        if strangers:
            errors[name] = f"Not in organization {policy.organization}: {', '.join(strangers)}."
    if errors:
        raise ValidationError(errors)


def policy_save(
    *, policy: InactivityPolicy, actor: Actor, m2m: dict[str, Any] | None = None, reason: str = ""
) -> InactivityPolicy:
    """Create or update a policy. A new policy always starts in preview (DESIGN.md 5.4)."""
    creating = policy.pk is None
    if creating:
        policy.mode = PolicyMode.PREVIEW
    policy.full_clean()
    validate_templates(policy)
    validate_policy(policy, m2m)
    with transaction.atomic():
        before = {} if creating else _snapshot(InactivityPolicy.objects.get(pk=policy.pk))
        policy.save()
        for name, values in (m2m or {}).items():
            getattr(policy, name).set(values)
        after = _snapshot(policy)
        changed = after if creating else {k: v for k, v in after.items() if before.get(k) != v}
        if creating or changed:
            record_event(
                actor=actor,
                action=AuditAction.POLICY_CREATED if creating else AuditAction.POLICY_UPDATED,
                target=policy,
                before=None if creating else {k: before.get(k) for k in changed},
                after=changed,
                reason=reason,
                organization=policy.organization.org_id,
            )
        if creating or {"enabled", "schedule_cron"} & changed.keys():
            _reschedule_on_commit(policy.pk)
    return policy


def policy_delete(*, policy: InactivityPolicy, actor: Actor, reason: str = "") -> None:
    """Delete a policy that has never decided anything, with its exemptions and schedule.

    A policy with enforcements stays: its runs, restores and the audit trail refer to it
    (disable it instead)."""
    with transaction.atomic():
        policy = InactivityPolicy.objects.select_for_update().get(pk=policy.pk)
        if policy.enforcements.exists():
            raise ServiceRefused(f"{policy.name} has enforcements; disable it instead of deleting it.")
        pk = policy.pk
        record_event(
            actor=actor,
            action=AuditAction.POLICY_DELETED,
            target=policy,
            reason=reason,
            before={
                "name": policy.name,
                "mode": policy.mode,
                "action": policy.action,
                "trigger": policy.trigger,
                "trigger_days": policy.trigger_days,
                "exemptions_removed": [str(e) for e in policy.exemption_set.all()],
            },
            organization=policy.organization.org_id,
        )
        policy.delete()
        _reschedule_on_commit(pk)


def _reschedule_on_commit(policy_pk: int) -> None:
    transaction.on_commit(lambda: apply_policy_schedule(policy_pk))


def exemption_create(*, exemption: Exemption, actor: Actor) -> Exemption:
    exemption.full_clean()
    with transaction.atomic():
        exemption.save()
        record_event(
            actor=actor,
            action=AuditAction.EXEMPTION_CREATED,
            target=exemption,
            reason=exemption.reason,
            after={
                "kind": exemption.kind,
                "subject": str(exemption),
                "expires_at": exemption.expires_at.isoformat() if exemption.expires_at else None,
            },
            organization=exemption.organization.org_id,
        )
    return exemption


def exemption_expire(*, exemption: Exemption, actor: Actor, reason: str, now: datetime | None = None) -> Exemption:
    now = now or timezone.now()
    with transaction.atomic():
        before = exemption.expires_at
        exemption.expires_at = now
        exemption.save(update_fields=["expires_at"])
        record_event(
            actor=actor,
            action=AuditAction.EXEMPTION_EXPIRED,
            target=exemption,
            reason=reason,
            before={"expires_at": before.isoformat() if before else None},
            after={"expires_at": now.isoformat()},
            organization=exemption.organization.org_id,
        )
    return exemption
