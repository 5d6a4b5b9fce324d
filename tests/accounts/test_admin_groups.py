"""The group and product admins: read-only lists of the mirror."""

import pytest
from django.urls import reverse

from accounts.models import GroupProductGrant
from tests.factories import AccountFactory, GroupFactory, MembershipFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def groups(db):
    jira = ProductFactory(key="jira-software", name="Jira Software")
    wiki = ProductFactory(key="confluence", name="Confluence")
    licence = GroupFactory(name="jira-software-users", is_licence_group=True, member_count=2)
    GroupProductGrant.objects.create(group=licence, product=jira)
    GroupProductGrant.objects.create(group=licence, product=wiki)
    synced = GroupFactory(name="okta-engineering", external_synced=True, member_count=1)
    for name in ("Zoe Zed", "Adam Alpha"):
        MembershipFactory(account=AccountFactory(name=name), group=licence)
    return {"licence": licence, "synced": synced}


def _row(page: str, name: str) -> str:
    return next(row for row in page.split("<tr") if f">{name}</a>" in row)


def test_the_group_list_shows_members_products_granted_and_the_idp_flag(client_for, alice, groups):
    page = client_for(alice).get(reverse("admin:accounts_group_changelist")).content.decode()
    licence = _row(page, "jira-software-users")
    assert '<td class="field-member_count">2</td>' in licence
    assert "Confluence, Jira Software" in licence
    assert "icon-no" in licence.split('field-external_synced">')[1].split("</td>")[0]
    assert "icon-yes" in _row(page, "okta-engineering").split('field-external_synced">')[1].split("</td>")[0]


def test_groups_are_searched_by_name(client_for, alice, groups):
    response = client_for(alice).get(reverse("admin:accounts_group_changelist"), {"q": "okta"})
    assert [g.name for g in response.context["cl"].result_list] == ["okta-engineering"]


def test_the_group_page_lists_members_by_name_and_searches_them(client_for, alice, groups):
    client = client_for(alice)
    url = reverse("admin:accounts_group_change", args=[groups["licence"].pk])
    members = client.get(url).content.decode().split('id="group-members"')[1]
    assert members.index("Adam Alpha") < members.index("Zoe Zed")
    searched = client.get(url, {"member_q": "zoe"}).content.decode().split('id="group-members"')[1]
    assert "Zoe Zed" in searched
    assert "Adam Alpha" not in searched


def test_groups_cannot_be_added_changed_or_deleted_by_anyone(client_for, root, groups):
    client = client_for(root)
    licence = groups["licence"]
    assert client.get(reverse("admin:accounts_group_add")).status_code == 403
    assert client.post(reverse("admin:accounts_group_change", args=[licence.pk]), {"name": "x"}).status_code == 403
    assert client.post(reverse("admin:accounts_group_delete", args=[licence.pk]), {"post": "yes"}).status_code == 403


def test_the_product_list_shows_seats_used_total_and_free(client_for, audrey, db):
    ProductFactory(key="jira-software", name="Jira Software", seats_used=95, seats_total=100)
    page = client_for(audrey).get(reverse("admin:accounts_product_changelist")).content.decode()
    row = _row(page, "Jira Software")
    assert '<td class="field-seats_used">95</td>' in row
    assert '<td class="field-seats_total">100</td>' in row
    assert '<td class="field-seats_free">5</td>' in row
