"""Email templates hold only the documented placeholders, plain; rendering never evaluates more."""

import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from governance.audit.record import Actor
from policies.email_templates import PLACEHOLDERS, TemplateProblem, check_template, fill
from policies.models import Enforcement, EnforcementStatus, InactivityPolicy
from policies.models.policies import (
    DEFAULT_ACTION_BODY,
    DEFAULT_ACTION_SUBJECT,
    DEFAULT_WARNING_BODY,
    DEFAULT_WARNING_SUBJECT,
)
from policies.services.notifications import render
from policies.services.policies import policy_save
from tests.factories import AccountFactory, OrganizationFactory, jira_suspend_policy

ALLOWED = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
HUGE = "{name:>999999999}"


class TestCheck:
    @pytest.mark.parametrize(
        "template", [DEFAULT_WARNING_SUBJECT, DEFAULT_WARNING_BODY, DEFAULT_ACTION_SUBJECT, DEFAULT_ACTION_BODY]
    )
    def test_the_default_templates_pass(self, template):
        check_template(template)

    def test_doubled_braces_are_literal_text_and_pass(self):
        check_template("Use {{name}} for {name}.")

    @pytest.mark.parametrize(
        ("template", "named"),
        [
            (f"Hi {HUGE}", HUGE),
            ("Hi {name:{product}}", "{name:{product}}"),
            ("Hi {name!r}", "{name!r}"),
            ("Hi {action_date!s:>10}", "{action_date!s:>10}"),
        ],
    )
    def test_a_format_spec_or_conversion_is_refused_naming_it_and_the_allowed_placeholders(self, template, named):
        with pytest.raises(TemplateProblem) as refused:
            check_template(template)
        message = str(refused.value)
        assert f"Placeholder(s) {named} with a format or conversion" in message
        assert message.endswith(f"Use only {ALLOWED}, exactly as written here.")

    @pytest.mark.parametrize(
        ("template", "named"),
        [
            ("{name.__class__}", "{name.__class__}"),
            ("{restore_link[0]}", "{restore_link[0]}"),
            ("{first_name}", "{first_name}"),
            ("{}", "{}"),
            ("{0}", "{0}"),
        ],
    )
    def test_attribute_index_positional_and_unknown_fields_are_refused(self, template, named):
        with pytest.raises(TemplateProblem) as refused:
            check_template(f"Hello {template}")
        assert str(refused.value).startswith(f"Unknown placeholder(s) {named}. Use only {ALLOWED}")

    def test_unbalanced_braces_are_refused(self):
        with pytest.raises(TemplateProblem, match="Unbalanced braces"):
            check_template("Hello {name")


class TestFill:
    def test_plain_placeholders_are_filled_and_doubled_braces_become_one(self):
        assert fill("{{x}} {name}, {days_inactive} days", {"name": "Ann", "days_inactive": 91}) == "{x} Ann, 91 days"

    def test_anything_but_a_plain_placeholder_is_copied_as_written_not_evaluated(self):
        started = time.perf_counter()
        text = fill(f"{HUGE} {{name!r}} {{name.__class__}} {{name[0]}} {{other}}", {"name": "Ann"})
        assert time.perf_counter() - started < 0.1
        assert text == f"{HUGE} {{name!r}} {{name.__class__}} {{name[0]}} {{other}}"

    def test_the_template_text_can_be_transformed_without_touching_the_values(self):
        assert fill("<b>{name}</b>", {"name": "<i>"}, literal=str.upper) == "<B><i></B>"


@pytest.fixture
def enforcement(db):
    organization = OrganizationFactory()
    account = AccountFactory(organization=organization, name="Ann <Smith>", email="ann@acme.example")
    now = timezone.now()
    return Enforcement.objects.create(
        policy=jira_suspend_policy(organization, products=()),
        account=account,
        status=EnforcementStatus.WARNED,
        action="suspend",
        reason="inactive",
        inactive_since=now - timedelta(days=120),
        due_at=now,
    )


class TestRendering:
    def test_an_old_row_with_a_format_spec_renders_small_and_shows_the_placeholder_as_written(self, enforcement):
        old = f"Hello {HUGE} {{name!r}} {{name.__class__.__mro__}}, {{{{ok}}}} {{name}}"
        InactivityPolicy.objects.filter(pk=enforcement.policy_id).update(warning_subject=old[:200], warning_body=old)
        enforcement.refresh_from_db()
        started = time.perf_counter()
        subject, text, html = render(enforcement, "warning", now=enforcement.due_at)
        assert time.perf_counter() - started < 0.5
        assert text == f"Hello {HUGE} {{name!r}} {{name.__class__.__mro__}}, {{ok}} Ann <Smith>"
        assert subject == text
        assert html == "<p>Hello {name:&gt;999999999} {name!r} {name.__class__.__mro__}, {ok} Ann &lt;Smith&gt;</p>"

    def test_the_default_email_still_renders_with_the_link_in_html(self, enforcement):
        subject, text, html = render(enforcement, "warning", now=enforcement.due_at)
        assert subject.startswith("Your Atlassian products access will be suspended on ")
        assert text.startswith("Hello Ann <Smith>,\n\nYou have not used Atlassian products for 120 days.")
        assert html.startswith("<p>Hello Ann &lt;Smith&gt;,</p>")
        assert '<a href="http' in html


class TestSaving:
    def test_policy_save_refuses_a_format_spec_field_by_field(self, enforcement):
        policy = enforcement.policy
        policy.warning_body = f"Hello {HUGE}"
        policy.action_subject = "Bye {name.__class__}"
        with pytest.raises(ValidationError) as refused:
            policy_save(policy=policy, actor=Actor.system("test"))
        errors = refused.value.message_dict
        assert set(errors) == {"warning_body", "action_subject"}
        assert HUGE in errors["warning_body"][0]
        assert "{name.__class__}" in errors["action_subject"][0]
        policy.refresh_from_db()
        assert policy.warning_body == DEFAULT_WARNING_BODY
