"""The preflight against an organization (``check_atlassian`` and the admin's "Check connection"):
each assumption reported as pass, warn or fail with what to do, and nothing ever written."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from accounts.models import Organization
from accounts.preflight import FAIL, PASS, WARN, organization_check, preflight_failed
from accounts.sync import groups as sync_groups
from accounts.sync.runner import organization_sync
from governance.atlassian.simulator import Simulator, SimulatorConfig
from governance.audit.models import AuditEvent
from tests.accounts.conftest import API_KEY, SIM_NOW
from tests.group_forms import both_group_id_forms

pytestmark = pytest.mark.django_db
FAST = {"sleep": lambda s: None, "max_total_wait": 5}


def _check(organization, **options) -> dict[str, object]:
    return {c.name: c for c in organization_check(organization=organization, **FAST, **options)}


def _read_only(simulator) -> None:
    served = simulator.requests_log
    assert served
    assert all(r.method == "GET" or (r.method == "POST" and r.path.endswith("/search")) for r in served), {
        (r.method, r.path) for r in served if r.method != "GET"
    }
    assert simulator.writes == []


class TestAgainstTheSimulator:
    @both_group_id_forms
    def test_every_check_passes_and_only_reads(self, simulator, organization, group_id_form):
        checks = _check(organization)
        assert {name: c.outcome for name, c in checks.items()} == {
            "Admin API key": PASS,
            "Directories": PASS,
            "Users": PASS,
            "Group ids": PASS,
            "Licence groups": PASS,
            "Product keys": PASS,
            "Rate-limit headers": PASS,
            "Jira API token": PASS,
            "Jira seats": PASS,
            "Jira users": PASS,
        }
        form = {"ari": "ari 12", "uuid": "uuid 12"}[group_id_form]
        assert f"Group search: {form}; users' groups: ari" in checks["Group ids"].detail
        users = checks["Users"].detail
        assert "121 read of 121 counted" in users
        assert "By claim: managed 98, unmanaged 23" in users
        assert "1 managed account(s) in no directory" in users
        assert "rovo (" in checks["Product keys"].detail
        assert "X-RateLimit-Reset" in checks["Rate-limit headers"].detail
        assert "jira-software" in checks["Jira seats"].detail
        _read_only(simulator)

    def test_a_sample_says_so(self, simulator, organization):
        checks = _check(organization, user_limit=10)
        assert "the first 10 read (a sample) of 121 counted" in checks["Users"].detail
        assert checks["Users"].outcome == PASS

    def test_an_expired_admin_key_fails_with_what_to_do(self, simulator, organization):
        simulator.faults.expire_api_key()
        checks = _check(organization)
        key = checks["Admin API key"]
        assert key.outcome == FAIL
        assert "401" in key.detail
        assert "API keys" in key.advice
        assert "Users" not in checks  # nothing else of the Admin API is tried
        assert checks["Jira API token"].outcome == PASS
        assert API_KEY not in repr(list(checks.values()))

    def test_a_wrong_jira_token_fails(self, simulator, organization, settings):
        settings.ATLASSIAN_API_TOKEN = "not-the-token"
        checks = _check(organization)
        assert checks["Jira API token"].outcome == FAIL
        assert "id.atlassian.com" in checks["Jira API token"].advice
        assert checks["Admin API key"].outcome == PASS

    def test_without_jira_the_portal_warns_and_carries_on(self, simulator, organization):
        Organization.objects.filter(pk=organization.pk).update(site_url="", jira_email="")
        organization.refresh_from_db()
        checks = _check(organization)
        assert checks["Jira API token"].outcome == WARN
        assert "counted from product access" in checks["Jira API token"].advice
        assert not preflight_failed(checks.values())

    def test_an_unknown_directory_setting_fails(self, simulator, organization):
        Organization.objects.filter(pk=organization.pk).update(directory_id="not-a-directory")
        organization.refresh_from_db()
        check = _check(organization)["Directories"]
        assert (check.outcome, "not the organization's directory not-a-directory" in check.detail) == (FAIL, True)

    def test_a_product_key_the_portal_does_not_know_warns(self, simulator, organization, monkeypatch):
        monkeypatch.delitem(sync_groups.PRODUCT_NAMES, "compass")
        check = _check(organization)["Product keys"]
        assert check.outcome == WARN
        assert "Keys the portal does not know: compass" in check.detail

    def test_a_group_form_other_than_the_last_syncs_warns(self, simulator, organization):
        Organization.objects.filter(pk=organization.pk).update(group_id_form="uuid")
        organization.refresh_from_db()
        check = _check(organization)["Group ids"]
        assert check.outcome == WARN
        assert "The last sync saw the bare UUID form" in check.detail

    def test_two_sites_of_one_product_without_a_cloud_id_warn(self, db, settings):
        settings.ATLASSIAN_ADMIN_API_KEY = settings.ATLASSIAN_API_TOKEN = API_KEY
        config = SimulatorConfig(users=60, groups=8, seed=3, org_id="sb", api_key=API_KEY, now=SIM_NOW)
        with Simulator(config, sandbox_site=True) as sim:
            organization = Organization.objects.create(
                org_id="sb", api_base=sim.base_url, site_url=sim.base_url, jira_email="admin@example.com"
            )
            check = _check(organization)["Product keys"]
            assert check.outcome == WARN
            assert "cloud id" in check.advice
            organization.cloud_id = sim.state.cloud_id
            assert _check(organization)["Product keys"].outcome == PASS

    def test_no_key_at_all_is_one_clear_failure(self, simulator, organization, settings):
        settings.ATLASSIAN_ADMIN_API_KEY = ""
        [check] = organization_check(organization=organization)
        assert (check.name, check.outcome) == ("Admin API key", FAIL)


class TestCommand:
    def test_it_prints_each_check_and_succeeds(self, simulator, organization):
        out = StringIO()
        call_command("check_atlassian", "--org", "sim-org", "--sample", "50", stdout=out)
        text = out.getvalue()
        assert "PASS  Admin API key" in text
        assert "the first 50 read (a sample)" in text
        assert text.rstrip().endswith("10 passed, 0 warned, 0 failed.")
        _read_only(simulator)

    def test_it_exits_non_zero_on_a_failure(self, simulator, organization):
        simulator.faults.expire_api_key()
        out = StringIO()
        with pytest.raises(CommandError, match="1 failed"):
            call_command("check_atlassian", "--org", "sim-org", stdout=out)
        assert "FAIL  Admin API key" in out.getvalue()
        assert "→ Create an organization API key" in out.getvalue()

    def test_an_unknown_org_is_a_clear_error(self, db):
        with pytest.raises(CommandError, match="No organization"):
            call_command("check_atlassian", "--org", "nope")

    def test_a_first_sync_after_the_check_records_the_form(self, simulator, organization, atlassian):
        call_command("check_atlassian", "--org", "sim-org", stdout=StringIO())
        assert organization_sync(organization=organization, client=atlassian).ok
        organization.refresh_from_db()
        assert organization.group_id_form == "ari"


class TestAdminPage:
    def _url(self, organization) -> str:
        return reverse("admin:accounts_organization_check", args=[organization.pk])

    def test_the_change_page_offers_the_check_to_portal_admins_only(
        self, simulator, organization, client_for, alice, audrey
    ):
        change = reverse("admin:accounts_organization_change", args=[organization.pk])
        assert self._url(organization) in client_for(alice).get(change).content.decode()
        assert self._url(organization) not in client_for(audrey).get(change).content.decode()

    def test_a_portal_admin_runs_the_checks_and_sees_the_table(self, simulator, organization, client_for, alice):
        client = client_for(alice)
        page = client.get(self._url(organization))
        assert page.status_code == 200
        assert 'id="checks"' not in page.content.decode()  # a GET only offers the button
        assert simulator.requests_log == []
        events = AuditEvent.objects.count()
        result = client.post(self._url(organization)).content.decode()
        assert 'id="checks"' in result
        assert "10 passed, 0 warned, 0 failed." in result
        assert "Group search: ari 12" in result
        assert API_KEY not in result
        assert AuditEvent.objects.count() == events  # read-only: nothing to audit
        _read_only(simulator)

    def test_a_failure_is_shown_with_its_advice(self, simulator, organization, client_for, alice):
        simulator.faults.expire_api_key()
        result = client_for(alice).post(self._url(organization)).content.decode()
        assert '<tr class="fail">' in result
        assert "Fix what failed before the first sync." in result

    @pytest.mark.parametrize("persona", ["audrey", "hank", "nobody"])
    def test_other_roles_may_not_run_it(self, simulator, organization, client_for, persona, request):
        client = client_for(request.getfixturevalue(persona))
        assert client.post(self._url(organization)).status_code == 403
        assert simulator.requests_log == []
