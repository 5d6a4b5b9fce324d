"""The decision engine: pure, no ORM, no HTTP. Snapshots, a policy, exemptions and ``now`` in;
one decision per account out, each with a one-sentence reason a person can check.

Inactivity is measured from the latest of: last activity in the scoped products, the date the
account joined the organization, and the date the portal last restored its access (Atlassian's
activity data lags up to 24 hours, so a just-restored person must not be acted on again).
"""

import fnmatch
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from policies.domain import AccountStatus, AccountType, ClaimScope, PolicyAction, Trigger

_NO_PRODUCTS: Mapping[int, datetime | None] = MappingProxyType({})


class Verdict(StrEnum):
    NONE = "none"  # nothing to do (and nothing open to cancel)
    WARN = "warn"  # inside the warning window: warn (or keep warning)
    ACT = "act"  # due: take the action
    CANCEL = "cancel"  # an open enforcement no longer applies


# Snapshots and decisions are immutable records built by the hundred thousand per run: a NamedTuple
# is as immutable as a frozen dataclass and about seven times cheaper to build (a frozen dataclass
# sets each field through object.__setattr__), which at 100,000 accounts was a quarter of a second
# per policy (bench/bench_policies.py). Only their attributes are used, never their tuple-ness.
class AccountSnapshot(NamedTuple):
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
    # The account's products (at least those in the policy's scope: the engine ignores the others).
    # The default is one shared empty dict: nothing ever writes to a snapshot's products.
    product_activity: Mapping[int, datetime | None] = _NO_PRODUCTS
    group_pks: frozenset[int] = frozenset()  # only the groups policies and exemptions name
    # Which of the ``classes`` given to decide_and_count this account belongs to (-1: none): see scope_key.
    scope_class: int = -1


@dataclass(frozen=True, slots=True)
class PolicySpec:
    id: int
    trigger: str  # a Trigger
    trigger_days: int
    action: str  # a PolicyAction
    trigger_state: str = ""  # an AccountStatus, for Trigger.IN_STATE
    warning_offsets: tuple[int, ...] = ()  # days before the action, largest first
    product_pks: frozenset[int] = frozenset()  # empty: any product
    product_names: dict[int, str] = field(default_factory=dict)
    include_group_pks: frozenset[int] = frozenset()
    exclude_group_pks: frozenset[int] = frozenset()
    claim_scope: str = ClaimScope.ALL
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
        if self.email_pattern:
            return email_matches(self.email_pattern, account.email)
        return False


def email_matches(pattern: str, email: str | None) -> bool:
    """An exemption's shell-style email pattern against an address, case-insensitively
    (policies.filtersets matches the same way in SQL)."""
    if not email:
        return False
    return fnmatch.fnmatchcase(email.lower(), pattern.lower())


# One exemption as decide_many checks it for every account: the account pk, the group pk, or the
# email pattern compiled once (what fnmatchcase compiles), and the reason.
_Check = tuple[int | None, int | None, "re.Pattern[str] | None", str]


class _Checks(NamedTuple):
    """The exemptions in force for one policy (``ordered``, each a ``_Check``), and what any of them
    names: most accounts match none, which these answer without going through them in order."""

    ordered: list[_Check]
    account_pks: frozenset[int]
    group_pks: frozenset[int]
    patterns: tuple["re.Pattern[str]", ...]


def _checks(exemptions: list[ExemptionSpec], policy_id: int, now: datetime) -> _Checks:
    """The exemptions that can cover an account under this policy at ``now``, in their order, each
    reduced to what ``ExemptionSpec.covers`` then compares (the same answers: an account pk is
    compared alone, else a group, else a pattern; one with none of them covers nobody)."""
    checks: list[_Check] = []
    for e in exemptions:
        if (e.expires_at is not None and e.expires_at <= now) or (e.policy_id is not None and e.policy_id != policy_id):
            continue
        if e.account_pk is not None:
            checks.append((e.account_pk, None, None, e.reason))
        elif e.group_pk is not None:
            checks.append((None, e.group_pk, None, e.reason))
        elif e.email_pattern:
            checks.append((None, None, _compiled(e.email_pattern), e.reason))
    return _Checks(
        checks,
        frozenset(c[0] for c in checks if c[0] is not None),
        frozenset(c[1] for c in checks if c[1] is not None),
        tuple(c[2] for c in checks if c[2] is not None),
    )


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> "re.Pattern[str]":
    """What ``fnmatch.fnmatchcase(email.lower(), pattern.lower())`` matches with."""
    return re.compile(fnmatch.translate(pattern.lower()))


@dataclass(frozen=True, slots=True)
class OpenCase:
    """What the engine needs to know about an account's open enforcement under this policy."""

    status: str
    warned_at: datetime | None
    due_at: datetime


class Decision(NamedTuple):
    account_pk: int
    verdict: Verdict
    reason: str
    due_at: datetime | None = None
    inactive_since: datetime | None = None
    days_inactive: int | None = None
    product: str = ""


# Which account statuses each action applies to (acting on an already-suspended account is moot).
_ACTIVE, _SUSPENDED, _DEACTIVATED = AccountStatus.ACTIVE, AccountStatus.SUSPENDED, AccountStatus.DEACTIVATED
# Keyed and valued by plain strings: a spec's action and an account's status are str (StrEnum members
# are equal to their values and hash alike).
_STATUSES_FOR_ACTION: dict[str, set[str]] = {
    PolicyAction.NOTIFY: {_ACTIVE},
    PolicyAction.REMOVE_PRODUCT_ACCESS: {_ACTIVE},
    PolicyAction.SUSPEND: {_ACTIVE},
    PolicyAction.DEACTIVATE: {_ACTIVE, _SUSPENDED},
    PolicyAction.DELETE: {_ACTIVE, _SUSPENDED, _DEACTIVATED},
}
_ONLY_ACTIVE: set[str] = {_ACTIVE}
# Atlassian only deactivates and deletes managed accounts.
_MANAGED_ONLY = {PolicyAction.DEACTIVATE, PolicyAction.DELETE}
_ACTION_WORDS: dict[str, str] = {
    PolicyAction.NOTIFY: "reminded",
    PolicyAction.REMOVE_PRODUCT_ACCESS: "removed from",
    PolicyAction.SUSPEND: "suspended",
    PolicyAction.DEACTIVATE: "deactivated",
    PolicyAction.DELETE: "deleted",
}
# Members bound to module names: the functions below run once per account, and reading an enum
# member off its class costs several times a string comparison.
_APP, _CUSTOMER = AccountType.APP, AccountType.CUSTOMER
_MANAGED, _EXTERNAL = ClaimScope.MANAGED, ClaimScope.EXTERNAL
_IN_STATE, _NEVER_ACTIVE = Trigger.IN_STATE, Trigger.NEVER_ACTIVE
_REMOVE_PRODUCT_ACCESS = PolicyAction.REMOVE_PRODUCT_ACCESS
_NONE, _WARN, _ACT, _CANCEL = Verdict.NONE, Verdict.WARN, Verdict.ACT, Verdict.CANCEL


def _day(value: datetime) -> str:
    # isoformat() is strftime("%Y-%m-%d") at a third of the cost, for four-digit years.
    return value.date().isoformat() if value.year >= 1000 else value.strftime("%Y-%m-%d")


def days_inactive(since: datetime, at: datetime) -> int:
    """Whole days from ``since`` to ``at``: the one figure of inactivity, in a decision's reason,
    the policy preview and every email (``policies.services.notifications``)."""
    return max(0, (at - since).days)


def in_scope(policy: PolicySpec, account: AccountSnapshot) -> bool:
    """Whether the policy looks at this account at all (before exemptions and triggers)."""
    if account.account_type == _APP and not policy.include_app_accounts:
        return False
    if account.account_type == _CUSTOMER:
        return False  # portal customers hold no licence
    if policy.claim_scope == _MANAGED and not account.managed:
        return False
    if policy.claim_scope == _EXTERNAL and account.managed:
        return False
    if policy.action in _MANAGED_ONLY and not account.managed:
        return False
    if policy.include_group_pks and not (account.group_pks & policy.include_group_pks):
        return False
    if account.group_pks & policy.exclude_group_pks:
        return False
    if policy.trigger == _IN_STATE:
        return account.status == policy.trigger_state
    if account.status not in _STATUSES_FOR_ACTION.get(policy.action, _ONLY_ACTIVE):
        return False
    # With products in scope, an account without access to any of them has nothing to lose.
    return not policy.product_pks or not policy.product_pks.isdisjoint(account.product_activity)


def scope_key(account: AccountSnapshot) -> tuple[str, bool, str, frozenset[int], frozenset[int]]:
    """Everything of an account that ``in_scope`` reads: accounts with equal keys are in or out of
    any policy's scope together. Keep the two in step, and ``AccountData._build``, which makes the
    same key from its rows (tests/policies/test_engine_batch.py and test_shared_loading.py check it).

    Policies evaluated together on shared data (``policies.selectors.snapshots.AccountData``)
    number the distinct keys (``AccountSnapshot.scope_class``), so that each policy asks
    ``in_scope`` once per class instead of once per account: 88 classes for the benchmark's
    100,000 accounts, where the per-account check was a quarter of a large policy's decisions.
    """
    return (
        account.account_type,
        account.managed,
        account.status,
        account.group_pks,
        frozenset(account.product_activity),
    )


def exemption_reason(
    policy: PolicySpec, account: AccountSnapshot, exemptions: list[ExemptionSpec], now: datetime
) -> str | None:
    if account.is_org_admin and not policy.include_org_admins:
        return "org admins are exempt"
    for exemption in exemptions:
        if exemption.covers(account, policy.id, now):
            return f"exempt: {exemption.reason}"
    return None


def _checked_exemption(policy: PolicySpec, account: AccountSnapshot, checks: _Checks) -> str | None:
    """``exemption_reason`` with the exemptions reduced by ``_checks``: the same answer."""
    if account.is_org_admin and not policy.include_org_admins:
        return "org admins are exempt"
    # Covered by none (most accounts): known without going through the exemptions in order.
    if account.pk not in checks.account_pks and checks.group_pks.isdisjoint(account.group_pks):
        if not checks.patterns or not account.email:
            return None
        lowered = account.email.lower()
        for compiled in checks.patterns:
            if compiled.match(lowered) is not None:
                break
        else:
            return None
    email = None
    for account_pk, group_pk, pattern, reason in checks.ordered:
        if account_pk is not None:
            if account_pk == account.pk:
                return f"exempt: {reason}"
        elif group_pk is not None:
            if group_pk in account.group_pks:
                return f"exempt: {reason}"
        elif pattern is not None and account.email:
            if email is None:
                email = account.email.lower()
            if pattern.match(email) is not None:
                return f"exempt: {reason}"
    return None


class _Rules(NamedTuple):
    """What deciding needs of a policy besides its spec, worked out once per evaluation rather
    than once per account."""

    threshold: timedelta  # trigger_days
    lead: timedelta  # the first warning's offset before the action (0 without warnings)
    words: str  # the action in a reason ("suspended")
    only_product: int | None  # the one product in scope, when there is exactly one


def _rules(policy: PolicySpec) -> _Rules:
    only = next(iter(policy.product_pks)) if len(policy.product_pks) == 1 else None
    return _Rules(
        timedelta(days=policy.trigger_days),
        timedelta(days=policy.warning_offsets[0]) if policy.warning_offsets else timedelta(0),
        _ACTION_WORDS.get(policy.action, policy.action),
        only,
    )


def _anchor(
    policy: PolicySpec, account: AccountSnapshot, only_product: int | None = None
) -> tuple[datetime | None, str | None, str]:
    """The moment inactivity is counted from, what it is, and the product it concerns.

    Runs for every account in scope, so it builds no list and composes no label: None stands for
    "last active in {product} on" (IN_STATE: "{status} since"), composed by ``_decide`` for the
    few accounts past the threshold. ``only_product``: ``_Rules.only_product``.
    Of equal moments the first listed wins: last activity (or the state), then joining, then restoring.
    """
    if policy.trigger == _IN_STATE:
        return _state_anchor(account)
    last, product = _last_use(policy, account, only_product)
    if policy.trigger == _NEVER_ACTIVE and last is not None:
        return None, "", product
    when, label = last, None
    added, restored = account.added_to_org, account.restored_at
    if added is not None and (when is None or added > when):
        when, label = added, "joined on"
    if restored is not None and (when is None or restored > when):
        when, label = restored, "access restored on"
    if when is None:
        return None, "", product
    return when, label, product


def _state_anchor(account: AccountSnapshot) -> tuple[datetime | None, str | None, str]:
    """``_anchor`` for Trigger.IN_STATE: since the status began, or since the portal restored access."""
    when, label = account.status_changed_at, None
    restored = account.restored_at
    if restored is not None and (when is None or restored > when):
        when, label = restored, "restored on"
    if when is None:
        return None, "", ""
    return when, label, ""


def _last_use(
    policy: PolicySpec, account: AccountSnapshot, only_product: int | None = None
) -> tuple[datetime | None, str]:
    """The account's last activity in the policy's products (any product, without), and the product's name.

    With products in scope: the latest use, the first of equal ones; never used, the names of the
    scoped products the account has. ``only_product``: the policy's one product, looked up
    directly instead of going through the account's products (the same answer).
    """
    if not policy.product_pks:
        return account.last_active, "any product"
    if only_product:
        used = account.product_activity.get(only_product)
        if used:
            return used, policy.product_names.get(only_product, "")
    last_pk = last = None
    scoped = policy.product_pks
    for pk, used in account.product_activity.items():
        if used and (last is None or used > last) and pk in scoped:
            last_pk, last = pk, used
    if last_pk:
        return last, policy.product_names.get(last_pk, "")  # policy_spec names every scoped product
    names = sorted(policy.product_names[pk] for pk in account.product_activity if pk in policy.product_names)
    return None, ", ".join(names)


def decide(
    policy: PolicySpec,
    account: AccountSnapshot,
    exemptions: list[ExemptionSpec],
    now: datetime,
    open_case: OpenCase | None = None,
) -> Decision:
    """What to do about ``account`` under ``policy`` at ``now``."""
    checks = _checks(exemptions, policy.id, now)
    decision = _decide(policy, account, checks, now, open_case, _rules(policy), quiet=False)
    assert decision is not None  # only a quiet call answers None
    return decision


def decide_many(
    policy: PolicySpec,
    accounts: Iterable[AccountSnapshot],
    exemptions: list[ExemptionSpec],
    now: datetime,
    open_cases: Mapping[int, OpenCase],
) -> list[Decision]:
    """``decide`` for every account (``open_cases`` by account pk), keeping only the decisions that
    are not NONE, in the accounts' order.

    The same decisions as calling ``decide`` and dropping the NONE ones, but an account with
    nothing to do and nothing open costs no reason sentence and no Decision object: most accounts
    of an organization, and at 100,000 accounts most of the time spent deciding.
    """
    return decide_and_count(policy, accounts, exemptions, now, open_cases)[0]


def decide_and_count(
    policy: PolicySpec,
    accounts: Iterable[AccountSnapshot],
    exemptions: list[ExemptionSpec],
    now: datetime,
    open_cases: Mapping[int, OpenCase],
    *,
    classes: Sequence[AccountSnapshot] | None = None,
) -> tuple[list[Decision], int]:
    """``decide_many``, and how many of ``accounts`` are in the policy's scope (``in_scope``),
    which a run's cap is measured against: one ``in_scope`` per account for both.

    ``classes``: one account of each scope class (``scope_key``), by class number; then every
    account whose ``scope_class`` is not -1 is in scope exactly when its class's account is, and
    ``in_scope`` runs once per class instead of once per account. The same decisions and count.
    """
    decisions = []
    scope = 0
    checks = _checks(exemptions, policy.id, now)
    rules = _rules(policy)
    only_product = rules.only_product
    get_case = open_cases.get
    # For an account with nothing open every check but the last answers NONE, so their order does
    # not matter: the cheap threshold comes before the exemptions, which most accounts never reach.
    span = rules.threshold - rules.lead  # anchor + threshold - lead is anchor + span: timedelta sums are exact
    scoped_by_class = [in_scope(policy, c) for c in classes] if classes is not None else None
    # Never active in any product: whoever has a last activity is not judged (_anchor's answer, early).
    used_any_means_none = policy.trigger == _NEVER_ACTIVE and not policy.product_pks
    for account in accounts:
        if scoped_by_class is not None and (number := account.scope_class) >= 0:
            scoped = scoped_by_class[number]
        else:
            scoped = in_scope(policy, account)
        open_case = get_case(account.pk)
        if scoped:
            scope += 1
        elif open_case is None:
            continue  # out of scope, nothing open: NONE
        anchored = None
        if open_case is None:
            if used_any_means_none and account.last_active is not None:
                continue
            anchored = _anchor(policy, account, only_product)
            anchor = anchored[0]
            if anchor is None or now < anchor + span:
                continue  # NONE: never judged, or within the threshold
        decision = _decide(policy, account, checks, now, open_case, rules, quiet=True, scoped=scoped, anchored=anchored)
        if decision is not None and decision.verdict != _NONE:
            decisions.append(decision)
    return decisions, scope


def _none_or_cancel(account: AccountSnapshot, open_case: OpenCase | None, reason: str) -> Decision:
    return Decision(account.pk, _CANCEL if open_case else _NONE, reason)


def _decide(
    policy: PolicySpec,
    account: AccountSnapshot,
    checks: _Checks,
    now: datetime,
    open_case: OpenCase | None,
    rules: _Rules,
    *,
    quiet: bool,
    scoped: bool | None = None,
    anchored: tuple[datetime | None, str | None, str] | None = None,
) -> Decision | None:
    """``decide``; with ``quiet``, None instead of a NONE decision (its reason is never composed).
    ``scoped`` and ``anchored``: ``in_scope`` and ``_anchor`` of the account when the caller knows them."""
    silent = quiet and open_case is None  # the verdict can only be NONE: its reason is not wanted
    if not (in_scope(policy, account) if scoped is None else scoped):
        return None if silent else _none_or_cancel(account, open_case, "no longer in the policy's scope")
    exempt = _checked_exemption(policy, account, checks)
    if exempt:
        return None if silent else _none_or_cancel(account, open_case, exempt)
    anchor, label, product = _anchor(policy, account, rules.only_product) if anchored is None else anchored
    if anchor is None:
        if silent:
            return None
        if policy.trigger == _NEVER_ACTIVE:
            return _none_or_cancel(account, open_case, f"has used {product}")
        return _none_or_cancel(account, open_case, "no activity, join or restore date known: not judged")
    if label is None:  # composed only now: see _anchor
        label = f"{account.status} since" if policy.trigger == _IN_STATE else f"last active in {product} on"
    due = anchor + rules.threshold
    days = days_inactive(anchor, now)
    lead = rules.lead
    if now < due - lead:
        if silent:
            return None
        reason = f"{label} {_day(anchor)}, within the {policy.trigger_days}-day threshold"
        return _none_or_cancel(account, open_case, reason)
    # People are warned before any action: a first warning moves the action out to a full lead time.
    if lead:
        warned_at = open_case.warned_at if open_case is not None else None
        due = max(due, (now if warned_at is None else warned_at) + lead)
    words = rules.words
    what = f"{words} {product}" if policy.action == _REMOVE_PRODUCT_ACCESS else words
    base = f"{label} {_day(anchor)} ({days} days; threshold {policy.trigger_days} days)"
    if now < due:
        verdict, reason = _WARN, f"{base}; will be {what} on {_day(due)}"
    else:
        verdict, reason = _ACT, f"{base}; {what} on {_day(now)}"
    return Decision(account.pk, verdict, reason, due, anchor, days, product)  # due_at, inactive_since, days_inactive
