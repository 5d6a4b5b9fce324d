"""Playwright against Debian's Chromium and pytest-django's live server (DJANGO-NOTES 7.3).

Shared by every browser test: ``logged_in_page(user)`` logs a portal user in through the real
login form and returns a page in a fresh browser context (so two users can be driven at once).
"""

import os
from pathlib import Path

import pytest

# The in-process Atlassian simulator and an organization bound to it, shared with tests/accounts.
from tests.accounts.conftest import atlassian, organization, simulator  # noqa: F401

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a
# thread with a running loop unless told that the test code knows what it is doing.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "x" * 16  # the personas' password (tests/conftest.py)
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    """Every test under tests/browser is a browser test, skipped as a whole when Chromium is missing."""
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def logged_in_page(browser, live_server):
    """``logged_in_page(user, password=PASSWORD)`` → a Playwright page on the admin index, logged in."""
    contexts = []

    def login(user, password: str = PASSWORD):
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/admin/login/")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")
        return page

    yield login
    for context in contexts:
        context.close()
