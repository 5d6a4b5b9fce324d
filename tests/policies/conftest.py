from datetime import timedelta

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import User

from accounts.models import Product
from accounts.sync.runner import organization_sync
from governance.roles import PORTAL_ADMINS
from policies.models import InactivityPolicy, PolicyMode
from tests.accounts.conftest import SIM_NOW, atlassian, organization, simulator  # noqa: F401  (fixtures)

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
        products = fields.pop("products", ["jira-software"])
        values = dict(
            organization=mirrored,
            name="Jira 90 days",
            trigger="inactive",
            trigger_days=90,
            action="suspend",
            warning_days=[],
            mode=PolicyMode.ENFORCE,
            cap_absolute=1000,
            cap_percent=100.0,
        )
        values.update(fields)
        policy = InactivityPolicy.objects.create(**values)
        policy.products.set(Product.objects.filter(organization=mirrored, key__in=products))
        return policy

    return make
