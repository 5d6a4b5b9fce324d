from datetime import timedelta

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import User

from accounts.sync.runner import organization_sync
from governance.roles import PORTAL_ADMINS
from policies.models import InactivityPolicy
from tests.accounts.conftest import SIM_NOW, atlassian, organization, simulator  # noqa: F401  (fixtures)
from tests.factories import jira_suspend_policy

RUN_AT = SIM_NOW + timedelta(hours=1)


@pytest.fixture
def mirrored(organization, atlassian):  # noqa: F811
    assert organization_sync(organization=organization, client=atlassian).ok
    organization.refresh_from_db()
    return organization


@pytest.fixture
def admin_inbox(db):
    user = User.objects.create_user("pat", email="pat@portal.test", password="x" * 16, is_staff=True)
    user.groups.add(AuthGroup.objects.get(name=PORTAL_ADMINS))
    return user.email


@pytest.fixture
def make_policy(mirrored):
    def make(**fields) -> InactivityPolicy:
        return jira_suspend_policy(mirrored, **fields)

    return make
