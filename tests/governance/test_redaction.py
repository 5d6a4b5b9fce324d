import pytest
from django.contrib.auth.models import Group

from governance.logging import redact
from governance.roles import AUDITORS, PORTAL_ADMINS


@pytest.mark.parametrize(
    "line",
    [
        "headers={'Authorization': 'Bearer s3cr3t-admin-key'}",
        "Authorization: Basic YWRtaW46dG9rZW4=",
        "Authorization: Token gpt_0123abcd_verysecretvalue",
        "calling with gpt_0123abcd_verysecretvalue failed",
    ],
)
def test_credentials_are_redacted_from_log_text(line):
    cleaned = redact(line)
    assert "s3cr3t-admin-key" not in cleaned
    assert "YWRtaW46dG9rZW4=" not in cleaned
    assert "verysecretvalue" not in cleaned


def test_configured_secrets_are_redacted(settings):
    settings.ATLASSIAN_ADMIN_API_KEY = "org-key-abcdef123"
    assert redact("401 for org-key-abcdef123") == "401 for [redacted]"


@pytest.mark.django_db
def test_portal_admins_manage_api_tokens_and_auditors_only_read_them():
    admins = set(Group.objects.get(name=PORTAL_ADMINS).permissions.values_list("codename", flat=True))
    auditors = set(Group.objects.get(name=AUDITORS).permissions.values_list("codename", flat=True))
    assert {"add_apitoken", "change_apitoken", "view_apitoken"} <= admins
    assert "view_apitoken" in auditors
    assert not {c for c in auditors if not c.startswith("view_")}
