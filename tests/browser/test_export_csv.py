"""An admin filters the accounts, exports them as CSV from the changelist, and the download holds the rows."""

import csv
import io
import os

import pytest
from django.contrib.admin import site as admin_site

from accounts.importexport.admin import AccountImportExportMixin
from accounts.models import Account, AccountStatus
from tests.factories import AccountFactory, GroupFactory, MembershipFactory, OrganizationFactory

# Playwright's sync API runs an event loop; the ORM calls below are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = pytest.mark.browser
PASSWORD = "a-long-browser-password"


@pytest.fixture
def portal_admin(alice):
    alice.set_password(PASSWORD)
    alice.save()
    return alice


@pytest.fixture
def accounts(transactional_db):
    org = OrganizationFactory()
    team = GroupFactory(organization=org, name="platform-team")
    for n in range(3):
        MembershipFactory(
            account=AccountFactory(organization=org, account_id=f"sus-{n}", status=AccountStatus.SUSPENDED),
            group=team,
        )
    AccountFactory(organization=org, account_id="act-0", status=AccountStatus.ACTIVE)


def test_an_admin_exports_the_filtered_accounts_as_csv(live_server, page, portal_admin, accounts):
    if not isinstance(admin_site._registry.get(Account), AccountImportExportMixin):
        pytest.skip("accounts.admin.AccountAdmin does not include AccountImportExportMixin yet")
    page.goto(f"{live_server.url}/admin/login/?next=/admin/accounts/account/%3Fstatus%3Dsuspended")
    page.fill("input[name=username]", portal_admin.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.click("a.export_link")
    page.select_option("select[name=format]", label="csv")
    with page.expect_download() as info:
        page.click("input[type=submit]")
    download = info.value
    assert download.suggested_filename.startswith("accounts-")
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    assert sorted(r["account_id"] for r in rows) == ["sus-0", "sus-1", "sus-2"]
    assert {r["groups"] for r in rows} == {"platform-team"}
