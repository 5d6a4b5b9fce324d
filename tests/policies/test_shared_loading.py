"""Several policies of one organization evaluated at one moment read the accounts once
(policies.selectors.snapshots.AccountData) and decide exactly as each policy alone."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, Group, Membership, Organization, Product, ProductAccess
from accounts.models.accounts import MANAGED_BY_IDP
from governance.audit.record import Actor
from policies.engine import AccountSnapshot, scope_key
from policies.models import Enforcement, Exemption, InactivityPolicy, PolicyMode
from policies.selectors.snapshots import load_snapshots, shared_account_data
from policies.services.runs import evaluate, idp_provisioned, policy_run

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)


def _organization(accounts: int, seed: int = 7) -> list[InactivityPolicy]:
    """An organization with a varied mix of accounts, exemptions, open cases and seven policies."""
    rng = random.Random(seed)
    org = Organization.objects.create(
        org_id=f"shared-{accounts}", name="Shared", last_complete_sync_at=NOW - timedelta(hours=1)
    )
    products = [
        Product.objects.create(organization=org, key=k, name=k.title(), resource_id=f"ari:{k}")
        for k in ("jira", "confluence", "bitbucket")
    ]
    groups = [Group.objects.create(organization=org, group_id=f"g{i}", name=f"group-{i}") for i in range(6)]

    def when(days_low: int, days_high: int):
        return NOW - timedelta(days=rng.randint(days_low, days_high), seconds=rng.randint(0, 86400))

    rows = []
    for n in range(accounts):
        managed = rng.random() < 0.7
        domain = rng.choice(["acme.example", "board.acme.example", "partner.example"])
        rows.append(
            Account(
                organization=org,
                account_id=f"a{n}",
                name=rng.choice(["Ann", "Bob", "Cy", "Di"]) + f" {n % 17}",
                email=None if rng.random() < 0.05 else f"p{n}@{domain}",
                account_type=rng.choices(["atlassian", "app", "customer"], [90, 5, 5])[0],
                status=rng.choices(["active", "suspended", "deactivated", "removed"], [80, 8, 8, 4])[0],
                status_changed_at=None if rng.random() < 0.1 else when(0, 300),
                managed=managed,
                is_org_admin=rng.random() < 0.03,
                added_to_org=None if rng.random() < 0.05 else when(0, 900),
                last_active=None if rng.random() < 0.15 else when(0, 400),
                restored_at=when(0, 60) if rng.random() < 0.05 else None,
                imported_as_of=NOW - timedelta(days=2) if rng.random() < 0.03 else None,
            )
        )
    Account.objects.bulk_create(rows)
    created = list(Account.objects.filter(organization=org))
    # Two products last used at the same moment: the engine names the first of them.
    tie = when(100, 200)
    for account in created:
        for product in rng.sample(products, rng.randint(0, 3)):
            last = tie if account.pk % 11 == 0 else (None if rng.random() < 0.2 else when(0, 400))
            ProductAccess.objects.create(account=account, product=product, last_active=last)
        Membership.objects.bulk_create(Membership(account=account, group=g) for g in rng.sample(groups, 2))

    def policy(name, *, products_=(), include=(), exclude=(), **fields):
        p = InactivityPolicy.objects.create(organization=org, name=name, cap_absolute=10_000, **fields)
        p.products.set(products_)
        p.include_groups.set(include)
        p.exclude_groups.set(exclude)
        return p

    jira = policy(
        "jira", products_=[products[0]], exclude=[groups[0]], trigger_days=90, warning_days=[14, 3], action="suspend"
    )
    policies = [
        jira,
        policy("confluence", products_=[products[1]], trigger_days=60, action="remove_product_access"),
        policy("two", products_=products[:2], include=[groups[1]], claim_scope="external", trigger_days=45),
        policy("never", trigger="never_active", trigger_days=30, warning_days=[3]),
        policy("deactivated", trigger="in_state", trigger_state="deactivated", trigger_days=60, action="delete"),
        policy("suspended", trigger="in_state", trigger_state="suspended", trigger_days=30, claim_scope="managed"),
        policy("admins", trigger_days=30, include_org_admins=True, include_app_accounts=True, action="deactivate"),
    ]
    some = rng.sample(created, 6)
    Exemption.objects.bulk_create(
        [
            Exemption(organization=org, account=some[0], reason="leave"),
            Exemption(organization=org, account=some[1], reason="sabbatical", expires_at=NOW + timedelta(days=9)),
            Exemption(organization=org, account=some[2], reason="expired", expires_at=NOW - timedelta(days=1)),
            Exemption(organization=org, account=some[3], policy=jira, reason="jira only"),
            Exemption(organization=org, group=groups[2], reason="group"),
            Exemption(organization=org, email_pattern="*@BOARD.acme.example", reason="board"),
        ]
    )
    for account in rng.sample(created, accounts // 10):
        Enforcement.objects.create(
            policy=jira,
            account=account,
            status="warned",
            action="suspend",
            reason="earlier run",
            due_at=NOW + timedelta(days=rng.randint(-3, 14)),
            warned_at=NOW - timedelta(days=rng.randint(1, 20)),
            warnings_sent=[14],
        )
    return policies  # each with its organization, in the order of their pks


@pytest.mark.django_db
def test_policies_sharing_one_load_decide_exactly_as_each_policy_alone():
    policies = _organization(400)
    alone = {p.pk: evaluate(p, NOW) for p in policies}
    data = shared_account_data(policies, NOW)[policies[0].organization_id]
    shared = {p.pk: evaluate(p, NOW, shared=data) for p in policies}

    assert data.loads == 1
    assert sum(len(e.decisions) for e in alone.values()) > 100  # the comparison is not vacuous
    for p in policies:
        assert shared[p.pk].decisions == alone[p.pk].decisions, p.name
        assert shared[p.pk].scope_size == alone[p.pk].scope_size, p.name
        assert shared[p.pk].open == alone[p.pk].open, p.name


@pytest.mark.django_db
def test_shared_loading_costs_the_same_statements_for_100_or_400_accounts():
    def statements(accounts: int) -> int:
        policies = _organization(accounts, seed=accounts)
        with CaptureQueriesContext(connection) as queries:
            data = shared_account_data(policies, NOW)[policies[0].organization_id]
            for p in policies:
                evaluate(p, NOW, shared=data)
        return len(queries.captured_queries)

    # Per policy its products, included and excluded groups and open cases; once, the exemptions,
    # the accounts, the status dates of the in-state policies, product access and memberships.
    assert statements(100) == statements(400) == 7 * 4 + 5


@pytest.mark.django_db
def test_data_read_for_other_moments_or_policies_is_not_used():
    policies = _organization(50)
    data = shared_account_data(policies[:2], NOW)[policies[0].organization_id]
    evaluate(policies[2], NOW, shared=data)  # not loaded for it: reads alone
    evaluate(policies[0], NOW + timedelta(days=1), shared=data)  # another moment: reads alone
    assert data.loads == 0
    evaluate(policies[0], NOW, shared=data)
    assert data.loads == 1


@pytest.mark.django_db
def test_a_run_that_may_change_accounts_makes_the_next_run_read_them_again():
    policies = _organization(50)
    data = shared_account_data(policies, NOW)[policies[0].organization_id]
    actor = Actor.system("test")
    policy_run(policy=policies[0], now=NOW, actor=actor, dry_run=True, shared=data)
    policy_run(policy=policies[1], now=NOW, actor=actor, dry_run=True, shared=data)
    assert data.loads == 1
    enforcing = policies[3]  # never active: warns, changes no account yet, but could
    enforcing.mode = PolicyMode.REVIEW
    policy_run(policy=enforcing, now=NOW, actor=actor, shared=data)
    policy_run(policy=policies[4], now=NOW, actor=actor, dry_run=True, shared=data)
    assert data.loads == 2


@pytest.mark.django_db
def test_the_idp_provisioned_among_many_accounts_are_found_in_one_query(django_assert_num_queries):
    org = Organization.objects.create(org_id="idp", name="IdP")
    Account.objects.bulk_create(
        Account(organization=org, account_id=f"i{n}", management_source=MANAGED_BY_IDP if n % 3 else "")
        for n in range(1200)
    )
    pks = sorted(Account.objects.filter(organization=org).values_list("pk", flat=True))
    asked = pks[:1100]
    expected = idp_provisioned(asked)  # one query per 500
    assert len(expected) == len([pk for pk in asked if (pk - pks[0]) % 3])  # not vacuous
    with django_assert_num_queries(1):
        assert idp_provisioned(asked, org) == expected


@pytest.mark.django_db
def test_shared_snapshots_are_numbered_by_scope_class_as_the_engine_defines_it():
    policies = _organization(300)
    data = shared_account_data(policies, NOW)[policies[0].organization_id]
    snapshots = data.snapshots(data.spec_for(policies[0], NOW))
    keys = [scope_key(c) for c in data.scope_classes]

    assert 1 < len(keys) == len(set(keys)) < len(snapshots)  # one class per key; accounts share them
    for snapshot in snapshots:
        assert keys[snapshot.scope_class] == scope_key(snapshot)


@pytest.mark.django_db
def test_both_loaders_build_snapshots_with_every_field():
    policies = _organization(60)
    data = shared_account_data(policies, NOW)[policies[0].organization_id]
    for policy in policies:
        spec = data.spec_for(policy, NOW)
        for snapshot in [*data.snapshots(spec), *load_snapshots(policy, spec, data.exemptions)]:
            assert AccountSnapshot._make(snapshot) == snapshot  # _make refuses a tuple of another length
