"""Policy changes keep the django-q2 schedule in step, and deleting goes through one service."""

from datetime import timedelta

import pytest
from django_q.models import Schedule

from accounts.models import Account
from accounts.services.errors import ServiceRefused
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor
from policies.models import Enforcement, EnforcementStatus, Exemption, InactivityPolicy, PolicyMode
from policies.schedules import schedule_name
from policies.services.policies import policy_delete, policy_save
from tests.policies.conftest import RUN_AT

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("tests")


def _schedule(policy_pk):
    return Schedule.objects.filter(name=schedule_name(policy_pk)).first()


def _new_policy(mirrored, **fields) -> InactivityPolicy:
    values = dict(organization=mirrored, name="Confluence 60 days", trigger="inactive", trigger_days=60)
    values.update(fields)
    return InactivityPolicy(**values)


class TestScheduleFollowsThePolicy:
    def test_a_new_enabled_policy_gets_its_schedule_once_the_save_commits(
        self, mirrored, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            policy = policy_save(policy=_new_policy(mirrored, schedule_cron="15 5 * * *"), actor=ACTOR)
        schedule = _schedule(policy.pk)
        assert schedule.cron == "15 5 * * *"
        assert schedule.func == "policies.tasks.run_policy"
        assert schedule.args == repr((policy.pk,))

    def test_a_changed_cron_is_applied(self, mirrored, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            policy = policy_save(policy=_new_policy(mirrored), actor=ACTOR)
        policy.schedule_cron = "0 22 * * 1-5"
        with django_capture_on_commit_callbacks(execute=True):
            policy_save(policy=policy, actor=ACTOR, reason="evenings")
        assert _schedule(policy.pk).cron == "0 22 * * 1-5"

    def test_disabling_removes_the_schedule_and_leaves_the_others(
        self, mirrored, make_policy, django_capture_on_commit_callbacks
    ):
        other = make_policy()
        Schedule.objects.create(name=schedule_name(other.pk), func="policies.tasks.run_policy", cron="0 1 * * *")
        with django_capture_on_commit_callbacks(execute=True):
            policy = policy_save(policy=_new_policy(mirrored), actor=ACTOR)
        policy.enabled = False
        with django_capture_on_commit_callbacks(execute=True):
            policy_save(policy=policy, actor=ACTOR)
        assert _schedule(policy.pk) is None
        assert _schedule(other.pk) is not None

    def test_an_edit_that_does_not_touch_the_timing_leaves_the_schedule_alone(
        self, mirrored, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            policy = policy_save(policy=_new_policy(mirrored), actor=ACTOR)
        policy.trigger_days = 75
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            policy_save(policy=policy, actor=ACTOR)
        assert callbacks == []

    def test_a_failed_save_schedules_nothing(self, mirrored, django_capture_on_commit_callbacks):
        from django.core.exceptions import ValidationError

        with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
            policy_save(policy=_new_policy(mirrored, warning_body="Hello {nickname}"), actor=ACTOR)
        assert not Schedule.objects.filter(name__startswith="portal:policy-").exists()


class TestPolicyDelete:
    def test_deleting_removes_the_policy_its_schedule_and_is_audited(
        self, mirrored, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            policy = policy_save(policy=_new_policy(mirrored), actor=ACTOR)
        pk = policy.pk
        with django_capture_on_commit_callbacks(execute=True):
            policy_delete(policy=policy, actor=ACTOR, reason="replaced")
        assert not InactivityPolicy.objects.filter(pk=pk).exists()
        assert _schedule(pk) is None
        event = AuditEvent.objects.get(action=AuditAction.POLICY_DELETED)
        assert (event.before["name"], event.reason) == ("Confluence 60 days", "replaced")

    def test_a_policy_that_decided_something_is_refused(self, make_policy):
        policy = make_policy(mode=PolicyMode.PREVIEW)
        Enforcement.objects.create(
            policy=policy,
            account=Account.objects.first(),
            status=EnforcementStatus.CANCELLED,
            action="suspend",
            reason="r",
            due_at=RUN_AT,
        )
        with pytest.raises(ServiceRefused, match="disable it instead"):
            policy_delete(policy=policy, actor=ACTOR)
        assert InactivityPolicy.objects.filter(pk=policy.pk).exists()
        assert not AuditEvent.objects.filter(action=AuditAction.POLICY_DELETED).exists()


class TestExemptionRules:
    """The rules live on the model, so the service refuses what the admin form and the API refuse."""

    def test_a_past_expiry_is_refused_for_a_new_exemption(self, mirrored):
        from django.core.exceptions import ValidationError
        from django.utils import timezone

        from policies.services.policies import exemption_create

        exemption = Exemption(
            organization=mirrored, email_pattern="*@x.test", reason="r", expires_at=timezone.now() - timedelta(days=1)
        )
        with pytest.raises(ValidationError) as refused:
            exemption_create(exemption=exemption, actor=ACTOR)
        assert "expires_at" in refused.value.message_dict
        assert not Exemption.objects.exists()

    def test_an_account_of_another_organization_is_refused(self, mirrored):
        from django.core.exceptions import ValidationError

        from accounts.models import Organization
        from policies.services.policies import exemption_create

        other = Organization.objects.create(org_id="other-org", name="Other")
        exemption = Exemption(organization=other, account=Account.objects.first(), reason="r")
        with pytest.raises(ValidationError) as refused:
            exemption_create(exemption=exemption, actor=ACTOR)
        assert refused.value.message_dict["account"] == ["Not in organization Other."]

    def test_ending_an_exemption_early_still_validates_afterwards(self, mirrored):
        from policies.services.policies import exemption_create, exemption_expire

        exemption = exemption_create(
            exemption=Exemption(organization=mirrored, email_pattern="*@x.test", reason="r"), actor=ACTOR
        )
        exemption_expire(exemption=exemption, actor=ACTOR, reason="left")
        exemption.full_clean()  # a saved exemption whose expiry has passed is still valid
