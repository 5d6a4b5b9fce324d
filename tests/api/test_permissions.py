"""Who may read and write what through the API: the admin roles, endpoint by endpoint.

Reading needs the model's view permission (not just a login); each write needs the permission of
the admin action it mirrors; auditors read everything and write nothing; anonymous callers get 401.
"""

import pytest
from django.urls import reverse

from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor, record_event
from governance.runs.services import task_run_start

pytestmark = pytest.mark.django_db

# Collections, and the role groups that may read them (list and detail alike).
READERS = {
    "account": {"alice", "hank", "audrey"},
    "group": {"alice", "hank", "audrey"},
    "membership": {"alice", "hank", "audrey"},
    "product": {"alice", "hank", "audrey"},
    "organization": {"alice", "hank", "audrey"},
    "policy": {"alice", "hank", "audrey"},
    "exemption": {"alice", "hank", "audrey"},
    "enforcement": {"alice", "hank", "audrey"},
    "accessrequest": {"alice", "hank", "audrey"},
    "run": {"alice", "audrey"},
    "auditevent": {"alice", "audrey"},
}
PERSONAS = ("alice", "hank", "audrey", "nobody")


@pytest.fixture
def some_rows(policy_rows):
    record_event(actor=Actor.system(), action=AuditAction.SYNC_COMPLETED, target_repr="sync")
    task_run_start(name="sync")
    bulk = task_run_start(name="bulk_action")
    return {**policy_rows, "bulk_run": bulk}


def _read_urls(rows) -> list[tuple[str, str, set]]:
    """(label, url, readers) of every GET endpoint: each list, the detail of a row of each, and the
    policy preview and bulk progress."""
    from django.apps import apps

    models = {
        "account": "accounts.Account",
        "group": "accounts.Group",
        "membership": "accounts.Membership",
        "product": "accounts.Product",
        "organization": "accounts.Organization",
        "policy": "policies.InactivityPolicy",
        "exemption": "policies.Exemption",
        "enforcement": "policies.Enforcement",
        "accessrequest": "policies.AccessRequest",
        "run": "governance.TaskRun",
        "auditevent": "governance.AuditEvent",
    }
    urls = []
    for basename, readers in READERS.items():
        row = apps.get_model(models[basename])._default_manager.order_by("pk").first()
        urls.append((f"{basename}-list", reverse(f"api:{basename}-list"), readers))
        urls.append((f"{basename}-detail", reverse(f"api:{basename}-detail", args=[row.pk]), readers))
    urls.append(("policy-preview", reverse("api:policy-preview", args=[rows["policy"].pk]), READERS["policy"]))
    urls.append(("bulk-progress", reverse("api:account-bulk-detail", args=[rows["bulk_run"].pk]), READERS["account"]))
    return urls


@pytest.mark.parametrize("persona", PERSONAS)
def test_reading_needs_the_models_view_permission(request, api_as, some_rows, persona):
    client = api_as(request.getfixturevalue(persona))
    for label, url, readers in _read_urls(some_rows):
        response = client.get(url)
        expected = 200 if persona in readers else 403
        assert response.status_code == expected, (persona, label, response.content[:200])


def test_anonymous_callers_are_asked_to_authenticate(api, some_rows):
    for label, url, _readers in _read_urls(some_rows):
        response = api.get(url)
        assert response.status_code == 401, label
        assert response["WWW-Authenticate"] == 'Token realm="api"'


@pytest.mark.parametrize(("persona", "keyword"), [("audrey", "Token"), ("hank", "Bearer")])
def test_a_token_reads_what_its_user_reads_in_the_admin(request, token_client, some_rows, persona, keyword):
    client = token_client(request.getfixturevalue(persona), keyword=keyword)
    for label, url, readers in _read_urls(some_rows):
        assert client.get(url).status_code == (200 if persona in readers else 403), label


# --- writes ------------------------------------------------------------------------------------------
def _writes(rows) -> list[tuple[str, str, dict]]:
    """(name, url, body) of every write endpoint, with a body that is valid where it matters."""
    account = rows["accounts"][0]
    return [
        (
            "bulk_suspend",
            reverse("api:account-bulk-list"),
            {"action": "suspend", "reason": "x", "account_ids": [account.pk]},
        ),
        (
            "bulk_activate",
            reverse("api:account-bulk-list"),
            {"action": "activate", "reason": "x", "account_ids": [account.pk]},
        ),
        (
            "exemption_create",
            reverse("api:exemption-list"),
            {"organization": rows["org"].pk, "account": account.pk, "reason": "CEO"},
        ),
        ("exemption_expire", reverse("api:exemption-expire", args=[rows["exemption"].pk]), {"reason": "x"}),
        ("policy_run", reverse("api:policy-run", args=[rows["policy"].pk]), {"dry_run": True}),
        ("enforcement_approve", reverse("api:enforcement-approve", args=[rows["enforcement"].pk]), {"reason": "x"}),
        ("enforcement_reject", reverse("api:enforcement-reject", args=[rows["enforcement"].pk]), {"reason": "x"}),
        ("request_approve", reverse("api:accessrequest-approve", args=[rows["access_request"].pk]), {"reason": "x"}),
        ("request_reject", reverse("api:accessrequest-reject", args=[rows["access_request"].pk]), {"reason": "x"}),
    ]


# Which personas hold the permission each write needs (the admin's roles).
WRITERS = {
    "bulk_suspend": {"alice"},
    "bulk_activate": {"alice", "hank"},
    "exemption_create": {"alice"},
    "exemption_expire": {"alice"},
    "policy_run": {"alice"},
    "enforcement_approve": {"alice"},
    "enforcement_reject": {"alice"},
    "request_approve": {"alice", "hank"},
    "request_reject": {"alice", "hank"},
}


@pytest.fixture
def policy_rows(mirror):
    from datetime import timedelta

    from django.utils import timezone

    from policies.models import AccessRequest, Enforcement, EnforcementStatus, Exemption, InactivityPolicy

    org, account = mirror["org"], mirror["accounts"][1]
    policy = InactivityPolicy.objects.create(organization=org, name="Jira 90 days", action="suspend")
    enforcement = Enforcement.objects.create(
        policy=policy,
        account=account,
        status=EnforcementStatus.DONE,
        action="suspend",
        reason="inactive",
        due_at=timezone.now() - timedelta(days=1),
    )
    access_request = AccessRequest.objects.create(account=account, enforcement=enforcement, email=account.email)
    exemption = Exemption.objects.create(organization=org, account=mirror["accounts"][2], reason="board member")
    return {
        **mirror,
        "policy": policy,
        "enforcement": enforcement,
        "access_request": access_request,
        "exemption": exemption,
    }


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_write_needs_the_admin_actions_permission(request, api_as, policy_rows, persona):
    client = api_as(request.getfixturevalue(persona))
    events = AuditEvent.objects.count()
    for name, url, body in _writes(policy_rows):
        status = client.post(url, body, format="json").status_code
        if persona in WRITERS[name]:
            assert status != 403, (persona, name)
        else:
            assert status == 403, (persona, name, status)
    if persona in ("audrey", "nobody"):
        assert AuditEvent.objects.count() == events  # nothing at all happened


def test_anonymous_writes_are_401(api, policy_rows):
    for name, url, body in _writes(policy_rows):
        assert api.post(url, body, format="json").status_code == 401, name


def test_an_auditors_token_writes_nothing(token_client, audrey, policy_rows):
    client = token_client(audrey)
    events = AuditEvent.objects.count()
    for name, url, body in _writes(policy_rows):
        assert client.post(url, body, format="json").status_code == 403, name
    assert AuditEvent.objects.count() == events + 0


def test_help_desk_with_a_token_may_decide_an_access_request(token_client, hank, policy_rows):
    url = reverse("api:accessrequest-reject", args=[policy_rows["access_request"].pk])
    response = token_client(hank).post(url, {"reason": "not needed"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["access_request"]["status"] == "rejected"


@pytest.mark.parametrize("persona", ["alice", "audrey", "root"])
def test_the_audit_log_has_no_write_endpoint_for_anyone(request, api_as, some_rows, persona):
    client = api_as(request.getfixturevalue(persona))
    event = AuditEvent.objects.first()
    detail = reverse("api:auditevent-detail", args=[event.pk])
    assert client.post(reverse("api:auditevent-list"), {"reason": "x"}, format="json").status_code in (403, 405)
    assert client.put(detail, {"reason": "x"}, format="json").status_code in (403, 405)
    assert client.patch(detail, {"reason": "x"}, format="json").status_code in (403, 405)
    assert client.delete(detail).status_code in (403, 405)
    assert AuditEvent.objects.filter(pk=event.pk, reason="").exists()


def test_the_schema_and_docs_need_a_login(api, api_as, audrey):
    assert api.get(reverse("api:schema")).status_code in (401, 403)
    assert api_as(audrey).get(reverse("api:schema")).status_code == 200
