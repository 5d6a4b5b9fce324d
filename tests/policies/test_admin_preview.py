"""The preview page of a policy against a synced organization: today's decisions with reasons, the
next 30 days, seats per product, stale-sync and cap warnings, and its CSV."""

import csv
import html
import io
import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from accounts.models import Account, Organization
from governance.audit.models import AuditAction, AuditEvent
from policies.engine import Verdict
from policies.models import Enforcement, PolicyMode
from policies.services.runs import evaluate, policy_run
from tests.policies.conftest import RUN_AT
from tests.policies.test_runs import _expected_due

pytestmark = pytest.mark.django_db


def _preview_url(policy, **query):
    url = reverse("admin:policies_inactivitypolicy_preview", args=[policy.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _csv_url(policy, show="all"):
    return reverse("admin:policies_inactivitypolicy_preview_csv", args=[policy.pk]) + f"?show={show}"


def _get(client, url):
    with time_machine.travel(RUN_AT, tick=False):
        return client.get(url)


def _page_rows(content: str) -> list[list[str]]:
    rows = re.findall(r'<tr class="preview-row">(.*?)</tr>', content, re.S)
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in rows
    ]


def _csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


class TestToday:
    def test_it_lists_today_s_decisions_with_their_reasons(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW, warning_days=[14])
        decisions = evaluate(policy, RUN_AT).decisions
        assert decisions
        page = html.unescape(_get(client_for(alice), _preview_url(policy)).content.decode())
        for decision in decisions:
            assert decision.reason in page
        rows = _page_rows(_get(client_for(alice), _preview_url(policy, show="today")).content.decode())
        assert len(rows) == len(decisions)
        assert {row[2] for row in rows} == {d.verdict.value for d in decisions}

    def test_the_counts_match_what_a_run_today_would_decide(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        due = _expected_due(policy.organization)
        page = _get(client_for(alice), _preview_url(policy)).content.decode()
        today = re.search(r'<tr id="counts-today"><th>Today</th><td>(\d+)</td>', page)
        assert int(today.group(1)) == len(due)

    def test_seats_per_product_are_the_accounts_acted_on_that_hold_it(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        due = _expected_due(policy.organization)
        page = _get(client_for(alice), _preview_url(policy)).content.decode()
        seat = re.search(r'<tr class="seat-row"><td>Jira Software</td><td>(\d+)</td><td>(\d+)</td>', page)
        assert seat, page
        assert int(seat.group(1)) == len(due)
        assert int(seat.group(2)) >= len(due)

    def test_a_notify_only_policy_frees_no_seats(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW, action="notify")
        page = _get(client_for(alice), _preview_url(policy)).content.decode()
        assert "it frees no seats" in page


class TestNextThirtyDays:
    def test_warned_accounts_are_acted_on_after_the_lead_time(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW, warning_days=[14])
        warned_today = [d for d in evaluate(policy, RUN_AT).decisions if d.verdict == Verdict.WARN]
        rows = {r[0]: r for r in _page_rows(_get(client_for(alice), _preview_url(policy, show="act")).content.decode())}
        names = dict(Account.objects.filter(pk__in=[d.account_pk for d in warned_today]).values_list("pk", "name"))
        expected_day = (RUN_AT + timedelta(days=14)).date().isoformat()
        for decision in warned_today:
            assert rows[names[decision.account_pk]][4] == expected_day

    @pytest.mark.parametrize("warning_days", [[14, 3], [], [45]])
    def test_the_projection_matches_thirty_days_of_real_runs(self, make_policy, client_for, alice, warning_days):
        """Run the policy every day for 30 days against the simulator: who was warned and acted on,
        and when, is what the preview said on day one."""
        policy = make_policy(mode=PolicyMode.ENFORCE, warning_days=warning_days)
        rows = _csv_rows(_get(client_for(alice), _csv_url(policy)))
        ids = dict(Account.objects.values_list("account_id", "pk"))
        predicted_warn = {ids[r["atlassian_account_id"]]: r["warning_on"] for r in rows if r["warning_on"]}
        predicted_act = {ids[r["atlassian_account_id"]]: r["action_on"] for r in rows if r["action_on"]}
        # A warning 45 days ahead puts every action beyond the 30 days.
        assert bool(predicted_act) == (max(warning_days, default=0) < 30)
        assert bool(predicted_warn) == bool(warning_days)
        for day in range(31):
            now = RUN_AT + timedelta(days=day)
            Organization.objects.filter(pk=policy.organization_id).update(last_complete_sync_at=now)
            policy.organization.refresh_from_db()
            policy_run(policy=policy, now=now)
        warned = {e.account_id: e.warned_at.date().isoformat() for e in Enforcement.objects.exclude(warned_at=None)}
        acted = {e.account_id: e.executed_at.date().isoformat() for e in Enforcement.objects.exclude(executed_at=None)}
        assert warned == predicted_warn
        assert acted == predicted_act


class TestCsv:
    @pytest.mark.parametrize("show", ["all", "today", "act", "warn"])
    def test_the_csv_has_exactly_the_page_s_rows(self, make_policy, client_for, alice, show):
        policy = make_policy(mode=PolicyMode.PREVIEW, warning_days=[14])
        client = client_for(alice)
        page = _page_rows(_get(client, _preview_url(policy, show=show)).content.decode())
        rows = _csv_rows(_get(client, _csv_url(policy, show)))
        assert page
        assert [(r["name"], r["today"] or "—", r["reason"]) for r in rows] == [(p[0], p[2], p[6]) for p in page]

    def test_pages_together_are_the_csv(self, make_policy, client_for, alice, monkeypatch):
        from policies.admin import policies as policy_admin

        monkeypatch.setattr(policy_admin, "PREVIEW_PER_PAGE", 7)
        policy = make_policy(mode=PolicyMode.PREVIEW, warning_days=[14])
        client = client_for(alice)
        rows = _csv_rows(_get(client, _csv_url(policy)))
        assert len(rows) > 7
        paged = []
        for number in range(1, len(rows) // 7 + 2):
            paged += _page_rows(_get(client, _preview_url(policy, page=number)).content.decode())
        assert [p[0] for p in paged] == [r["name"] for r in rows]

    def test_cells_that_a_spreadsheet_would_run_are_neutralised(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        victim = min(_expected_due(policy.organization))
        Account.objects.filter(pk=victim).update(name='=HYPERLINK("http://evil.example/","x")')
        rows = _csv_rows(_get(client_for(alice), _csv_url(policy)))
        names = [r["name"] for r in rows]
        assert '\'=HYPERLINK("http://evil.example/","x")' in names
        assert not any(name.startswith(("=", "+", "-", "@")) for name in names)

    def test_the_download_is_recorded(self, make_policy, client_for, audrey):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        response = _get(client_for(audrey), _csv_url(policy))
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        event = AuditEvent.objects.get(action=AuditAction.EXPORT_DOWNLOADED)
        assert event.actor_name == "audrey"
        assert event.target_id == str(policy.pk)


class TestWarnings:
    def test_a_stale_sync_is_announced(self, make_policy, client_for, alice, settings):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        Organization.objects.filter(pk=policy.organization_id).update(
            last_complete_sync_at=RUN_AT - timedelta(hours=30)
        )
        settings.POLICY_MAX_SYNC_AGE = 26
        page = _get(client_for(alice), _preview_url(policy)).content.decode()
        assert 'id="stale-sync"' in page
        assert "30.0 hours old" in page

    def test_a_fresh_sync_is_not(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        assert 'id="stale-sync"' not in _get(client_for(alice), _preview_url(policy)).content.decode()

    def test_it_says_when_a_run_today_would_halt_on_its_cap(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.ENFORCE, cap_absolute=2)
        page = _get(client_for(alice), _preview_url(policy)).content.decode()
        assert "Cap for a run today: <strong>2</strong>" in page
        assert "A run today would halt" in page

    def test_it_says_when_a_run_today_would_not_halt(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.ENFORCE)
        page = _get(client_for(alice), _preview_url(policy)).content.decode()
        assert "A run today would not halt" in page


class TestAccess:
    @pytest.mark.parametrize(("persona", "expected"), [("alice", 200), ("hank", 200), ("audrey", 200), ("nobody", 403)])
    def test_who_may_see_the_preview(self, request, make_policy, client_for, persona, expected):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        client = client_for(request.getfixturevalue(persona))
        assert _get(client, _preview_url(policy)).status_code == expected
        assert _get(client, _csv_url(policy)).status_code == expected

    def test_the_preview_changes_nothing(self, make_policy, client_for, alice):
        policy = make_policy(mode=PolicyMode.ENFORCE)
        _get(client_for(alice), _preview_url(policy))
        assert not Enforcement.objects.exists()

    def test_the_page_costs_a_fixed_handful_of_queries(
        self, make_policy, client_for, alice, django_assert_max_num_queries
    ):
        policy = make_policy(mode=PolicyMode.PREVIEW, warning_days=[14])
        client = client_for(alice)
        _get(client, _preview_url(policy))
        with django_assert_max_num_queries(30):
            _get(client, _preview_url(policy))
