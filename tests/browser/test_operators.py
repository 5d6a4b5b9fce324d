"""A Portal admin adds a help-desk operator on the Users page, who can then sign in."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from governance.audit.models import AuditAction, AuditEvent
from governance.roles import HELP_DESK
from tests.browser.screenshots import save_screenshots

pytestmark = pytest.mark.browser
NEW_PASSWORD = "Correct-Horse-Battery-9"


def test_a_portal_admin_creates_a_help_desk_operator_who_signs_in(logged_in_page, alice):
    page = logged_in_page(alice)
    page.goto("/admin/auth/user/")
    page.get_by_role("link", name="Add user").click()
    page.fill("#id_username", "olga")
    page.fill("#id_password1", NEW_PASSWORD)
    page.fill("#id_password2", NEW_PASSWORD)
    page.fill("#id_first_name", "Olga")
    page.fill("#id_email", "olga@portal.test")
    page.get_by_label(HELP_DESK).check()
    expect(page.get_by_label("Superuser status")).to_have_count(0)
    save_screenshots(page, "operator-add", full_page=True)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    save_screenshots(page, "operator-change", full_page=True)

    olga = User.objects.get(username="olga")
    assert list(olga.groups.values_list("name", flat=True)) == [HELP_DESK]
    assert AuditEvent.objects.filter(action=AuditAction.OPERATOR_CREATED, actor_name="alice").count() == 1

    page.goto("/admin/auth/user/")
    expect(page.locator("#result_list")).to_contain_text(HELP_DESK)
    save_screenshots(page, "operators-list", full_page=True)

    newcomer = logged_in_page(olga, password=NEW_PASSWORD)
    expect(newcomer.locator("#content")).to_contain_text("Accounts")
