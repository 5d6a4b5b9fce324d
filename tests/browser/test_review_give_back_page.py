"""A person whose access an access review removed follows the email's link and asks for it back,
in Chromium: the public page at 1280 and 800 px, the form, the confirmation, the used link."""

import re

import pytest
from django.core import mail

from governance.audit.record import Actor
from policies.models import GiveBackStatus, ItemOutcome
from policies.services.review_items import items_decide
from policies.services.reviews import campaign_close
from tests.browser.screenshots import save_screenshots
from tests.policies.conftest import mirrored  # noqa: F401  (fixtures)
from tests.policies.reviews_world import reviewable_groups, reviewer, start

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

_LINK = re.compile(r"(https?://\S+/access/review/[^/\s]+/)")


@pytest.fixture
def visitor(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def test_the_person_asks_for_what_a_review_removed_on_a_page_that_fits_both_widths(
    mirrored,  # noqa: F811
    atlassian,
    alice,
    live_server,
    settings,
    visitor,
):
    settings.PORTAL_BASE_URL = live_server.url
    rita = reviewer("rita")
    campaign = start(mirrored, alice, reviewable_groups(mirrored, 1), reviewer=rita)
    item = campaign.items.select_related("account", "group").first()
    items_decide(items=[item], decision="revoke", reason="left the project", user=rita, actor=Actor.for_user(rita))
    mail.outbox.clear()
    campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))
    notice = next(m for m in mail.outbox if item.account.email in m.to and "review removed" in m.subject)
    link = _LINK.search(notice.body).group(1)

    visitor.goto(link)
    assert visitor.locator("h1").inner_text() == "Ask for your Atlassian access back"
    assert item.group.name in visitor.locator("main, body").first.inner_text()
    save_screenshots(visitor, "public-review-give-back", full_page=True, fits=True)
    visitor.get_by_label(re.compile("Why", re.IGNORECASE)).fill("I moved back to the project in May")
    visitor.get_by_role("button", name="Ask for it back").click()
    visitor.wait_for_load_state()
    save_screenshots(visitor, "public-review-give-back-sent", fits=True)

    item.refresh_from_db()
    assert (item.outcome, item.give_back_status) == (ItemOutcome.REVOKED, GiveBackStatus.REQUESTED)
    assert item.give_back_justification == "I moved back to the project in May"

    visitor.goto(link)  # used up
    assert visitor.locator("h1").inner_text() == "This link no longer works"
