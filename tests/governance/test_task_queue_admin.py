"""No portal role can schedule code (DESIGN.md 5.13): the roles' permissions, the read-only task-queue
pages that replace django-q2's, and the superuser's schedule form that only takes portal functions."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Failure, OrmQ, Schedule, Success, Task
from django_q.tasks import async_task

from governance import roles
from governance.audit.models import AuditAction, AuditEvent
from governance.roles import AUDITORS, HELP_DESK, PORTAL_ADMINS, role_permissions
from governance.schedules import apply_schedules

pytestmark = pytest.mark.django_db

ROLES = (PORTAL_ADMINS, HELP_DESK, AUDITORS)
WRITES = ("add_", "change_", "delete_")


def _permission_rows():
    return Permission.objects.values_list("id", "content_type__app_label", "codename")


def _granted_writes(perm_ids) -> list[str]:
    perms = Permission.objects.filter(pk__in=perm_ids, content_type__app_label="django_q")
    return sorted(p.codename for p in perms if p.codename.startswith(WRITES))


def _task(*, success: bool, func: str, result, name: str) -> Task:
    now = timezone.now()
    model = Success if success else Failure
    return model.objects.create(
        id=name.replace("-", "")[:32].ljust(32, "0"),
        name=name,
        func=func,
        args=("arg",),
        kwargs={},
        result=result,
        started=now - timedelta(seconds=1),
        stopped=now,
        success=success,
    )


@pytest.fixture
def portal_schedule():
    apply_schedules()
    return Schedule.objects.get(name="portal:sync-atlassian")


class TestRolePermissions:
    def test_no_role_holds_any_add_change_or_delete_permission_of_the_task_queue(self):
        mapping = role_permissions(_permission_rows())
        django_q_models = {"schedule", "ormq", "task", "success", "failure"}
        codenames = set(
            Permission.objects.filter(content_type__app_label="django_q").values_list("codename", flat=True)
        )
        assert {f"{verb}{model}" for verb in WRITES for model in django_q_models} <= codenames  # the walk sees them
        for role in ROLES:
            assert _granted_writes(mapping[role]) == [], role

    def test_the_role_groups_in_the_database_hold_none_either(self):
        for role in ROLES:
            group = Group.objects.get(name=role)
            assert _granted_writes(group.permissions.values_list("pk", flat=True)) == [], role

    def test_admins_and_auditors_keep_reading_the_task_queue_and_the_help_desk_does_not(self):
        views = {
            role: set(
                Group.objects.get(name=role)
                .permissions.filter(content_type__app_label="django_q")
                .values_list("codename", flat=True)
            )
            for role in ROLES
        }
        assert {"view_schedule", "view_success", "view_failure"} <= views[PORTAL_ADMINS]
        assert views[AUDITORS] == views[PORTAL_ADMINS]
        assert views[HELP_DESK] == set()

    def test_a_task_queue_write_listed_as_a_role_extra_is_still_never_granted(self, monkeypatch):
        monkeypatch.setattr(roles, "_ADMIN_EXTRA", {"django_q": ["add_schedule", "change_schedule"]})
        assert _granted_writes(role_permissions(_permission_rows())[PORTAL_ADMINS]) == []


class TestPortalAdminsCannotScheduleCode:
    def test_alice_gets_403_on_adding_a_schedule(self, client_for, alice):
        client = client_for(alice)
        url = reverse("admin:django_q_schedule_add")
        assert client.get(url).status_code == 403
        response = client.post(url, {"func": "subprocess.getoutput", "args": "'id'", "schedule_type": "I"})
        assert response.status_code == 403
        assert not Schedule.objects.exists()

    def test_alice_gets_403_on_changing_or_deleting_a_schedule(self, client_for, alice, portal_schedule):
        client = client_for(alice)
        change = reverse("admin:django_q_schedule_change", args=[portal_schedule.pk])
        assert client.post(change, {"func": "os.getenv", "args": "'AUDIT_HMAC_KEY'"}).status_code == 403
        delete = reverse("admin:django_q_schedule_delete", args=[portal_schedule.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
        assert Schedule.objects.get(pk=portal_schedule.pk).func == "accounts.tasks.sync_all_organizations"

    @pytest.mark.parametrize("model", [Success, Failure])
    def test_alice_gets_403_on_adding_changing_or_deleting_task_results(self, client_for, alice, model):
        row = _task(success=model is Success, func="governance.tasks.verify_audit_log", result=True, name="a-run")
        client = client_for(alice)
        label = f"admin:django_q_{model._meta.model_name}"
        assert client.get(reverse(f"{label}_add")).status_code == 403
        assert client.post(reverse(f"{label}_change", args=[row.pk]), {"func": "os.getenv"}).status_code == 403
        assert client.post(reverse(f"{label}_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
        assert Task.objects.filter(pk=row.pk, func="governance.tasks.verify_audit_log").exists()

    @pytest.mark.skipif(not Conf.ORM, reason="the queue page exists for the ORM broker only")
    def test_alice_gets_403_on_adding_changing_or_deleting_queued_tasks(self, client_for, alice):
        async_task("governance.tasks.verify_audit_log")
        queued = OrmQ.objects.get()
        client = client_for(alice)
        assert client.get(reverse("admin:django_q_ormq_changelist")).status_code == 200
        assert client.get(reverse("admin:django_q_ormq_add")).status_code == 403
        assert client.post(reverse("admin:django_q_ormq_change", args=[queued.pk]), {"lock": ""}).status_code == 403
        assert client.post(reverse("admin:django_q_ormq_delete", args=[queued.pk]), {"post": "yes"}).status_code == 403
        assert OrmQ.objects.filter(pk=queued.pk).exists()

    def test_no_resubmit_or_other_bulk_action_is_offered(self, client_for, alice):
        _task(success=False, func="governance.tasks.verify_audit_log", result="boom", name="a-run")
        client = client_for(alice)
        for name in ("schedule", "success", "failure"):
            page = client.get(reverse(f"admin:django_q_{name}_changelist")).content.decode()
            assert 'name="action"' not in page, name

    def test_group_permissions_granted_by_hand_do_not_open_the_forms(self, client_for, alice):
        codenames = ["add_schedule", "change_schedule", "delete_schedule", "change_success", "delete_failure"]
        alice.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="django_q", codename__in=codenames)
        )
        client = client_for(alice)
        assert client.get(reverse("admin:django_q_schedule_add")).status_code == 403


class TestTheReadOnlyPages:
    def test_alice_and_audrey_see_the_portals_jobs_with_where_cadence_is_changed(
        self, request, client_for, portal_schedule
    ):
        for persona in ("alice", "audrey"):
            page = client_for(request.getfixturevalue(persona)).get(reverse("admin:django_q_schedule_changelist"))
            assert page.status_code == 200
            text = page.content.decode()
            assert "portal:sync-atlassian" in text
            assert portal_schedule.cron in text
            assert "SYNC_SCHEDULE_CRON" in text
            assert reverse("admin:django_q_schedule_add") not in text

    def test_a_schedule_page_is_read_only_for_alice(self, client_for, alice, portal_schedule):
        page = client_for(alice).get(reverse("admin:django_q_schedule_change", args=[portal_schedule.pk]))
        assert page.status_code == 200
        assert 'type="submit"' not in page.content.decode().split('id="schedule_form"')[-1].split("</form>")[0]

    def test_the_help_desk_does_not_see_the_task_queue(self, client_for, hank):
        assert client_for(hank).get(reverse("admin:django_q_schedule_changelist")).status_code == 403

    def test_a_foreign_functions_stored_result_and_arguments_are_never_shown(self, client_for, alice):
        row = _task(success=True, func="os.getenv", result="s3cret-from-an-old-row", name="old-row")
        client = client_for(alice)
        listing = client.get(reverse("admin:django_q_success_changelist")).content.decode()
        detail = client.get(reverse("admin:django_q_success_change", args=[row.pk])).content.decode()
        for page in (listing, detail):
            assert "s3cret-from-an-old-row" not in page
            assert "Hidden: not a portal task function." in page
        assert "&#x27;arg&#x27;" not in detail

    def test_a_portal_functions_result_shows_as_its_summary(self, client_for, alice):
        row = _task(success=True, func="accounts.tasks.sync_all_organizations", result={"demo-org": "ok"}, name="r")
        detail = client_for(alice).get(reverse("admin:django_q_success_change", args=[row.pk])).content.decode()
        assert "demo-org: ok" in detail
        assert "&#x27;arg&#x27;" in detail

    def test_a_portal_functions_failure_shows_the_error_without_the_traceback(self, client_for, alice):
        result = 'Sync failed: HTTP 500 : Traceback (most recent call last):\n  File "x.py", line 1'
        _task(success=False, func="accounts.tasks.sync_all_organizations", result=result, name="f")
        listing = client_for(alice).get(reverse("admin:django_q_failure_changelist")).content.decode()
        assert "Sync failed: HTTP 500" in listing
        assert "Traceback" not in listing


class TestSuperusersScheduleOnlyPortalFunctions:
    def _form(self, **overrides) -> dict:
        data = {
            "name": "by-hand",
            "func": "governance.tasks.verify_audit_log",
            "hook": "",
            "args": "",
            "kwargs": "",
            "schedule_type": "C",
            "minutes": "",
            "cron": "5 4 * * *",
            "repeats": "-1",
            "next_run_0": "2030-01-01",
            "next_run_1": "04:05:00",
            "cluster": "",
            "intended_date_kwarg": "",
        }
        return {**data, **overrides}

    def test_root_can_add_a_schedule_naming_a_portal_function_and_it_is_audited(self, client_for, root):
        response = client_for(root).post(reverse("admin:django_q_schedule_add"), self._form())
        assert response.status_code == 302
        schedule = Schedule.objects.get(name="by-hand")
        assert schedule.func == "governance.tasks.verify_audit_log"
        [event] = AuditEvent.objects.filter(action=AuditAction.SCHEDULES_APPLIED, target_id=str(schedule.pk))
        assert (event.actor_user_id, event.before, event.after["func"]) == (root.pk, None, schedule.func)

    def test_roots_change_is_audited_with_what_it_was_before(self, client_for, root, portal_schedule):
        url = reverse("admin:django_q_schedule_change", args=[portal_schedule.pk])
        form = self._form(name=portal_schedule.name, func=portal_schedule.func, cron="0 5 * * *")
        assert client_for(root).post(url, form).status_code == 302
        event = AuditEvent.objects.filter(target_id=str(portal_schedule.pk)).latest("seq")
        assert (event.before["cron"], event.after["cron"]) == (portal_schedule.cron, "0 5 * * *")

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("func", "os.getenv"),
            ("func", "subprocess.getoutput"),
            ("hook", "tests.governance.task_fakes.note_hook"),
            ("kwargs", "q_options={'hook': 'os.system'}"),
            ("args", "__import__('os')"),
        ],
    )
    def test_root_cannot_add_a_schedule_that_would_run_foreign_code(self, client_for, root, field, value):
        response = client_for(root).post(reverse("admin:django_q_schedule_add"), self._form(**{field: value}))
        assert response.status_code == 200
        assert response.context["adminform"].form.errors[field]
        assert not Schedule.objects.exists()

    def test_root_cannot_change_a_schedules_function_to_a_foreign_one(self, client_for, root, portal_schedule):
        url = reverse("admin:django_q_schedule_change", args=[portal_schedule.pk])
        response = client_for(root).post(url, self._form(name=portal_schedule.name, func="os.getenv"))
        assert response.status_code == 200
        assert Schedule.objects.get(pk=portal_schedule.pk).func == "accounts.tasks.sync_all_organizations"

    def test_root_can_delete_a_schedule_and_it_is_audited(self, client_for, root, portal_schedule):
        url = reverse("admin:django_q_schedule_delete", args=[portal_schedule.pk])
        assert client_for(root).post(url, {"post": "yes"}).status_code == 302
        assert not Schedule.objects.filter(pk=portal_schedule.pk).exists()
        event = AuditEvent.objects.filter(target_id=str(portal_schedule.pk)).latest("seq")
        assert (event.before["func"], event.after) == ("accounts.tasks.sync_all_organizations", None)

    @pytest.mark.parametrize("model", [Success, Failure])
    def test_results_are_read_only_even_for_root(self, client_for, root, model):
        row = _task(success=model is Success, func="governance.tasks.verify_audit_log", result=True, name="a-run")
        label = f"admin:django_q_{model._meta.model_name}"
        client = client_for(root)
        assert client.get(reverse(f"{label}_change", args=[row.pk])).status_code == 200
        assert client.post(reverse(f"{label}_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
        assert Task.objects.filter(pk=row.pk).exists()


def test_django_q2s_own_pages_are_replaced():
    from governance.taskqueue import admin as taskqueue_admin

    assert isinstance(admin.site._registry[Schedule], taskqueue_admin.PortalScheduleAdmin)
    assert isinstance(admin.site._registry[Success], taskqueue_admin.PortalSuccessAdmin)
    assert isinstance(admin.site._registry[Failure], taskqueue_admin.PortalFailureAdmin)
    if Conf.ORM:
        assert isinstance(admin.site._registry[OrmQ], taskqueue_admin.PortalQueueAdmin)
