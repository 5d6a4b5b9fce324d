"""The decision engine: pure, no ORM, no HTTP. Snapshots, a policy, exemptions and ``now`` in;
one decision per account out, each with a one-sentence reason a person can check.

Inactivity is measured from the latest of: last activity in the scoped products, the date the
account joined the organization, and the date the portal last restored its access (Atlassian's
activity data lags up to 24 hours, so a just-restored person must not be acted on again).
"""

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Verdict(StrEnum):
    NONE = "none"  # nothing to do (and nothing open to cancel)
    WARN = "warn"  # inside the warning window: warn (or keep warning)
    ACT = "act"  # due: take the action
    CANCEL = "cancel"  # an open enforcement no longer applies


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    pk: int
    name: str
    email: str | None
    status: str
    account_type: str
    managed: bool
    is_org_admin: bool
    added_to_org: datetime | None
    last_active: datetime | None  # latest over all products
    restored_at: datetime | None
    status_changed_at: datetime | None
    product_activity: dict[int, datetime | None] = field(default_factory=dict)  # scoped products the account has
    group_pks: frozenset[int] = frozenset()  # only the groups policies and exemptions name


@dataclass(frozen=True, slots=True)
class PolicySpec:
    id: int
    trigger: str  # inactive | never_active | in_state
    trigger_days: int
    action: str
    trigger_state: str = ""
    warning_offsets: tuple[int, ...] = ()  # days before the action, largest first
    product_pks: frozenset[int] = frozenset()  # empty: any product
    product_names: dict[int, str] = field(default_factory=dict)
    include_group_pks: frozenset[int] = frozenset()
    exclude_group_pks: frozenset[int] = frozenset()
    claim_scope: str = "all"  # all | managed | external
    include_org_admins: bool = False
    include_app_accounts: bool = False


@dataclass(frozen=True, slots=True)
class ExemptionSpec:
    reason: str
    account_pk: int | None = None
    group_pk: int | None = None
    email_pattern: str = ""
    expires_at: datetime | None = None
    policy_id: int | None = None

    def covers(self, account: AccountSnapshot, policy_id: int, now: datetime) -> bool:
        if self.expires_at is not None and self.expires_at <= now:
            return False
        if self.policy_id is not None and self.policy_id != policy_id:
            return False
        if self.account_pk is not None:
            return self.account_pk == account.pk
        if self.group_pk is not None:
            return self.group_pk in account.group_pks
        if self.email_pattern and account.email:
            return fnmatch.fnmatchcase(account.email.lower(), self.email_pattern.lower())
        return False


@dataclass(frozen=True, slots=True)
class OpenCase:
    """What the engine needs to know about an account's open enforcement under this policy."""

    status: str
    warned_at: datetime | None
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    account_pk: int
    verdict: Verdict
    reason: str
    due_at: datetime | None = None
    inactive_since: datetime | None = None
    days_inactive: int | None = None
    product: str = ""


# Which account statuses each action applies to (acting on an already-suspended account is moot).
_STATUSES_FOR_ACTION = {
    "notify": {"active"},
    "remove_product_access": {"active"},
    "suspend": {"active"},
    "deactivate": {"active", "suspended"},
    "delete": {"active", "suspended", "deactivated"},
}
_ACTION_WORDS = {
    "notify": "reminded",
    "remove_product_access": "removed from",
    "suspend": "suspended",
    "deactivate": "deactivated",
    "delete": "deleted",
}


def _day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def in_scope(policy: PolicySpec, account: AccountSnapshot) -> bool:
    """Whether the policy looks at this account at all (before exemptions and triggers)."""
    if account.account_type == "app" and not policy.include_app_accounts:
        return False
    if account.account_type == "customer":
        return False  # portal customers hold no licence
    if policy.claim_scope == "managed" and not account.managed:
        return False
    if policy.claim_scope == "external" and account.managed:
        return False
    if policy.action in ("deactivate", "delete") and not account.managed:
        return False  # Atlassian only deactivates and deletes managed accounts
    if policy.include_group_pks and not (account.group_pks & policy.include_group_pks):
        return False
    if account.group_pks & policy.exclude_group_pks:
        return False
    if policy.trigger == "in_state":
        return account.status == policy.trigger_state
    if account.status not in _STATUSES_FOR_ACTION.get(policy.action, {"active"}):
        return False
    # With products in scope, an account without access to any of them has nothing to lose.
    return bool(account.product_activity) or not policy.product_pks


def exemption_reason(
    policy: PolicySpec, account: AccountSnapshot, exemptions: list[ExemptionSpec], now: datetime
) -> str | None:
    if account.is_org_admin and not policy.include_org_admins:
        return "org admins are exempt"
    for exemption in exemptions:
        if exemption.covers(account, policy.id, now):
            return f"exempt: {exemption.reason}"
    return None


def _anchor(policy: PolicySpec, account: AccountSnapshot) -> tuple[datetime | None, str, str]:
    """The moment inactivity is counted from, what it is, and the product it concerns."""
    if policy.trigger == "in_state":
        candidates = [(account.status_changed_at, f"{account.status} since"), (account.restored_at, "restored on")]
        product = ""
    else:
        if policy.product_pks:
            used = {pk: when for pk, when in account.product_activity.items() if when}
            last_pk = max(used, key=used.get) if used else None
            last = used.get(last_pk) if last_pk else None
            product = (
                policy.product_names.get(last_pk)
                if last_pk
                else ", ".join(
                    sorted(policy.product_names[pk] for pk in account.product_activity if pk in policy.product_names)
                )
            )
        else:
            last, product = account.last_active, "any product"
        if policy.trigger == "never_active" and last is not None:
            return None, "", product
        candidates = [
            (last, f"last active in {product} on"),
            (account.added_to_org, "joined on"),
            (account.restored_at, "access restored on"),
        ]
    known = [(when, label) for when, label in candidates if when is not None]
    if not known:
        return None, "", product
    when, label = max(known, key=lambda item: item[0])
    return when, label, product


def decide(
    policy: PolicySpec,
    account: AccountSnapshot,
    exemptions: list[ExemptionSpec],
    now: datetime,
    open_case: OpenCase | None = None,
) -> Decision:
    """What to do about ``account`` under ``policy`` at ``now``."""

    def cancel_or_none(reason: str) -> Decision:
        verdict = Verdict.CANCEL if open_case else Verdict.NONE
        return Decision(account.pk, verdict, reason)

    if not in_scope(policy, account):
        return cancel_or_none("no longer in the policy's scope")
    exempt = exemption_reason(policy, account, exemptions, now)
    if exempt:
        return cancel_or_none(exempt)
    anchor, label, product = _anchor(policy, account)
    if anchor is None:
        if policy.trigger == "never_active":
            return cancel_or_none(f"has used {product}")
        return cancel_or_none("no activity, join or restore date known: not judged")
    due = anchor + timedelta(days=policy.trigger_days)
    days = max(0, (now - anchor).days)
    lead = timedelta(days=policy.warning_offsets[0]) if policy.warning_offsets else timedelta(0)
    if now < due - lead:
        return cancel_or_none(f"{label} {_day(anchor)}, within the {policy.trigger_days}-day threshold")
    # People are warned before any action: a first warning moves the action out to a full lead time.
    if lead and (open_case is None or open_case.warned_at is None):
        due = max(due, now + lead)
    elif lead and open_case.warned_at is not None:
        due = max(due, open_case.warned_at + lead)
    words = _ACTION_WORDS.get(policy.action, policy.action)
    what = f"{words} {product}" if policy.action == "remove_product_access" else words
    base = f"{label} {_day(anchor)} ({days} days; threshold {policy.trigger_days} days)"
    common = dict(due_at=due, inactive_since=anchor, days_inactive=days, product=product)
    if now < due:
        return Decision(account.pk, Verdict.WARN, f"{base}; will be {what} on {_day(due)}", **common)
    return Decision(account.pk, Verdict.ACT, f"{base}; {what} on {_day(now)}", **common)
