"""/access/: ask for a link by email. Known and unknown addresses look exactly the same."""

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from policies.models import Enforcement, EnforcementStatus
from tests import taskqueue
from tests.policies.test_access_support import act, drain_queue, link_path, queued_funcs

pytestmark = pytest.mark.django_db


def _ask(client, email: str, ip: str = "198.51.100.7"):
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/access/", {"email": email}, REMOTE_ADDR=ip)
    return response, queries


def test_the_page_asks_for_an_email_address(client):
    page = client.get("/access/")
    assert page.status_code == 200
    assert b'type="email"' in page.content
    assert b"csrfmiddlewaretoken" in page.content


def test_known_and_unknown_addresses_get_the_same_answer(make_policy, client):
    enforcement = act(make_policy())
    known = enforcement.account.email
    mail.outbox.clear()

    first, first_queries = _ask(client, known)
    second, second_queries = _ask(client, "nobody-here@example.com")

    assert first.status_code == second.status_code == 200
    assert [t.name for t in first.templates] == [t.name for t in second.templates]
    assert first.content == second.content
    assert b"if an account with access history exists" in first.content.lower()
    # The same work on the request path: no lookup, one counter per limit, one queued task.
    assert len(first_queries) == len(second_queries)
    assert not any("accounts_account" in q["sql"] for q in first_queries.captured_queries)
    assert mail.outbox == []
    assert queued_funcs() == ["policies.access.tasks.send_restore_link"] * 2


def test_the_task_sends_a_link_only_to_the_mirrored_address(make_policy, client):
    enforcement = act(make_policy())
    account = enforcement.account
    mail.outbox.clear()
    _ask(client, account.email.upper())
    _ask(client, "nobody-here@example.com")
    drain_queue()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [account.email]
    path = link_path(message)
    assert client.get(path).status_code == 200
    assert taskqueue.queue_size() == 0


def test_it_uses_the_most_recent_done_enforcement(make_policy, client):
    enforcement = act(make_policy())
    account = enforcement.account
    older = make_policy(name="older policy")
    Enforcement.objects.create(
        policy=older,
        account=account,
        status=EnforcementStatus.DONE,
        action="suspend",
        reason="r",
        due_at=enforcement.due_at,
        executed_at=enforcement.executed_at.replace(year=2020),
    )
    mail.outbox.clear()
    _ask(client, account.email)
    drain_queue()
    page = client.get(link_path(mail.outbox[0]))
    assert page.context["what"]["policy"] == enforcement.policy.name


def test_an_account_no_policy_acted_on_gets_no_email(mirrored, client):
    account = Account.objects.filter(organization=mirrored).exclude(email__isnull=True).exclude(email="").first()
    _ask(client, account.email)
    drain_queue()
    assert mail.outbox == []


def test_an_invalid_address_is_a_clear_error(client):
    response = client.post("/access/", {"email": "not-an-address"})
    assert response.status_code == 200
    assert b"Enter a valid email address." in response.content
    assert taskqueue.queue_size() == 0


def test_the_address_is_not_kept_with_the_task_result(make_policy, client, monkeypatch):
    from django_q.conf import Conf
    from django_q.models import Task

    enforcement = act(make_policy())
    monkeypatch.setattr(Conf, "SYNC", True)
    _ask(client, enforcement.account.email)
    assert not Task.objects.filter(func="policies.access.tasks.send_restore_link").exists()
