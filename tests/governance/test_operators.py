"""Operators on the admin's Users page: Portal admins add, change and deactivate them within the
portal's roles, never making a superuser or giving more than they hold; each change is audited."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from governance.operators.services import OperatorRefused, operator_create, operator_update
from governance.roles import AUDITORS, HELP_DESK, PORTAL_ADMINS, REVIEWERS

ADD = reverse("admin:auth_user_add")
PASSWORD = "Correct-Horse-Battery-9"


def change_url(user):
    return reverse("admin:auth_user_change", args=[user.pk])


def role(name):
    return Group.objects.get(name=name)


def add_form(username="olga", roles=(HELP_DESK,), **extra):
    return {
        "username": username,
        "usable_password": "true",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "first_name": "Olga",
        "last_name": "Ops",
        "email": f"{username}@portal.test",
        "roles": [role(name).pk for name in roles],
        **extra,
    }


def change_form(user, *, roles, is_active=True, **extra):
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "roles": [role(name).pk for name in roles],
        **extra,
    }
    if is_active:
        data["is_active"] = "on"
    return data


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def help_desk_with_user_rights():
    """A Help desk member a superuser also let add and change users: the rules still bound them."""
    harry = User.objects.create_user("harry", password=PASSWORD, is_staff=True)
    harry.groups.add(role(HELP_DESK))
    harry.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="auth", codename__in=["add_user", "change_user"])
    )
    return User.objects.get(pk=harry.pk)


@pytest.mark.django_db
class TestPortalAdminsAddOperators:
    def test_a_portal_admin_adds_a_help_desk_operator_who_can_sign_in(self, client, client_for, alice):
        response = client_for(alice).post(ADD, add_form())
        assert response.status_code == 302, response.context["adminform"].form.errors
        olga = User.objects.get(username="olga")
        assert (olga.is_active, olga.is_staff, olga.is_superuser) == (True, True, False)
        assert list(olga.groups.values_list("name", flat=True)) == [HELP_DESK]
        assert olga.check_password(PASSWORD)
        client.logout()
        client.force_login(olga)
        assert client.get(reverse("admin:index")).status_code == 200

    def test_the_creation_is_one_audit_event_naming_who_and_the_roles(self, client_for, alice):
        client_for(alice).post(ADD, add_form(roles=(AUDITORS,)))
        [event] = events(AuditAction.OPERATOR_CREATED)
        assert (event.actor_name, event.target_repr) == ("alice", "olga")
        assert event.after["roles"] == [AUDITORS]
        assert event.after["is_superuser"] is False
        assert "password" not in str(event.after)

    def test_the_add_page_offers_the_four_roles_and_no_superuser_or_permission_field(self, client_for, alice):
        page = client_for(alice).get(ADD)
        assert page.status_code == 200
        form = page.context["adminform"].form
        assert {group.name for group in form.fields["roles"].queryset} == {
            PORTAL_ADMINS,
            HELP_DESK,
            AUDITORS,
            REVIEWERS,
        }
        assert not {"is_superuser", "user_permissions", "groups", "is_staff"} & set(form.fields)

    def test_a_posted_superuser_flag_or_permission_is_ignored(self, client_for, alice):
        perm = Permission.objects.get(codename="delete_user")
        client_for(alice).post(ADD, add_form(is_superuser="on", user_permissions=[perm.pk]))
        olga = User.objects.get(username="olga")
        assert not olga.is_superuser
        assert not olga.user_permissions.exists()

    @pytest.mark.parametrize("persona", ["hank", "audrey", "nobody"])
    def test_other_roles_cannot_add_operators(self, request, client_for, persona):
        client = client_for(request.getfixturevalue(persona))
        assert client.post(ADD, add_form()).status_code == 403
        assert not User.objects.filter(username="olga").exists()

    def test_a_help_desk_level_user_cannot_make_someone_a_portal_admin(self, client_for):
        harry = help_desk_with_user_rights()
        response = client_for(harry).post(ADD, add_form(roles=(PORTAL_ADMINS,)))
        assert response.status_code == 200
        assert "roles" in response.context["adminform"].form.errors
        assert not User.objects.filter(username="olga").exists()
        offered = {group.name for group in response.context["adminform"].form.fields["roles"].queryset}
        assert offered == {HELP_DESK}

    def test_the_service_refuses_a_role_the_maker_does_not_hold(self):
        harry = help_desk_with_user_rights()
        with pytest.raises(OperatorRefused, match="Portal admins"):
            operator_create(
                user=User(username="olga"), roles=[role(PORTAL_ADMINS)], by=harry, actor=Actor.for_user(harry)
            )
        assert not User.objects.filter(username="olga").exists()
        assert not events(AuditAction.OPERATOR_CREATED)

    def test_the_service_refuses_a_superuser_and_user_level_permissions_from_a_portal_admin(self, alice):
        actor = Actor.for_user(alice)
        with pytest.raises(OperatorRefused, match="superuser"):
            operator_create(user=User(username="su", is_superuser=True), roles=[], by=alice, actor=actor)
        perm = Permission.objects.get(codename="view_user")
        with pytest.raises(OperatorRefused, match="user by user"):
            operator_create(user=User(username="up"), roles=[], by=alice, actor=actor, user_permissions=[perm])
        assert not User.objects.filter(username__in=["su", "up"]).exists()


@pytest.mark.django_db
class TestPortalAdminsChangeAndDeactivateOperators:
    def test_a_portal_admin_moves_an_auditor_to_the_help_desk(self, client_for, alice, audrey):
        response = client_for(alice).post(change_url(audrey), change_form(audrey, roles=(HELP_DESK,)))
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert list(audrey.groups.values_list("name", flat=True)) == [HELP_DESK]
        [event] = events(AuditAction.OPERATOR_UPDATED)
        assert (event.before, event.after) == ({"roles": [AUDITORS]}, {"roles": [HELP_DESK]})

    def test_deactivating_keeps_the_operator_stops_sign_in_and_is_audited(self, client_for, alice, hank):
        response = client_for(alice).post(change_url(hank), change_form(hank, roles=(HELP_DESK,), is_active=False))
        assert response.status_code == 302
        hank.refresh_from_db()
        assert not hank.is_active
        [event] = events(AuditAction.OPERATOR_DEACTIVATED)
        assert (event.actor_name, event.before, event.after) == ("alice", {"is_active": True}, {"is_active": False})
        assert not ModelBackend().user_can_authenticate(hank)

    def test_reactivating_is_its_own_event(self, alice, hank):
        actor = Actor.for_user(alice)
        fields = {"email": hank.email, "first_name": "", "last_name": "", "roles": [role(HELP_DESK)]}
        operator_update(user=hank, by=alice, actor=actor, is_active=False, **fields)
        operator_update(user=hank, by=alice, actor=actor, is_active=True, **fields)
        assert len(events(AuditAction.OPERATOR_REACTIVATED)) == 1

    def test_a_save_that_changes_nothing_records_nothing(self, client_for, alice, hank):
        assert client_for(alice).post(change_url(hank), change_form(hank, roles=(HELP_DESK,))).status_code == 302
        assert not AuditEvent.objects.filter(action__startswith="operator.").exists()

    def test_nobody_deactivates_themselves(self, client_for, alice):
        response = client_for(alice).post(
            change_url(alice), change_form(alice, roles=(PORTAL_ADMINS,), is_active=False)
        )
        assert response.status_code == 200
        assert "deactivate yourself" in str(response.context["adminform"].form.non_field_errors())
        alice.refresh_from_db()
        assert alice.is_active

    def test_a_portal_admin_sees_a_superuser_read_only_and_cannot_change_them(self, client_for, alice, root):
        client = client_for(alice)
        page = client.get(change_url(root))
        assert page.status_code == 200
        assert 'name="_save"' not in page.content.decode()
        assert client.post(change_url(root), change_form(root, roles=(), is_active=False)).status_code == 403
        root.refresh_from_db()
        assert root.is_active
        password_url = reverse("admin:auth_user_password_change", args=[root.pk])
        assert client.post(password_url, {"password1": PASSWORD, "password2": PASSWORD}).status_code == 403

    def test_a_help_desk_level_user_cannot_change_a_portal_admin(self, client_for, alice):
        harry = help_desk_with_user_rights()
        response = client_for(harry).post(change_url(alice), change_form(alice, roles=(), is_active=False))
        assert response.status_code == 403
        alice.refresh_from_db()
        assert alice.is_active

    def test_a_superuser_may_make_a_superuser_and_it_is_audited(self, client_for, root, hank):
        data = change_form(hank, roles=(HELP_DESK,), is_staff="on", is_superuser="on")
        assert client_for(root).post(change_url(hank), data).status_code == 302
        hank.refresh_from_db()
        assert hank.is_superuser
        [event] = events(AuditAction.OPERATOR_UPDATED)
        assert event.after == {"is_superuser": True}

    def test_nobody_deletes_an_operator_they_are_deactivated(self, client_for, alice, root, hank):
        for actor in (alice, root):
            delete = reverse("admin:auth_user_delete", args=[hank.pk])
            assert client_for(actor).post(delete, {"post": "yes"}).status_code == 403
        assert User.objects.filter(pk=hank.pk).exists()

    def test_a_password_set_by_a_portal_admin_is_audited_without_the_password(self, client_for, alice, hank):
        url = reverse("admin:auth_user_password_change", args=[hank.pk])
        data = {"password1": PASSWORD, "password2": PASSWORD, "usable_password": "true"}
        assert client_for(alice).post(url, data).status_code == 302
        [event] = events(AuditAction.OPERATOR_PASSWORD_CHANGED)
        assert (event.actor_name, event.target_repr, event.after) == ("alice", "hank", {"password": "set"})
        hank.refresh_from_db()
        assert hank.check_password(PASSWORD)


@pytest.mark.django_db
class TestOperatorRoles:
    def test_portal_admins_may_add_and_change_users_but_not_delete_them(self, alice, hank, audrey):
        assert alice.has_perms(["auth.add_user", "auth.change_user"])
        assert not alice.has_perm("auth.delete_user")
        for other in (hank, audrey):
            assert not other.has_perm("auth.add_user")
            assert not other.has_perm("auth.change_user")

    def test_the_users_list_shows_each_operators_roles(self, client_for, alice, hank, root):
        page = client_for(alice).get(reverse("admin:auth_user_changelist")).content.decode()
        assert HELP_DESK in page
        assert "Superuser" in page
