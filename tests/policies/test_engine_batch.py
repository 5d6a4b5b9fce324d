"""The engine's batch path (decide_and_count, used by every run) against its single decision
(decide), on random accounts and policies: with scope classes shared by several policies
(AccountData) or without, the same decisions, in the same order, and the same scope size."""

import random
from datetime import UTC, datetime, timedelta

from policies.engine import (
    AccountSnapshot,
    ExemptionSpec,
    OpenCase,
    PolicySpec,
    Verdict,
    decide,
    decide_and_count,
    in_scope,
    scope_key,
)

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
PRODUCTS = {1: "Jira Software", 2: "Confluence", 3: "Bitbucket"}
GROUPS = (11, 12, 13)


def _when(rng: random.Random) -> datetime | None:
    if rng.random() < 0.15:
        return None
    # Whole days now and then: ties between products, joining and restoring.
    return NOW - timedelta(days=rng.randint(0, 400), seconds=0 if rng.random() < 0.3 else rng.randint(0, 86399))


def _accounts(rng: random.Random, n: int) -> list[AccountSnapshot]:
    accounts = []
    for pk in range(1, n + 1):
        products = {p: _when(rng) for p in rng.sample(sorted(PRODUCTS), rng.randint(0, 3))}
        accounts.append(
            AccountSnapshot(
                pk=pk,
                name=f"P{pk}",
                email=None if rng.random() < 0.1 else f"p{pk}@{rng.choice(['acme.example', 'Board.acme.example'])}",
                status=rng.choice(["active", "active", "suspended", "deactivated"]),
                account_type=rng.choices(["atlassian", "app", "customer"], [90, 5, 5])[0],
                managed=rng.random() < 0.7,
                is_org_admin=rng.random() < 0.05,
                added_to_org=_when(rng),
                last_active=_when(rng),
                restored_at=_when(rng) if rng.random() < 0.1 else None,
                status_changed_at=_when(rng),
                product_activity=products,
                group_pks=frozenset(g for g in GROUPS if rng.random() < 0.3),
            )
        )
    return accounts


def _policies(rng: random.Random) -> list[PolicySpec]:
    policies = []
    for pid in range(1, 41):
        trigger = rng.choice(["inactive", "inactive", "never_active", "in_state"])
        products = frozenset(rng.sample(sorted(PRODUCTS), rng.choice([0, 1, 1, 2])))
        policies.append(
            PolicySpec(
                id=pid,
                trigger=trigger,
                trigger_days=rng.choice([30, 60, 90]),
                action=rng.choice(["notify", "remove_product_access", "suspend", "deactivate", "delete"]),
                trigger_state=rng.choice(["suspended", "deactivated"]) if trigger == "in_state" else "",
                warning_offsets=rng.choice([(), (7,), (14, 3)]),
                product_pks=products,
                product_names={pk: PRODUCTS[pk] for pk in products},
                include_group_pks=frozenset(rng.sample(GROUPS, rng.choice([0, 0, 1]))),
                exclude_group_pks=frozenset(rng.sample(GROUPS, rng.choice([0, 1]))),
                claim_scope=rng.choice(["all", "all", "managed", "external"]),
                include_org_admins=rng.random() < 0.3,
                include_app_accounts=rng.random() < 0.3,
            )
        )
    return policies


def _exemptions(rng: random.Random, accounts: list[AccountSnapshot]) -> list[ExemptionSpec]:
    some = rng.sample(accounts, 4)
    return [
        ExemptionSpec(reason="leave", account_pk=some[0].pk),
        ExemptionSpec(reason="expired", account_pk=some[1].pk, expires_at=NOW - timedelta(days=1)),
        ExemptionSpec(reason="policy 3 only", account_pk=some[2].pk, policy_id=3),
        ExemptionSpec(reason="group", group_pk=GROUPS[2]),
        ExemptionSpec(reason="board", email_pattern="*@BOARD.acme.example"),
        ExemptionSpec(reason="also the account", account_pk=some[3].pk),  # after the group: the group's reason wins
    ]


def _classes(accounts: list[AccountSnapshot]) -> tuple[list[AccountSnapshot], list[AccountSnapshot]]:
    """The accounts numbered by scope class, as AccountData numbers them, and one of each class."""
    numbers: dict = {}
    numbered, classes = [], []
    for account in accounts:
        number = numbers.setdefault(scope_key(account), len(numbers))
        account = account._replace(scope_class=number)
        if number == len(classes):
            classes.append(account)
        numbered.append(account)
    return numbered, classes


def _open_cases(rng: random.Random, accounts: list[AccountSnapshot]) -> dict[int, OpenCase]:
    return {
        a.pk: OpenCase(
            status="warned",
            warned_at=None if rng.random() < 0.2 else NOW - timedelta(days=rng.randint(0, 20)),
            due_at=NOW + timedelta(days=rng.randint(-3, 14)),
        )
        for a in rng.sample(accounts, len(accounts) // 8)
    }


def test_batch_decisions_with_or_without_scope_classes_are_each_accounts_own_decision():
    rng = random.Random(20)
    accounts = _accounts(rng, 600)
    numbered, classes = _classes(accounts)
    exemptions = _exemptions(rng, accounts)
    verdicts = set()
    assert len(classes) < len(accounts) / 2  # accounts do share classes
    for spec in _policies(rng):
        cases = _open_cases(rng, accounts)
        one_by_one = [decide(spec, a, exemptions, NOW, cases.get(a.pk)) for a in accounts]
        expected = [d for d in one_by_one if d.verdict != Verdict.NONE]
        verdicts.update(d.verdict for d in expected)
        in_scope_count = sum(in_scope(spec, a) for a in accounts)

        assert decide_and_count(spec, accounts, exemptions, NOW, cases) == (expected, in_scope_count), spec
        with_classes = decide_and_count(spec, numbered, exemptions, NOW, cases, classes=classes)
        assert with_classes == (expected, in_scope_count), spec
    assert verdicts == {Verdict.WARN, Verdict.ACT, Verdict.CANCEL}  # the comparison is not vacuous


def test_accounts_of_one_scope_class_are_in_or_out_of_every_policys_scope_together():
    rng = random.Random(21)
    accounts = _accounts(rng, 400)
    policies = _policies(rng)
    for account in accounts:
        # Everything scope_key leaves out, changed: the answer must not move.
        other = account._replace(
            pk=account.pk + 10_000,
            name="Other",
            email="other@example.com",
            is_org_admin=not account.is_org_admin,
            added_to_org=None,
            last_active=NOW,
            restored_at=NOW,
            status_changed_at=None,
            product_activity=dict.fromkeys(account.product_activity, NOW),
        )
        assert scope_key(other) == scope_key(account)
        for spec in policies:
            assert in_scope(spec, other) == in_scope(spec, account), (spec, account)
