"""A policy's page shows its HTML emails in a sandboxed frame, which inherits the page's
Content-Security-Policy: that page alone allows inline styles, and still no inline script."""

import pytest
from django.urls import reverse

from policies.models import PolicyMode

pytestmark = pytest.mark.django_db


def _directives(response) -> dict[str, list[str]]:
    parts = (p.strip() for p in response["Content-Security-Policy"].split(";"))
    return {part.split()[0]: part.split()[1:] for part in parts if part}


def test_the_email_preview_may_use_inline_styles_but_not_scripts(make_policy, client_for, alice):
    policy = make_policy(mode=PolicyMode.PREVIEW, warning_days=[14])
    response = client_for(alice).get(reverse("admin:policies_inactivitypolicy_change", args=[policy.pk]))
    assert 'id="email-preview-warning"' in response.content.decode()
    found = _directives(response)
    assert found["style-src"] == ["'self'", "'unsafe-inline'"]
    assert found["script-src"] == ["'self'"]
    assert 'sandbox=""' in response.content.decode()


def test_pages_without_a_preview_keep_the_strict_policy(client_for, alice):
    response = client_for(alice).get(reverse("admin:policies_inactivitypolicy_add"))
    assert response.status_code == 200
    assert _directives(response)["style-src"] == ["'self'"]
