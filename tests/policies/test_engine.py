"""The engine is pure: every case here runs without a database."""

from datetime import UTC, datetime, timedelta

import pytest

from policies.engine import AccountSnapshot, ExemptionSpec, OpenCase, PolicySpec, Verdict, decide

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
JIRA, CONF = 1, 2


def days_ago(n: int) -> datetime:
    return NOW - timedelta(days=n)


def account(**overrides) -> AccountSnapshot:
    values = dict(
        pk=10,
        name="Ann",
        email="ann@example.com",
        status="active",
        account_type="atlassian",
        managed=True,
        is_org_admin=False,
        added_to_org=days_ago(800),
        last_active=days_ago(120),
        restored_at=None,
        status_changed_at=days_ago(800),
        product_activity={JIRA: days_ago(120)},
        group_pks=frozenset(),
    )
    values.update(overrides)
    return AccountSnapshot(**values)


def policy(**overrides) -> PolicySpec:
    values = dict(
        id=1,
        trigger="inactive",
        trigger_days=90,
        action="suspend",
        warning_offsets=(14, 3),
        product_pks=frozenset({JIRA}),
        product_names={JIRA: "Jira Software", CONF: "Confluence"},
    )
    values.update(overrides)
    return PolicySpec(**values)


class TestInactivity:
    def test_an_account_inside_the_threshold_gets_nothing(self):
        decision = decide(policy(), account(product_activity={JIRA: days_ago(30)}, last_active=days_ago(30)), [], NOW)
        assert decision.verdict == Verdict.NONE
        assert "within the 90-day threshold" in decision.reason

    def test_inside_the_warning_window_it_warns_with_a_reason_naming_product_dates_and_threshold(self):
        decision = decide(policy(), account(product_activity={JIRA: days_ago(80)}), [], NOW)
        assert decision.verdict == Verdict.WARN
        assert decision.reason == (
            "last active in Jira Software on 2026-04-11 (80 days; threshold 90 days); will be suspended on 2026-07-14"
        )
        assert decision.due_at == NOW + timedelta(days=14)

    def test_a_long_inactive_account_is_warned_first_and_acted_on_a_full_lead_time_later(self):
        first = decide(policy(), account(), [], NOW)
        assert first.verdict == Verdict.WARN
        assert first.due_at == NOW + timedelta(days=14)
        case = OpenCase(status="warned", warned_at=NOW, due_at=first.due_at)
        assert decide(policy(), account(), [], NOW + timedelta(days=13), case).verdict == Verdict.WARN
        later = decide(policy(), account(), [], NOW + timedelta(days=14), case)
        assert later.verdict == Verdict.ACT
        assert "suspended on 2026-07-14" in later.reason

    def test_without_warnings_it_acts_when_due(self):
        assert decide(policy(warning_offsets=()), account(), [], NOW).verdict == Verdict.ACT

    def test_only_activity_in_the_scoped_products_counts(self):
        busy_in_confluence = account(product_activity={JIRA: days_ago(200)}, last_active=days_ago(1))
        assert decide(policy(warning_offsets=()), busy_in_confluence, [], NOW).verdict == Verdict.ACT

    def test_with_no_product_scope_activity_anywhere_counts(self):
        spec = policy(product_pks=frozenset(), warning_offsets=())
        assert decide(spec, account(last_active=days_ago(1)), [], NOW).verdict == Verdict.NONE
        assert decide(spec, account(last_active=days_ago(100)), [], NOW).verdict == Verdict.ACT

    def test_a_recent_join_counts_as_activity(self):
        newcomer = account(added_to_org=days_ago(10), last_active=None, product_activity={JIRA: None})
        assert decide(policy(), newcomer, [], NOW).verdict == Verdict.NONE

    def test_a_recent_restore_by_the_portal_counts_as_activity(self):
        restored = account(restored_at=days_ago(1))
        decision = decide(policy(), restored, [], NOW)
        assert decision.verdict == Verdict.NONE
        assert "access restored on" in decision.reason

    def test_an_open_case_is_cancelled_when_the_person_became_active(self):
        case = OpenCase(status="warned", warned_at=days_ago(5), due_at=NOW + timedelta(days=9))
        decision = decide(policy(), account(product_activity={JIRA: days_ago(0)}), [], NOW, case)
        assert decision.verdict == Verdict.CANCEL

    def test_nothing_is_judged_without_any_date(self):
        unknown = account(added_to_org=None, last_active=None, product_activity={JIRA: None})
        assert decide(policy(), unknown, [], NOW).verdict == Verdict.NONE


class TestNeverActive:
    def test_an_invited_account_that_never_used_anything_is_acted_on_after_n_days(self):
        spec = policy(trigger="never_active", trigger_days=30, warning_offsets=(), product_pks=frozenset())
        invited = account(added_to_org=days_ago(45), last_active=None, product_activity={})
        decision = decide(spec, invited, [], NOW)
        assert decision.verdict == Verdict.ACT
        assert "joined on" in decision.reason

    def test_someone_who_used_a_product_is_not_never_active(self):
        spec = policy(trigger="never_active", trigger_days=30, warning_offsets=(), product_pks=frozenset())
        assert decide(spec, account(), [], NOW).verdict == Verdict.NONE


class TestInState:
    def test_delete_sixty_days_after_deactivation(self):
        spec = policy(
            trigger="in_state",
            trigger_state="deactivated",
            trigger_days=60,
            action="delete",
            warning_offsets=(),
            product_pks=frozenset(),
        )
        deactivated = account(status="deactivated", status_changed_at=days_ago(61))
        decision = decide(spec, deactivated, [], NOW)
        assert decision.verdict == Verdict.ACT
        assert "deactivated since" in decision.reason
        assert decide(spec, account(status="deactivated", status_changed_at=days_ago(20)), [], NOW).verdict == "none"


class TestScopeAndExemptions:
    @pytest.mark.parametrize(
        ("snapshot", "why"),
        [
            (account(is_org_admin=True), "org admins are exempt"),
            (account(account_type="app"), "no longer in the policy's scope"),
            (account(account_type="customer"), "no longer in the policy's scope"),
            (account(status="suspended"), "no longer in the policy's scope"),
            (account(product_activity={}), "no longer in the policy's scope"),
        ],
    )
    def test_accounts_never_acted_on_by_default(self, snapshot, why):
        decision = decide(policy(warning_offsets=()), snapshot, [], NOW)
        assert decision.verdict == Verdict.NONE
        assert decision.reason == why

    def test_org_admins_only_when_the_policy_says_so(self):
        spec = policy(warning_offsets=(), include_org_admins=True)
        assert decide(spec, account(is_org_admin=True), [], NOW).verdict == Verdict.ACT

    def test_exemption_by_account_group_and_email_pattern(self):
        spec = policy(warning_offsets=())
        member = account(group_pks=frozenset({7}))
        for exemption in (
            ExemptionSpec(reason="on leave", account_pk=10),
            ExemptionSpec(reason="executives", group_pk=7),
            ExemptionSpec(reason="board", email_pattern="*@EXAMPLE.com"),
        ):
            decision = decide(spec, member, [exemption], NOW)
            assert decision.verdict == Verdict.NONE
            assert decision.reason == f"exempt: {exemption.reason}"

    def test_an_expired_exemption_no_longer_protects(self):
        expired = ExemptionSpec(reason="on leave", account_pk=10, expires_at=days_ago(1))
        assert decide(policy(warning_offsets=()), account(), [expired], NOW).verdict == Verdict.ACT

    def test_an_exemption_for_another_policy_does_not_apply(self):
        other = ExemptionSpec(reason="other", account_pk=10, policy_id=99)
        assert decide(policy(warning_offsets=()), account(), [other], NOW).verdict == Verdict.ACT

    def test_exempting_an_account_cancels_its_open_case(self):
        case = OpenCase(status="warned", warned_at=days_ago(3), due_at=NOW + timedelta(days=11))
        exemption = ExemptionSpec(reason="VIP", account_pk=10)
        assert decide(policy(), account(), [exemption], NOW, case).verdict == Verdict.CANCEL

    def test_include_and_exclude_groups(self):
        spec = policy(warning_offsets=(), include_group_pks=frozenset({1}), exclude_group_pks=frozenset({2}))
        assert decide(spec, account(group_pks=frozenset({1})), [], NOW).verdict == Verdict.ACT
        assert decide(spec, account(group_pks=frozenset()), [], NOW).verdict == Verdict.NONE
        assert decide(spec, account(group_pks=frozenset({1, 2})), [], NOW).verdict == Verdict.NONE

    def test_external_accounts_are_never_deactivated_or_deleted(self):
        for action in ("deactivate", "delete"):
            spec = policy(action=action, warning_offsets=())
            assert decide(spec, account(managed=False), [], NOW).verdict == Verdict.NONE
        assert decide(policy(action="suspend", warning_offsets=()), account(managed=False), [], NOW).verdict == "act"
