"""The account list's rows are written directly (governance.admin_tools.rows): the HTML must be
exactly Django's, cell for cell, whatever the data and the filters the list carries."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.admin.templatetags.admin_list import results
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus, AccountType, MembershipEnd
from governance.admin_tools.rows import fast_results
from tests.factories import AccountFactory, GroupFactory, MembershipFactory, ProductAccessFactory, ProductFactory

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:accounts_account_changelist")
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def varied_accounts():
    """Accounts covering each way a cell can look: hostile text, no name, never active, imported and
    not yet synced, an app, products, an end date, billable or not, several licence groups."""
    jira = ProductFactory(key="jira-software", name="Jira <Software>")
    confluence = ProductFactory(key="confluence", name="Confluence", resource_id="ari:cloud:confluence::site/test")
    group = GroupFactory(name="contractors")
    accounts = [
        AccountFactory(name='<b>"Tom" & Jerry\'s</b>', email="tom&jerry@example.com", last_active=NOW),
        AccountFactory(name="", email="no.name@example.com", last_active=None, billable=True),
        AccountFactory(name="Ann Long " * 12, last_active=NOW - timedelta(days=1), licence_group_count=3),
        AccountFactory(name="Imported", imported_as_of=NOW - timedelta(days=2), last_active=NOW - timedelta(days=400)),
        AccountFactory(name="Build bot", account_type=AccountType.APP, status=AccountStatus.SUSPENDED),
        AccountFactory(name="Guest", managed=False, status=AccountStatus.DEACTIVATED, billable=True),
        AccountFactory(name="   ", email="   "),
    ]
    ProductAccessFactory(account=accounts[0], product=jira)
    ProductAccessFactory(account=accounts[0], product=confluence)
    ProductAccessFactory(account=accounts[2], product=confluence)
    MembershipFactory(account=accounts[1], group=group)
    MembershipEnd.objects.create(
        account=accounts[1], group=group, expires_at=NOW + timedelta(days=9), reason="contract"
    )
    return accounts


def _cells_both_ways(client, params):
    response = client.get(CHANGELIST, params)
    assert response.status_code == 200
    cl = response.context["cl"]
    django_rows = ["".join(str(cell) for cell in row) for row in results(cl)]
    fast_rows = ["".join(str(cell) for cell in row) for row in fast_results(cl)]
    return response, django_rows, fast_rows


@pytest.mark.parametrize(
    "params",
    [{}, {"status": "active"}, {"o": "-5", "q": "e"}, {"managed": "false", "o": "2"}, {"p": "0", "billable": "true"}],
)
def test_each_row_is_the_html_django_writes(client_for, alice, varied_accounts, params):
    with time_machine.travel(NOW, tick=False):
        response, django_rows, fast_rows = _cells_both_ways(client_for(alice), params)
    assert django_rows, "the list showed no rows to compare"
    assert fast_rows == django_rows
    # ... and those are the rows the page itself shows, links keeping the list's filters.
    page = response.content.decode()
    for row in fast_rows:
        assert row in page
    if params:
        assert "_changelist_filters=" in fast_rows[0]


def test_every_account_of_the_page_is_drawn_once_with_escaped_text(client_for, alice, varied_accounts):
    with time_machine.travel(NOW, tick=False):
        page = client_for(alice).get(CHANGELIST).content.decode()
    assert page.count('class="action-select"') == len(varied_accounts)
    assert "&lt;b&gt;&quot;Tom&quot; &amp; Jerry&#x27;s&lt;/b&gt;" in page
    assert '<b>"Tom"' not in page
    assert "Jira &lt;Software&gt;" in page


def test_a_popup_list_is_drawn_by_django_itself(client_for, alice, varied_accounts):
    with time_machine.travel(NOW, tick=False):
        _response, django_rows, fast_rows = _cells_both_ways(client_for(alice), {"_popup": "1", "_to_field": "id"})
    assert fast_rows == django_rows
    assert "data-popup-opener" in fast_rows[0]


def test_a_column_it_does_not_know_how_to_draw_falls_back_to_django(client_for, alice, varied_accounts, monkeypatch):
    """A display method returning a date would need Django's "nowrap" class: the page is drawn
    Django's way instead of guessing."""
    from django.contrib import admin

    from accounts.models import Account

    account_admin = admin.site._registry[Account]
    monkeypatch.setattr(type(account_admin), "kind", lambda self, obj: NOW.date(), raising=True)
    with time_machine.travel(NOW, tick=False):
        _response, django_rows, fast_rows = _cells_both_ways(client_for(alice), {})
    assert "nowrap" in django_rows[0]
    assert fast_rows == django_rows


def test_plain_text_from_a_display_method_is_escaped_as_django_does(client_for, alice, varied_accounts, monkeypatch):
    from django.contrib import admin

    from accounts.models import Account

    account_admin = admin.site._registry[Account]
    monkeypatch.setattr(type(account_admin), "kind", lambda self, obj: obj.name, raising=True)
    with time_machine.travel(NOW, tick=False):
        _response, django_rows, fast_rows = _cells_both_ways(client_for(alice), {"q": "Tom"})
    assert '<td class="field-kind">&lt;b&gt;&quot;Tom&quot;' in django_rows[0]
    assert fast_rows == django_rows


def test_the_group_list_rows_are_the_html_django_writes(client_for, alice):
    from accounts.models import GroupProductGrant

    jira = ProductFactory(key="jira-software", name="Jira & friends")
    granting = GroupFactory(name="<jira-users>", is_licence_group=True, member_count=12_345)
    GroupProductGrant.objects.create(group=granting, product=jira)
    GroupFactory(name="gone", removed_at=NOW - timedelta(days=3), external_synced=True)
    GroupFactory(name="plain")
    drawn = []
    with time_machine.travel(NOW, tick=False):
        for params in ({}, {"q": "g", "o": "-2"}, {"is_licence_group__exact": "1"}):
            response = client_for(alice).get(reverse("admin:accounts_group_changelist"), params)
            cl = response.context["cl"]
            django_rows = ["".join(str(cell) for cell in row) for row in results(cl)]
            fast_rows = ["".join(str(cell) for cell in row) for row in fast_results(cl)]
            assert django_rows
            assert fast_rows == django_rows
            for row in fast_rows:
                assert row in response.content.decode()
            drawn += fast_rows
    assert any('<td class="field-removed_at nowrap">' in row for row in drawn)
    assert any("Jira &amp; friends" in row for row in drawn)
