"""The portal's own admin site: installed the supported way, named after the portal, and the one
place where apps register what they add to other apps' pages (index panels, list filters,
change-page sections)."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.staticfiles import finders
from django.urls import reverse

from accounts.models import Account
from governance.admin_site import IndexPanel, PortalAdminSite
from governance.apps import PortalAdminConfig
from policies.admin.account_page import ExemptedListFilter
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def probe_panel():
    """A panel registered for the test only, shown to alice alone; the site's panels are restored after."""
    saved = dict(admin.site._index_panels)
    admin.site.register_index_panel(
        IndexPanel(
            name="probe",
            template="admin/policies/dashboard_savings.html",
            context=lambda request: (
                {"rows": [{"product": "Probe product", "organization": "probe-org", "seats": 7}], "totals": {}}
                if request.user.username == "alice"
                else None
            ),
        )
    )
    yield
    admin.site._index_panels = saved


def test_admin_site_is_the_portals_class_installed_through_the_admin_app_config():
    assert isinstance(admin.site, PortalAdminSite)
    assert isinstance(apps.get_app_config("admin"), PortalAdminConfig)


def test_the_index_and_the_sign_in_page_name_the_portal_not_django(client, client_for, alice):
    sign_in = client.get(reverse("admin:login")).content.decode()
    assert "Atlassian governance portal" in sign_in
    page = client_for(alice).get(reverse("admin:index")).content.decode()
    assert "<title>Governance portal dashboard | Atlassian governance portal</title>" in page
    assert '<a href="/admin/">Atlassian governance portal</a>' in page
    assert "Django administration" not in page + sign_in


def test_accounts_and_policies_register_their_index_panels_in_app_order():
    assert [panel.name for panel in admin.site.index_panels] == [
        "accounts",
        "access-ends",
        "policy-waiting",
        "access-reviews",
        "policy-seat-savings",
    ]


def test_policies_registers_the_exempted_filter_on_the_account_list():
    assert admin.site.list_filters(Account) == (ExemptedListFilter,)


def test_policies_registers_its_sections_on_the_account_page(rf, alice, nobody):
    account = AccountFactory()
    request = rf.get("/")
    request.user = alice
    assert [s.id for s in admin.site.page_sections(request, account)] == [
        "account-exemptions",
        "account-enforcements",
        "account-access-requests",
    ]
    request.user = nobody  # each section checks its own view permission
    assert admin.site.page_sections(request, account) == []


def test_a_registered_panel_shows_on_the_index_for_the_users_it_lets_in(probe_panel, client_for, alice, nobody):
    page = client_for(alice).get(reverse("admin:index")).content.decode()
    dashboard = page.split('id="portal-dashboard"')[1]
    assert "Probe product" in dashboard
    assert "probe-org" in dashboard
    assert "Probe product" not in client_for(nobody).get(reverse("admin:index")).content.decode()


def test_every_admin_page_links_the_portals_svg_favicon(client, client_for, alice):
    link = '<link rel="icon" type="image/svg+xml" href="/static/portal/favicon.svg">'
    assert link in client.get(reverse("admin:login")).content.decode()
    assert link in client_for(alice).get(reverse("admin:accounts_account_changelist")).content.decode()
    icon = finders.find("portal/favicon.svg")
    with open(icon, encoding="utf-8") as svg:
        assert svg.read().startswith('<svg xmlns="http://www.w3.org/2000/svg"')


def test_the_admin_has_no_view_site_link_to_nowhere(client_for, alice):
    page = client_for(alice).get("/admin/").content.decode()
    assert "View site" not in page
