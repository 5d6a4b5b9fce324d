"""Fixtures of the API tests: API clients per persona (session or token), a small mirror, and
throttles high enough that only the throttling tests meet them."""

import pytest
from rest_framework.test import APIClient

from accounts.models import AccountStatus
from governance.api.models import ApiToken
from governance.api.tokens import api_token_create
from governance.audit.record import Actor
from tests.accounts.conftest import atlassian, organization, simulator  # noqa: F401  (fixtures)
from tests.factories import (
    AccountFactory,
    GroupFactory,
    MembershipFactory,
    OrganizationFactory,
    ProductAccessFactory,
    ProductFactory,
)
from tests.policies.conftest import make_policy, mirrored  # noqa: F401  (fixtures)

HIGH_RATES = {"api": "100000/hour", "api_write": "100000/hour"}


@pytest.fixture(autouse=True)
def _generous_throttles(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": HIGH_RATES}


@pytest.fixture
def api():
    """An anonymous API client."""
    return APIClient()


@pytest.fixture
def api_as():
    """``api_as(user)``: a client logged in with a session, as a browser would be."""

    def login(user):
        client = APIClient()
        client.force_login(user)
        return client

    return login


def issue_token(user, *, name: str = "script", **fields) -> str:
    _token, secret = api_token_create(token=ApiToken(user=user, name=name, **fields), actor=Actor.for_user(user))
    return secret


@pytest.fixture
def token_client():
    """``token_client(user)``: a client sending ``Authorization: Token <secret>`` of a new token."""

    def make(user, *, keyword: str = "Token"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"{keyword} {issue_token(user)}")
        return client

    return make


@pytest.fixture
def mirror(db):
    """A small hand-made mirror: two products, three groups, a handful of accounts."""
    org = OrganizationFactory()
    jira = ProductFactory(organization=org, key="jira-software", name="Jira Software")
    confluence = ProductFactory(organization=org, key="confluence", name="Confluence")
    groups = [GroupFactory(organization=org) for _ in range(3)]
    accounts = [AccountFactory(organization=org) for _ in range(5)]
    accounts[4].status = AccountStatus.SUSPENDED
    accounts[4].save()
    for i, account in enumerate(accounts):
        ProductAccessFactory(account=account, product=jira if i % 2 else confluence)
        MembershipFactory(account=account, group=groups[i % 3])
    return {"org": org, "products": [jira, confluence], "groups": groups, "accounts": accounts}
