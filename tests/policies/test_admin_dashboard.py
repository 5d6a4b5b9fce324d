"""policy_seat_savings: the seats the enabled policies would free within 30 days, for the index."""

from datetime import timedelta

import pytest

from accounts.models import Organization, ProductAccess
from policies.dashboard import policy_seat_savings
from policies.engine import Verdict
from policies.models import PolicyMode
from policies.services.runs import evaluate
from tests.policies.conftest import RUN_AT

pytestmark = pytest.mark.django_db


def _jira_holders(accounts) -> int:
    return ProductAccess.objects.filter(account_id__in=accounts, product__key="jira-software").count()


def test_it_counts_accounts_warned_or_acted_on_within_30_days_that_hold_a_scoped_product(make_policy):
    policy = make_policy(mode=PolicyMode.PREVIEW, warning_days=[14])
    decisions = evaluate(policy, RUN_AT + timedelta(days=30)).decisions
    expected = {d.account_pk for d in decisions if d.verdict in (Verdict.WARN, Verdict.ACT)}
    rows = policy_seat_savings(now=RUN_AT)
    assert rows == [
        {
            "product": "Jira Software",
            "product_key": "jira-software",
            "organization": "sim-org",
            "seats": _jira_holders(expected),
        }
    ]
    assert rows[0]["seats"] > 0


def test_an_account_two_policies_would_act_on_counts_once(make_policy):
    make_policy(name="a", mode=PolicyMode.PREVIEW)
    alone = policy_seat_savings(now=RUN_AT)
    make_policy(name="b", mode=PolicyMode.ENFORCE, trigger_days=120)
    assert policy_seat_savings(now=RUN_AT) == alone


def test_disabled_and_notify_only_policies_free_nothing(make_policy):
    make_policy(name="off", enabled=False)
    make_policy(name="reminders", action="notify")
    assert policy_seat_savings(now=RUN_AT) == []


def test_it_can_be_limited_to_one_organization(make_policy):
    make_policy(mode=PolicyMode.PREVIEW)
    other = Organization.objects.create(org_id="other-org", name="Other")
    assert policy_seat_savings(organization=other, now=RUN_AT) == []
    assert policy_seat_savings(organization=Organization.objects.get(org_id="sim-org"), now=RUN_AT)
