"""factory-boy factories for mirror objects."""

import factory
from django.utils import timezone

from accounts.models import Account, AccountStatus, Group, Membership, Organization, Product, ProductAccess


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("org_id",)

    org_id = "test-org"
    name = "Test org"
    api_base = "http://127.0.0.1:9"


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    organization = factory.SubFactory(OrganizationFactory)
    account_id = factory.Sequence(lambda n: f"acc-{n:06d}")
    name = factory.Faker("name")
    email = factory.LazyAttribute(lambda a: f"{a.account_id}@example.com")
    status = AccountStatus.ACTIVE
    managed = True
    status_changed_at = factory.LazyFunction(timezone.now)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("organization", "resource_id")

    organization = factory.SubFactory(OrganizationFactory)
    key = "jira-software"
    resource_id = factory.LazyAttribute(lambda p: f"ari:cloud:{p.key}::site/test")
    name = "Jira Software"


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group

    organization = factory.SubFactory(OrganizationFactory)
    group_id = factory.Sequence(lambda n: f"ari:cloud:identity::group/g{n}")
    name = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    account = factory.SubFactory(AccountFactory)
    group = factory.SubFactory(GroupFactory)


class ProductAccessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductAccess

    account = factory.SubFactory(AccountFactory)
    product = factory.SubFactory(ProductFactory)


def jira_suspend_policy(organization: Organization, *, products=("jira-software",), **fields):
    """An enforcing policy that suspends Jira users inactive for 90 days, at once (no warning),
    with no cap in the way; ``fields`` override any of that."""
    from policies.models import InactivityPolicy, PolicyMode

    values = dict(
        organization=organization,
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
    policy.products.set(Product.objects.filter(organization=organization, key__in=products))
    return policy
