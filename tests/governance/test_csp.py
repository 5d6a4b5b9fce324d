"""A Content-Security-Policy on every kind of page: the admin (signed in or not), the public /access/
pages, the API's Swagger UI; and templates that need no inline script or style to work under it."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
HEADER = "Content-Security-Policy"

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    policy = response[HEADER]
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


def assert_strict(response):
    found = directives(response)
    assert found["default-src"] == ["'self'"]
    assert found["script-src"] == ["'self'"]
    assert found["style-src"] == ["'self'"]
    assert found["img-src"] == ["'self'", "data:"]
    assert found["object-src"] == ["'none'"]
    assert found["frame-ancestors"] == ["'none'"]
    assert found["form-action"] == ["'self'"]
    assert found["base-uri"] == ["'self'"]


def test_the_sign_in_page_has_the_strict_policy(client):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200
    assert_strict(response)


@pytest.mark.parametrize(
    "url",
    [
        reverse("admin:index"),
        reverse("admin:accounts_account_changelist"),
        reverse("admin:governance_auditevent_changelist"),
        reverse("admin:axes_accessattempt_changelist"),
    ],
)
def test_admin_pages_have_the_strict_policy(client_for, alice, url):
    response = client_for(alice).get(url)
    assert response.status_code == 200
    assert_strict(response)


def test_the_public_access_pages_keep_their_own_stricter_policy(client):
    response = client.get("/access/")
    assert response.status_code == 200
    found = directives(response)
    assert found["default-src"] == ["'none'"]
    assert found["frame-ancestors"] == ["'none'"]
    assert "script-src" not in found  # no script at all: default-src 'none'


def test_swagger_ui_has_the_policy_and_loads_every_script_and_style_from_files(client_for, audrey):
    client = client_for(audrey)
    response = client.get(reverse("api:docs"))
    assert response.status_code == 200
    assert_strict(response)
    page = response.content.decode()
    assert "<style" not in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "an inline script would be blocked"
    script = re.search(r'<script src="([^"]*script=[^"]*)"', page).group(1).replace("&amp;", "&")
    init = client.get(script)
    assert init.status_code == 200
    assert init["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in init.content.decode()


def test_the_export_form_works_under_the_strict_policy(client_for, alice):
    """The accounts export uses the plain ExportForm: the library's selectable-fields form would
    render an inline onchange handler and style attributes, which this policy blocks."""
    response = client_for(alice).get(reverse("admin:accounts_account_export"))
    assert response.status_code == 200
    assert_strict(response)
    assert not re.search(r"\son[a-z]+=|\sstyle=", response.content.decode())


_INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>"), "inline <script>"),
    (re.compile(r"<style\b"), "<style> block"),
    (re.compile(r"\sstyle\s*="), 'style="" attribute'),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
]


def test_no_admin_template_relies_on_inline_script_or_style():
    """Under script-src/style-src 'self' these would be blocked. The /access/ pages (their own policy
    allows their inline style) and emails (no CSP in a mail client) are not admin pages."""
    offenders = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        relative = path.relative_to(ROOT / "templates").as_posix()
        if relative.startswith(("access/", "emails/")):
            continue
        text = path.read_text()
        offenders += [f"{relative}: {what}" for pattern, what in _INLINE if pattern.search(text)]
    assert offenders == []
