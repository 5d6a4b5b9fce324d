"""The product-removal plan as a pure function: which groups go, which roles are revoked, and when
a person must decide instead (DESIGN.md 5.9). No database, no HTTP."""

from accounts.plans import (
    DEFAULT_DIRECT_ROLE,
    DirectRoles,
    Grant,
    GroupGrants,
    ProductRef,
    plan_product_removal,
)

JSW = ProductRef("ari:cloud:jira-software::site/c1", "jira-software", "Jira Software")
JSM = ProductRef("ari:cloud:jira-servicedesk::site/c1", "jira-servicedesk", "Jira Service Management")
CONF = ProductRef("ari:cloud:confluence::site/c1", "confluence", "Confluence")
USER, ADMIN = "atlassian/user", "atlassian/admin"

JIRA_USERS = GroupGrants("g-jira", "jira-software-users", (Grant(JSW, (USER,)),))
CONF_USERS = GroupGrants("g-conf", "confluence-users", (Grant(CONF, (USER,)),))
TEAM = GroupGrants("g-team", "eng-platform")  # grants nothing
SITE_ADMINS = GroupGrants(
    "g-site",
    "site-admins",
    (Grant(JSW, (ADMIN,)), Grant(CONF, (ADMIN,)), Grant(JSM, (ADMIN,))),
    site_admin=True,
)


def test_a_group_granting_only_the_product_is_removed_and_nothing_else():
    plan = plan_product_removal([JSW], [JIRA_USERS, CONF_USERS, TEAM])
    assert plan.groups == ("g-jira",)
    assert plan.roles == ()
    assert plan.attention == ""
    assert plan.frees_seats
    assert plan.as_dict() == {
        "products": ["jira-software"],
        "resources": [JSW.resource_id],
        "groups": ["g-jira"],
        "roles": [],
    }


def test_a_group_that_also_grants_other_products_and_site_admin_removes_nothing_and_says_why():
    plan = plan_product_removal([JSW], [SITE_ADMINS, CONF_USERS])
    assert (plan.groups, plan.roles) == ((), ())
    assert not plan.frees_seats
    assert plan.attention == (
        "Jira Software comes through site-admins, which also grants Confluence, Jira Service Management, "
        "admin roles and the site-admin role"
    )
    assert plan.as_dict() == {
        "products": ["jira-software"],
        "resources": [JSW.resource_id],
        "groups": [],
        "roles": [],
        "attention": plan.attention,
    }


def test_a_jira_only_group_stays_too_when_a_shared_group_also_grants_jira():
    # Leaving jira-software-users alone would not free the seat: site-admins still grants Jira.
    plan = plan_product_removal([JSW], [JIRA_USERS, SITE_ADMINS], [DirectRoles(JSW.resource_id, (USER,))])
    assert (plan.groups, plan.roles) == ((), ())
    assert "site-admins" in plan.attention


def test_a_person_may_remove_the_shared_groups_anyway_and_the_plan_records_it():
    plan = plan_product_removal([JSW], [JIRA_USERS, SITE_ADMINS], remove_shared=True)
    assert plan.groups == ("g-jira", "g-site")
    assert plan.attention == ""
    assert plan.frees_seats
    assert plan.as_dict()["shared_groups"] == ["site-admins"]


def test_an_admin_role_on_the_product_itself_is_a_reason_to_ask():
    jira_admins = GroupGrants("g-ja", "jira-admins", (Grant(JSW, (USER, ADMIN)),))
    plan = plan_product_removal([JSW], [jira_admins])
    assert plan.groups == ()
    assert plan.attention == "Jira Software comes through jira-admins, which also grants an admin role"


def test_a_site_admin_role_in_the_grants_counts_as_the_site_admin_role():
    group = GroupGrants("g-x", "helpers", (Grant(JSW, (USER,)), Grant(CONF, ("atlassian/site-admin",))))
    assert plan_product_removal([JSW], [group]).attention == (
        "Jira Software comes through helpers, which also grants Confluence and the site-admin role"
    )


def test_a_group_granting_only_products_in_scope_is_removed_when_all_of_them_go():
    both = GroupGrants("g-both", "jira-and-wiki", (Grant(JSW, (USER,)), Grant(CONF, (USER,))))
    assert plan_product_removal([JSW], [both]).attention
    plan = plan_product_removal([JSW, CONF], [both])
    assert plan.groups == ("g-both",)
    assert plan.products == ("confluence", "jira-software")


def test_a_direct_role_is_revoked_by_its_exact_name_when_the_mirror_knows_it():
    plan = plan_product_removal([JSW], [], [DirectRoles(JSW.resource_id, (ADMIN,)), DirectRoles(CONF.resource_id)])
    assert plan.roles == ((ADMIN, JSW.resource_id),)
    assert plan.as_dict()["roles"] == [{"role": ADMIN, "resource": JSW.resource_id}]


def test_a_direct_role_of_unknown_name_falls_back_to_the_product_role():
    plan = plan_product_removal([JSW], [], [DirectRoles(JSW.resource_id)])
    assert plan.roles == ((DEFAULT_DIRECT_ROLE, JSW.resource_id),)
    assert plan.frees_seats


def test_an_identity_provider_group_blocks_the_removal_with_its_own_reason():
    synced = GroupGrants("g-sso", "sso-jira", (Grant(JSW, (USER,)),), external_synced=True)
    plan = plan_product_removal([JSW], [synced, JIRA_USERS])
    assert [g.name for g in plan.synced] == ["sso-jira"]
    assert plan.attention == ""
    assert "synced from an identity provider" in plan.blocked
    assert not plan.frees_seats


def test_nothing_to_remove_frees_nothing():
    plan = plan_product_removal([JSW], [CONF_USERS, TEAM])
    assert (plan.groups, plan.roles, plan.attention, plan.frees_seats) == ((), (), "", False)


SANDBOX = ProductRef("ari:cloud:jira-software::site/sandbox", "jira-software", "Jira Software")
SANDBOX_USERS = GroupGrants("g-sandbox", "jira-software-users-sandbox", (Grant(SANDBOX, (USER,)),))


def test_a_sandbox_site_of_the_same_product_is_another_product():
    # Same key, another instance: taking production's Jira leaves the sandbox's group and seat.
    plan = plan_product_removal([JSW], [JIRA_USERS, SANDBOX_USERS])
    assert plan.groups == ("g-jira",)
    assert plan.as_dict()["resources"] == [JSW.resource_id]
    both = GroupGrants("g-both", "jira-everywhere", (Grant(JSW, (USER,)), Grant(SANDBOX, (USER,))))
    shared = plan_product_removal([JSW], [both])
    assert shared.groups == ()
    assert "jira-everywhere" in shared.attention  # it also grants the sandbox: a person decides
