"""The access-request admin: the help desk approves or rejects, one or many, with a reason."""

import pytest
from django.core import mail
from django_q.conf import Conf

from governance.audit.models import ActorKind, AuditAction, AuditEvent
from policies.access.services import access_request_create
from policies.models import AccessRequest
from policies.models.access_requests import AccessRequestStatus
from tests.policies.test_access_support import act, path_for

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/policies/accessrequest/"


def _pending(make_policy, client, **policy_fields):
    """A request made through the public form for an account a policy without self-service acted on."""
    enforcement = act(make_policy(self_service_restore=False, **policy_fields))
    client.post(path_for(enforcement), {"justification": "Starting a new project"})
    request = AccessRequest.objects.get(enforcement=enforcement)
    assert request.status == AccessRequestStatus.PENDING
    return request


def _action(client, name, pks, reason=None):
    data = {"action": name, "_selected_action": [str(pk) for pk in pks], "index": "0"}
    if reason is not None:
        data.update({"_confirm": "1", "reason": reason})
    return client.post(CHANGELIST, data)


def test_with_auto_approval_off_hank_approves_and_it_is_fulfilled(
    make_policy, client, client_for, hank, simulator, monkeypatch, django_capture_on_commit_callbacks
):
    request = _pending(make_policy, client)
    account = request.account
    desk = client_for(hank)

    listing = desk.get(CHANGELIST + "?decision=pending")
    assert listing.status_code == 200
    assert request.email.encode() in listing.content
    assert b"column-age" in listing.content

    confirm = _action(desk, "approve_selected", [request.pk])
    assert confirm.status_code == 200
    assert b"Reason" in confirm.content

    monkeypatch.setattr(Conf, "SYNC", True)
    with django_capture_on_commit_callbacks(execute=True):
        done = _action(desk, "approve_selected", [request.pk], reason="Manager confirmed the project")
    assert done.status_code == 302

    request.refresh_from_db()
    assert request.status == AccessRequestStatus.FULFILLED
    assert request.decided_by == hank
    assert simulator.state.user(account.account_id).status == "active"
    account.refresh_from_db()
    assert account.restored_at is not None
    approved = AuditEvent.objects.get(action=AuditAction.REQUEST_APPROVED)
    assert (approved.actor_kind, approved.actor_name) == (ActorKind.HELP_DESK, "hank")
    assert approved.reason == "Manager confirmed the project"
    restored = AuditEvent.objects.get(action=AuditAction.ACCOUNT_RESTORED, correlation_id=request.correlation_id)
    assert restored.actor_name == "hank"
    assert any("access is back" in m.subject and request.email in m.to for m in mail.outbox)


def test_a_reason_is_required(make_policy, client, client_for, hank):
    request = _pending(make_policy, client)
    page = _action(client_for(hank), "approve_selected", [request.pk], reason="")
    assert page.status_code == 200
    assert b"Give a reason" in page.content
    request.refresh_from_db()
    assert request.status == AccessRequestStatus.PENDING


def test_bulk_reject_tells_each_person(make_policy, client, client_for, hank, mirrored):
    first = _pending(make_policy, client)
    other = _second_pending(first)  # another account the same policy acted on
    response = _action(client_for(hank), "reject_selected", [first.pk, other.pk], reason="Licences are frozen")
    assert response.status_code == 302
    assert set(AccessRequest.objects.values_list("status", flat=True)) == {AccessRequestStatus.REJECTED}
    declined = [m for m in mail.outbox if "declined" in m.subject]
    assert sorted(m.to[0] for m in declined) == sorted([first.email, other.email])
    assert all("Licences are frozen" in m.body for m in declined)
    assert AuditEvent.objects.filter(action=AuditAction.REQUEST_REJECTED).count() == 2


def _second_pending(first):
    from policies.models import Enforcement, EnforcementStatus

    enforcement = (
        Enforcement.objects.filter(policy=first.enforcement.policy, status=EnforcementStatus.DONE)
        .exclude(pk=first.enforcement_id)
        .first()
    )
    enforcement.refresh_from_db()
    return access_request_create(enforcement=enforcement, nonce=enforcement.nonce, justification="me too")


def test_requests_not_pending_are_left_alone(make_policy, client, client_for, hank):
    request = _pending(make_policy, client)
    AccessRequest.objects.filter(pk=request.pk).update(status=AccessRequestStatus.REJECTED)
    _action(client_for(hank), "approve_selected", [request.pk], reason="oops")
    request.refresh_from_db()
    assert request.status == AccessRequestStatus.REJECTED
    assert not AuditEvent.objects.filter(action=AuditAction.REQUEST_APPROVED).exists()


def test_portal_admins_may_decide_too(make_policy, client, client_for, alice):
    request = _pending(make_policy, client)
    _action(client_for(alice), "reject_selected", [request.pk], reason="duplicate")
    request.refresh_from_db()
    assert request.status == AccessRequestStatus.REJECTED


def test_auditors_see_requests_but_cannot_decide(make_policy, client, client_for, audrey):
    request = _pending(make_policy, client)
    auditor = client_for(audrey)
    assert auditor.get(CHANGELIST).status_code == 200
    assert auditor.get(f"{CHANGELIST}{request.pk}/change/").status_code == 200
    response = _action(auditor, "approve_selected", [request.pk], reason="sneaky")
    assert response.status_code == 403
    request.refresh_from_db()
    assert request.status == AccessRequestStatus.PENDING


def test_the_detail_page_is_read_only(make_policy, client, client_for, hank):
    request = _pending(make_policy, client)
    page = client_for(hank).get(f"{CHANGELIST}{request.pk}/change/")
    assert page.status_code == 200
    assert b"Starting a new project" in page.content
    assert b'name="_save"' not in page.content


def _page(pk) -> str:
    return f"{CHANGELIST}{pk}/change/"


def _decide(client, pk, decision, reason):
    return client.post(f"{CHANGELIST}{pk}/decide/", {"decision": decision, "reason": reason})


def test_the_request_page_says_in_words_what_would_be_given_back(make_policy, client, client_for, hank):
    request = _pending(make_policy, client)
    page = client_for(hank).get(_page(request.pk)).content.decode()
    assert '<dl class="given-back">' in page
    assert "<dt>Account</dt><dd>suspended, becomes active again</dd>" in page
    assert f"policy {request.enforcement.policy.name}" in page
    assert "{&quot;" not in page  # no raw JSON
    assert 'id="decide-approve"' in page
    assert 'id="decide-reject"' in page


def test_hank_approves_from_the_request_page_with_a_reason(
    make_policy, client, client_for, hank, simulator, monkeypatch, django_capture_on_commit_callbacks
):
    request = _pending(make_policy, client)
    monkeypatch.setattr(Conf, "SYNC", True)
    with django_capture_on_commit_callbacks(execute=True):
        response = _decide(client_for(hank), request.pk, "approve", "Manager confirmed")
    assert response.status_code == 302
    assert response["Location"] == _page(request.pk)
    request.refresh_from_db()
    assert request.status == AccessRequestStatus.FULFILLED
    assert simulator.state.user(request.account.account_id).status == "active"
    approved = AuditEvent.objects.get(action=AuditAction.REQUEST_APPROVED)
    assert (approved.actor_name, approved.reason) == ("hank", "Manager confirmed")
    # Decided: the page no longer offers a decision.
    assert b"decide-approve" not in client_for(hank).get(_page(request.pk)).content


def test_hank_rejects_from_the_request_page_and_the_person_is_told(make_policy, client, client_for, hank):
    request = _pending(make_policy, client)
    response = _decide(client_for(hank), request.pk, "reject", "Contract ended")
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == AccessRequestStatus.REJECTED
    assert request.decision_reason == "Contract ended"
    assert any("Contract ended" in m.body and request.email in m.to for m in mail.outbox)


def test_a_decision_from_the_page_needs_a_reason_and_a_post(make_policy, client, client_for, hank):
    request = _pending(make_policy, client)
    desk = client_for(hank)
    refused = desk.post(f"{CHANGELIST}{request.pk}/decide/", {"decision": "approve", "reason": ""}, follow=True)
    assert b"Give a reason" in refused.content
    assert desk.get(f"{CHANGELIST}{request.pk}/decide/").status_code == 405
    assert _decide(desk, request.pk, "maybe", "x").status_code == 400
    request.refresh_from_db()
    assert request.status == AccessRequestStatus.PENDING


def test_auditors_get_no_decision_on_the_page_and_cannot_post_one(make_policy, client, client_for, audrey):
    request = _pending(make_policy, client)
    auditor = client_for(audrey)
    assert b"decide-approve" not in auditor.get(_page(request.pk)).content
    assert _decide(auditor, request.pk, "approve", "I am not allowed").status_code == 403
    request.refresh_from_db()
    assert request.status == AccessRequestStatus.PENDING
