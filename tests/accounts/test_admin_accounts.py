"""The account list and the account page in the admin."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.admin.paginators import CappedCountPaginator
from accounts.filtersets import AccountFilterSet
from accounts.models import Account, AccountStatus, GroupProductGrant, ProductGrant
from accounts.selectors.account_page import account_details
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from tests.factories import AccountFactory, GroupFactory, MembershipFactory, ProductAccessFactory, ProductFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:accounts_account_changelist"


def _ago(days: int):
    return timezone.now() - timedelta(days=days)


@pytest.fixture
def mirror(db):
    """A few accounts with products, groups and activity spread over the buckets."""
    jira = ProductFactory(key="jira-software", name="Jira Software")
    confluence = ProductFactory(key="confluence", name="Confluence")
    licence = GroupFactory(name="jira-software-users", is_licence_group=True)
    GroupProductGrant.objects.create(group=licence, product=jira, roles=["atlassian/user"])
    team = GroupFactory(name="team-blue")
    ada = AccountFactory(name="Ada Active", last_active=_ago(3), billable=True, licence_group_count=1)
    ProductAccessFactory(account=ada, product=jira, last_active=_ago(3), granted=ProductGrant.GROUP)
    ProductAccessFactory(account=ada, product=confluence, last_active=_ago(40), granted=ProductGrant.DIRECT)
    MembershipFactory(account=ada, group=licence)
    MembershipFactory(account=ada, group=team)
    idle = AccountFactory(name="Ivan Idle", last_active=_ago(200), managed=False, billable=True)
    ProductAccessFactory(account=idle, product=jira, last_active=_ago(200), granted=ProductGrant.GROUP)
    MembershipFactory(account=idle, group=licence)
    AccountFactory(name="Nora Never", last_active=None, status=AccountStatus.SUSPENDED)
    return {"jira": jira, "confluence": confluence, "licence": licence, "team": team, "ada": ada, "idle": idle}


def _row(page: str, name: str) -> str:
    return next(row for row in page.split("<tr") if f'title="{name}">{name}</span></a>' in row)


def _listed(response) -> list[str]:
    return [account.name for account in response.context["cl"].result_list]


class TestTheList:
    def test_it_shows_status_claim_activity_products_licence_groups_and_billable(self, client_for, alice, mirror):
        page = client_for(alice).get(reverse(CHANGELIST)).content.decode()
        row = _row(page, "Ada Active")
        assert "Active" in row
        assert '<td class="field-kind">Managed</td>' in row
        assert f'<span title="{timezone.localdate(_ago(3)):%Y-%m-%d}">3 days ago</span>' in row
        assert "Confluence, Jira Software" in row
        assert '<td class="field-licence_group_count">1</td>' in row
        assert "icon-yes" in row
        assert '<td class="field-kind">External</td>' in _row(page, "Ivan Idle")
        assert "never" in _row(page, "Nora Never")

    @pytest.mark.parametrize(
        "params",
        [
            {"status": "suspended"},
            {"inactivity": "gt180"},
            {"inactivity": "never"},
            {"managed": "false"},
            {"account_type": "atlassian"},
            {"is_org_admin": "false"},
            {"billable": "true"},
            {"product": "jira"},
            {"product": "jira", "product_inactive_days": "90"},
            {"group": "team"},
            {"not_group": "licence"},
        ],
    )
    def test_each_sidebar_filter_lists_exactly_what_the_filterset_selects(self, client_for, alice, mirror, params):
        data = {key: (str(mirror[value].pk) if value in mirror else value) for key, value in params.items()}
        response = client_for(alice).get(reverse(CHANGELIST), data)
        assert response.status_code == 200
        expected = AccountFilterSet(data, queryset=Account.objects.order_by("name", "id")).qs
        assert _listed(response) == [a.name for a in expected]
        assert _listed(response), "the fixture should give every filter something to find"

    def test_search_finds_by_name_email_or_exact_account_id(self, client_for, alice, mirror):
        client = client_for(alice)
        assert _listed(client.get(reverse(CHANGELIST), {"q": "ivan"})) == ["Ivan Idle"]
        assert _listed(client.get(reverse(CHANGELIST), {"q": mirror["ada"].email})) == ["Ada Active"]
        assert _listed(client.get(reverse(CHANGELIST), {"q": mirror["ada"].account_id})) == ["Ada Active"]

    def test_a_bad_filter_value_is_reported_and_nothing_is_filtered_by_it(self, client_for, alice, mirror):
        client = client_for(alice)
        response = client.get(reverse(CHANGELIST), {"group": "999999"})
        assert response.status_code == 302
        assert response.url.endswith("?e=1")
        page = client.get(response.url).content.decode()
        assert "The filter was not applied" in page
        assert "no group with id 999999" in page

    def test_the_group_filter_is_a_text_box_fed_by_the_group_autocomplete(self, client_for, alice, mirror):
        for n in range(30):
            GroupFactory(name=f"squad-{n:02d}")
        client = client_for(alice)
        page = client.get(reverse(CHANGELIST)).content.decode()
        assert "squad-" not in page, "no group is listed in the page"
        assert 'id="group-filter-text"' in page
        autocomplete = reverse("admin:autocomplete")
        assert autocomplete in page
        found = client.get(
            autocomplete,
            {"app_label": "accounts", "model_name": "membership", "field_name": "group", "term": "squad-1"},
        ).json()
        assert sorted(item["text"] for item in found["results"]) == [f"squad-{n}" for n in range(10, 20)]

    def test_the_chosen_group_is_named_in_the_filter(self, client_for, alice, mirror):
        page = client_for(alice).get(reverse(CHANGELIST), {"group": mirror["team"].pk}).content.decode()
        assert "Member of team-blue" in page

    def test_the_count_stops_at_the_cap_and_says_so(self, client_for, alice, mirror, monkeypatch):
        monkeypatch.setattr(CappedCountPaginator, "cap", 2)
        page = client_for(alice).get(reverse(CHANGELIST)).content.decode()
        assert "2+ accounts" in page

    def test_the_count_is_exact_below_the_cap(self, client_for, alice, mirror):
        page = client_for(alice).get(reverse(CHANGELIST)).content.decode()
        assert "3 accounts" in page
        assert "3+ accounts" not in page


class TestTheListIsReadOnly:
    def test_no_one_may_add_change_or_delete_an_account_through_the_admin(self, client_for, root, mirror):
        client = client_for(root)
        ada = mirror["ada"]
        assert client.get(reverse("admin:accounts_account_add")).status_code == 403
        assert client.post(reverse("admin:accounts_account_change", args=[ada.pk]), {"name": "x"}).status_code == 403
        delete = reverse("admin:accounts_account_delete", args=[ada.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
        ada.refresh_from_db()
        assert ada.name == "Ada Active"

    def test_delete_selected_is_never_offered(self, client_for, root, mirror):
        page = client_for(root).get(reverse(CHANGELIST)).content.decode()
        assert "delete_selected" not in page

    @pytest.mark.parametrize(
        ("persona", "offered", "hidden"),
        [
            ("alice", {"bulk_activate", "bulk_suspend", "bulk_deactivate", "bulk_add_to_group"}, set()),
            (
                "hank",
                {"bulk_activate"},
                {"bulk_suspend", "bulk_deactivate", "bulk_add_to_group", "bulk_remove_from_group"},
            ),
            ("audrey", set(), {"bulk_activate", "bulk_suspend"}),
        ],
    )
    def test_each_role_is_offered_only_the_bulk_actions_it_may_run(
        self, request, client_for, mirror, persona, offered, hidden
    ):
        page = client_for(request.getfixturevalue(persona)).get(reverse(CHANGELIST)).content.decode()
        for action in offered:
            assert f'value="{action}"' in page, action
        for action in hidden:
            assert f'value="{action}"' not in page, action

    def test_staff_without_a_role_cannot_open_the_list(self, client_for, nobody, mirror):
        assert client_for(nobody).get(reverse(CHANGELIST)).status_code == 403


class TestTheAccountPage:
    def _page(self, client, account) -> str:
        response = client.get(reverse("admin:accounts_account_change", args=[account.pk]))
        assert response.status_code == 200
        return response.content.decode()

    def test_it_shows_product_access_with_last_active_per_product(self, client_for, alice, mirror):
        page = self._page(client_for(alice), mirror["ada"])
        products = page.split('id="account-products"')[1].split("</fieldset>")[0]
        assert "Jira Software" in products
        assert f"{timezone.localdate(_ago(40)):%Y-%m-%d}" in products
        assert "Direct role" in products

    def test_it_marks_licence_groups_among_the_groups(self, client_for, alice, mirror):
        groups = self._page(client_for(alice), mirror["ada"]).split('id="account-groups"')[1].split("</fieldset>")[0]
        licence_row = groups.split("jira-software-users")[1].split("</tr>")[0]
        assert "licence group" in licence_row
        assert "licence group" not in groups.split("team-blue")[1].split("</tr>")[0]

    def test_it_explains_which_group_or_direct_role_makes_the_account_billable(self, client_for, alice, mirror):
        page = self._page(client_for(alice), mirror["ada"])
        why = page.split('id="account-why-billable"')[1].split("</fieldset>")[0]
        assert "Jira Software: a seat through the group jira-software-users." in why
        assert "Confluence: a seat through a role given directly to the account." in why

    def test_a_suspended_account_is_explained_as_not_billable(self, client_for, alice, mirror):
        nora = Account.objects.get(name="Nora Never")
        assert "Not billable: the account is suspended." in self._page(client_for(alice), nora)

    def test_its_audit_trail_holds_its_own_and_its_membership_events_newest_first(self, client_for, alice, mirror):
        ada, team = mirror["ada"], mirror["team"]
        twin = AccountFactory(name="Twin", account_id=f"{ada.account_id}0")  # "acc-1" vs "acc-10"
        actor = Actor.system("test")
        record_event(actor=actor, action=AuditAction.ACCOUNT_SUSPENDED, target=ada, reason="older-event")
        record_event(
            actor=actor,
            action=AuditAction.MEMBERSHIP_ADDED,
            target_type="accounts.membership",
            target_id=f"{ada.account_id}:{team.group_id}",
            target_repr=f"{ada} in {team}",
            reason="newer-event",
        )
        record_event(
            actor=actor,
            action=AuditAction.MEMBERSHIP_ADDED,
            target_type="accounts.membership",
            target_id=f"{twin.account_id}:{team.group_id}",
            reason="someone else",
        )
        record_event(actor=actor, action=AuditAction.ACCOUNT_SUSPENDED, target=twin, reason="someone else too")
        trail = self._page(client_for(alice), ada).split('id="account-audit-trail"')[1].split("</fieldset>")[0]
        assert "someone else" not in trail
        assert trail.index("newer-event") < trail.index("older-event")

    def test_the_audit_trail_keeps_only_the_newest_events(self, mirror):
        for n in range(5):
            record_event(
                actor=Actor.system(), action=AuditAction.ACCOUNT_SUSPENDED, target=mirror["ada"], reason=f"e{n}"
            )
        trail = account_details(mirror["ada"], audit_limit=3)["audit_trail"]
        assert [event.reason for event in trail] == ["e4", "e3", "e2"]

    def test_help_desk_sees_the_account_but_not_the_audit_trail(self, client_for, hank, mirror):
        record_event(actor=Actor.system(), action=AuditAction.ACCOUNT_SUSPENDED, target=mirror["ada"], reason="why")
        page = self._page(client_for(hank), mirror["ada"])
        assert "account-why-billable" in page
        assert "account-audit-trail" not in page

    def test_the_page_has_no_save_button(self, client_for, alice, mirror):
        page = self._page(client_for(alice), mirror["ada"])
        assert 'name="_save"' not in page


class TestAccountPageActions:
    def test_the_account_page_offers_its_actions_through_the_list_s_confirmation(self, client_for, alice, mirror):
        ada = mirror["ada"]
        page = client_for(alice).get(reverse("admin:accounts_account_change", args=[ada.pk])).content.decode()
        assert 'id="account-bulk_suspend"' in page
        assert f'name="_selected_action" value="{ada.pk}"' in page
        assert f'action="{reverse(CHANGELIST)}"' in page
        # The button leads to the same confirmation page as the list: a count and a required reason.
        confirm = client_for(alice).post(
            reverse(CHANGELIST), {"action": "bulk_suspend", "_selected_action": [ada.pk], "index": "0"}
        )
        assert confirm.status_code == 200
        assert '<strong id="bulk-count">1</strong>' in confirm.content.decode()

    def test_an_auditor_sees_no_action_on_the_account_page(self, client_for, audrey, mirror):
        page = client_for(audrey).get(reverse("admin:accounts_account_change", args=[mirror["ada"].pk]))
        assert "account-bulk_" not in page.content.decode()
