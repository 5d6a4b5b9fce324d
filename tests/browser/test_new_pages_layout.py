"""The pages the lifecycle and review work added, as an IT admin sees them at 1280 and 800 px: the
account page's "Return date" section, a revoked review item with "Give back…", the review campaign
start form with its scope choices, and a webhook's "Send a test message". The main content never
scrolls sideways and each page's buttons are on screen; screenshots of each at both widths are kept."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account, AccountStatus
from accounts.services.returns import account_return_date_set
from accounts.sync.runner import organization_sync
from governance.audit.record import Actor
from governance.notifications.models import WebhookKind
from policies.models import ItemOutcome
from policies.services.review_items import items_decide
from policies.services.reviews import campaign_close
from tests.browser.screenshots import WIDTHS, save_screenshots
from tests.governance.webhook_helpers import fernet_keys, subscribe
from tests.policies.reviews_world import reviewable_groups, reviewer, start

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pages(organization, atlassian, alice, settings):
    """Each page's name -> (its path, the selectors of the buttons it must show)."""
    assert organization_sync(organization=organization, client=atlassian).ok
    account = Account.objects.filter(status=AccountStatus.ACTIVE, is_org_admin=False).order_by("pk").first()
    back_on = timezone.localdate() + timedelta(days=14)
    account_return_date_set(account=account, return_on=back_on, actor=Actor.for_user(alice), reason="parental leave")

    rita = reviewer("rita")
    campaign = start(organization, alice, reviewable_groups(organization, 1), reviewer=rita)
    item = campaign.items.order_by("pk").first()
    items_decide(items=[item], decision="revoke", reason="left", user=rita, actor=Actor.for_user(rita))
    campaign_close(campaign=campaign, client=atlassian, actor=Actor.for_user(alice))
    item.refresh_from_db()
    assert item.outcome == ItemOutcome.REVOKED

    fernet_keys(settings)
    hook = subscribe("https://hooks.example.com/portal", ["sync.failed"], kind=WebhookKind.WEBHOOK)
    return {
        "account-return-date": (
            f"/admin/accounts/account/{account.pk}/change/",
            ["#account-return-date", "#return-date-set", "#return-date-clear", "#id_return_on", "#id_reason"],
        ),
        "review-item-give-back": (f"/admin/policies/reviewitem/{item.pk}/change/", ["#review-restore"]),
        "review-campaign-start": (
            "/admin/policies/reviewcampaign/add/",
            ["#id_scope", "#id_products", "#id_undecided", "input[name=_save]"],
        ),
        "webhook-send-test": (f"/admin/governance/webhooksubscription/{hook.pk}/change/", ["#webhook-send-test"]),
    }


def _overflow(page) -> dict:
    """How far the page scrolls sideways, and the elements of the main content (``#content``) that
    run past its right edge (clipped or sticking out: a select wider than the form, say)."""
    return page.evaluate(
        """() => {
            const main = document.querySelector('#content');
            const box = main.getBoundingClientRect();
            const edge = box.right - parseFloat(getComputedStyle(main).paddingRight) + 1;
            const past = [...main.querySelectorAll('*')]
                .map(el => [el, el.getBoundingClientRect()])
                .filter(([el, r]) => r.width > 0 && r.height > 0 && r.right > edge)
                .map(([el, r]) => `${el.tagName.toLowerCase()}#${el.id} ends at ${Math.round(r.right)}`);
            return {
                page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
                main: main.scrollWidth - main.clientWidth,
                edge: Math.round(edge),
                past: past.slice(0, 10),
                viewport: document.documentElement.clientWidth,
            };
        }"""
    )


@pytest.mark.parametrize(
    "name", ["account-return-date", "review-item-give-back", "review-campaign-start", "webhook-send-test"]
)
def test_the_new_pages_fit_1280_and_800_px_with_their_buttons_on_screen(name, pages, logged_in_page, alice):
    path, buttons = pages[name]
    page = logged_in_page(alice)
    page.goto(path)
    save_screenshots(page, f"new-{name}", full_page=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        found = _overflow(page)
        assert found["page"] <= 0, f"{name} scrolls sideways at {width} px: {found}"
        assert found["main"] <= 0, f"{name}'s main content overflows at {width} px: {found}"
        assert not found["past"], f"{name}: elements run past the main content at {width} px: {found}"
        for selector in buttons:
            button = page.locator(selector)
            assert button.is_visible(), f"{selector} is not visible on {name} at {width} px"
            box = button.bounding_box()
            assert box is not None
            assert box["x"] >= 0, f"{selector} starts off screen on {name} at {width} px"
            assert box["x"] + box["width"] <= found["viewport"], f"{selector} ends off screen on {name} at {width} px"
