"""Policies as code: read a document of ``policies.selectors.policy_export`` into this portal.

``policies_import(..., apply=False)`` only says what would change: for each policy (matched by
name) and exemption, create, change (with the fields, old and new) or unchanged. With
``apply=True`` it does it, all or nothing: every policy through ``policy_save`` and every new
exemption through ``exemption_create`` (one audit event each, as in the admin), plus one
``import.applied`` event for the whole document.

What an import never does: delete a policy or an exemption the document does not name, change a
policy's mode (a new policy starts in preview, DESIGN.md 5.4; an existing one keeps this portal's
mode), or edit an exemption (exemptions are never edited: a different one is created beside it).
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Account, Group, Organization, Product
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from policies.models import Exemption, InactivityPolicy, PolicyMode
from policies.models.policies import POLICY_SCOPE, POLICY_SETTINGS
from policies.selectors.policy_export import FORMAT, VERSION, exemption_entry
from policies.services.policies import exemption_create, policy_save, validate_policy, validate_templates

CREATE, CHANGE, UNCHANGED = "create", "change", "unchanged"
_POLICY_KEYS = {"name", "mode", *POLICY_SETTINGS, *POLICY_SCOPE}
_EXEMPTION_KEYS = {"kind", "policy", "account", "group", "email_pattern", "reason", "expires_at"}


@dataclass
class ImportItem:
    kind: str  # policy | exemption
    name: str
    outcome: str  # create | change | unchanged
    changes: dict[str, list[Any]] = field(default_factory=dict)  # field -> [old, new]


@dataclass
class ImportPlan:
    items: list[ImportItem]
    applied: bool = False

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, Counter[str]] = {"policy": Counter(), "exemption": Counter()}
        for item in self.items:
            counts[item.kind][item.outcome] += 1
        return {kind: {o: c[o] for o in (CREATE, CHANGE, UNCHANGED)} for kind, c in counts.items()}


@dataclass
class _PolicyWork:
    item: ImportItem
    policy: InactivityPolicy
    m2m: dict[str, list[Any]]


@dataclass
class _ExemptionWork:
    item: ImportItem
    exemption: Exemption
    policy_name: str | None


def policies_import(
    *,
    organization: Organization,
    document: Any,
    actor: Actor,
    apply: bool = False,
    reason: str = "",
    now: datetime | None = None,
) -> ImportPlan:
    """What importing ``document`` into ``organization`` changes (and, with ``apply``, change it).

    Raises ``ValidationError`` with one message per problem ("policies[2] Jira 90 days, products:
    ...") and changes nothing when any entry is wrong."""
    now = now or timezone.now()
    errors: list[str] = []
    policies, exemptions = _entries(document, errors)
    policy_work = [w for i, entry in enumerate(policies) if (w := _policy(organization, i, entry, errors))]
    names = {w.policy.name for w in policy_work} | set(
        InactivityPolicy.objects.filter(organization=organization).values_list("name", flat=True)
    )
    exemption_work = [
        e for i, entry in enumerate(exemptions) if (e := _exemption(organization, i, entry, names, now, errors))
    ]
    if errors:
        raise ValidationError(errors)
    plan = ImportPlan(items=[w.item for w in policy_work] + [w.item for w in exemption_work])
    if not apply:
        return plan
    with transaction.atomic():
        saved: dict[str, InactivityPolicy] = {}
        for change in policy_work:
            if change.item.outcome != UNCHANGED:
                saved[change.policy.name] = policy_save(
                    policy=change.policy, actor=actor, m2m=change.m2m, reason=reason or "policies imported"
                )
        for new in exemption_work:
            if new.item.outcome == CREATE:
                if new.policy_name:
                    new.exemption.policy = saved.get(new.policy_name) or InactivityPolicy.objects.get(
                        organization=organization, name=new.policy_name
                    )
                exemption_create(exemption=new.exemption, actor=actor)
        record_event(
            actor=actor,
            action=AuditAction.IMPORT_APPLIED,
            reason=reason,
            after={"import": "policies and exemptions", **plan.counts},
            organization=organization.org_id,
        )
    plan.applied = True
    return plan


def _entries(document: Any, errors: list[str]) -> tuple[list[Any], list[Any]]:
    if not isinstance(document, dict):
        errors.append("The document is not a JSON object.")
        return [], []
    if document.get("format") != FORMAT or document.get("version") != VERSION:
        errors.append(f'Not a policies document: expected "format": "{FORMAT}" and "version": {VERSION}.')
        return [], []
    policies, exemptions = document.get("policies", []), document.get("exemptions", [])
    if not isinstance(policies, list) or not isinstance(exemptions, list):
        errors.append('"policies" and "exemptions" are lists.')
        return [], []
    seen = Counter(
        entry.get("name") for entry in policies if isinstance(entry, dict) and isinstance(entry.get("name"), str)
    )
    errors += [f"policies: {name!r} is named more than once." for name, n in seen.items() if n > 1]
    return policies, exemptions


def _policy(organization: Organization, i: int, entry: Any, errors: list[str]) -> _PolicyWork | None:
    label = f"policies[{i}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
        errors.append(f"{label}: an object with a name.")
        return None
    name = entry["name"]
    label = f"{label} {name}"
    unknown = sorted(set(entry) - _POLICY_KEYS)
    if unknown:
        errors.append(f"{label}: unknown fields {', '.join(unknown)}.")
        return None
    matches = list(InactivityPolicy.objects.filter(organization=organization, name=name)[:2])
    if len(matches) > 1:
        errors.append(f"{label}: this portal has several policies of that name; rename them first.")
        return None
    existing = matches[0] if matches else None
    policy = InactivityPolicy.objects.get(pk=existing.pk) if existing else InactivityPolicy(organization=organization)
    policy.name = name
    if existing is None:
        policy.mode = PolicyMode.PREVIEW
    before = {f: getattr(policy, f) for f in POLICY_SETTINGS}
    for f in POLICY_SETTINGS:
        if f in entry:
            setattr(policy, f, entry[f])
    m2m = _scope(organization, entry, label, errors)
    if m2m is None:
        return None
    try:
        policy.full_clean()
        validate_templates(policy)
        validate_policy(policy, m2m)
    except ValidationError as exc:
        errors += [f"{label}, {k}: {' '.join(v)}" for k, v in exc.message_dict.items()]
        return None
    except (TypeError, ValueError) as exc:  # a value of the wrong JSON type
        errors.append(f"{label}: {exc}")
        return None
    if existing is None:
        return _PolicyWork(ImportItem("policy", name, CREATE), policy, m2m)
    changes = {f: [before[f], getattr(policy, f)] for f in POLICY_SETTINGS if before[f] != getattr(policy, f)}
    for scope, values in m2m.items():
        old = {obj.pk: obj for obj in getattr(existing, scope).all()}
        if set(old) != {obj.pk for obj in values}:
            changes[scope] = [sorted(_ref(o) for o in old.values()), sorted(_ref(o) for o in values)]
    return _PolicyWork(ImportItem("policy", name, CHANGE if changes else UNCHANGED, changes), policy, m2m)


def _ref(obj: Product | Group) -> str:
    return obj.key if isinstance(obj, Product) else obj.name


def _scope(
    organization: Organization, entry: dict[str, Any], label: str, errors: list[str]
) -> dict[str, list[Any]] | None:
    """Products by key and groups by name, in ``organization``; None (and errors) when one is unknown."""
    m2m: dict[str, list[Any]] = {}
    ok = True
    for scope in POLICY_SCOPE:
        wanted = entry.get(scope, [])
        if not isinstance(wanted, list) or not all(isinstance(v, str) for v in wanted):
            errors.append(f"{label}, {scope}: a list of {'product keys' if scope == 'products' else 'group names'}.")
            ok = False
            continue
        found: list[Any]
        if scope == "products":
            found = list(Product.objects.filter(organization=organization, key__in=wanted))
        else:
            found = list(Group.objects.filter(organization=organization, name__in=wanted))
        have = {_ref(obj) for obj in found}
        missing = sorted(set(wanted) - have)
        if missing:
            errors.append(f"{label}, {scope}: not in organization {organization.org_id}: {', '.join(missing)}.")
            ok = False
        m2m[scope] = found
    return m2m if ok else None


def _exemption(
    organization: Organization, i: int, entry: Any, policy_names: set[str], now: datetime, errors: list[str]
) -> _ExemptionWork | None:
    label = f"exemptions[{i}]"
    if not isinstance(entry, dict) or set(entry) - _EXEMPTION_KEYS:
        errors.append(f"{label}: an object with only {', '.join(sorted(_EXEMPTION_KEYS))}.")
        return None
    if not all(value is None or isinstance(value, str) for value in entry.values()):
        errors.append(f"{label}: every value is a string or null.")
        return None
    exemption = Exemption(
        organization=organization,
        kind=entry.get("kind") or "exempt",
        email_pattern=entry.get("email_pattern") or "",
        reason=entry.get("reason") or "",
    )
    problems = []
    if entry.get("account"):
        exemption.account = Account.objects.filter(organization=organization, account_id=entry["account"]).first()
        if exemption.account is None:
            problems.append(f"account {entry['account']} is not in organization {organization.org_id}")
    if entry.get("group"):
        exemption.group = Group.objects.filter(organization=organization, name=entry["group"]).first()
        if exemption.group is None:
            problems.append(f"group {entry['group']} is not in organization {organization.org_id}")
    policy_name = entry.get("policy")
    if policy_name and policy_name not in policy_names:
        problems.append(f"policy {policy_name} is neither in the document nor in this portal")
    if entry.get("expires_at"):
        exemption.expires_at = parse_datetime(str(entry["expires_at"]))
        if exemption.expires_at is None:
            problems.append("expires_at is not an ISO 8601 date and time")
    if problems:
        errors.append(f"{label}: {'; '.join(problems)}.")
        return None
    try:
        exemption.full_clean(exclude=["created_by", "policy"])
    except ValidationError as exc:
        errors += [f"{label}, {k}: {' '.join(v)}" for k, v in exc.message_dict.items()]
        return None
    wanted = {**exemption_entry(exemption), "policy": policy_name or None}
    current = Exemption.objects.filter(organization=organization, kind=exemption.kind).unexpired(now)
    same = any(exemption_entry(e) == wanted for e in current.select_related("policy", "account", "group"))
    return _ExemptionWork(
        ImportItem("exemption", str(exemption), UNCHANGED if same else CREATE), exemption, policy_name
    )
