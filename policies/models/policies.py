from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from governance.runs.models import TaskRun
from policies.email_templates import TEMPLATE_FIELDS

DEFAULT_WARNING_SUBJECT = "Your {product} access will be {action} on {action_date}"
DEFAULT_WARNING_BODY = (
    "Hello {name},\n\n"
    "You have not used {product} for {days_inactive} days. To free unused licences, your access "
    "will be {action} on {action_date}.\n\n"
    "If you still need it, simply use {product} before then, or follow this link:\n{restore_link}\n"
)
DEFAULT_ACTION_SUBJECT = "Your {product} access was {action}"
DEFAULT_ACTION_BODY = (
    "Hello {name},\n\n"
    "You had not used {product} for {days_inactive} days, so your access was {action} on {action_date}.\n\n"
    "If you need it back, ask for it here:\n{restore_link}\n"
)


class PolicyMode(models.TextChoices):
    PREVIEW = "preview", "Preview (report only)"
    REVIEW = "review", "Review (queue actions for approval)"
    ENFORCE = "enforce", "Enforce"


class Trigger(models.TextChoices):
    INACTIVE = "inactive", "Inactive for N days"
    NEVER_ACTIVE = "never_active", "Never active N days after joining"
    IN_STATE = "in_state", "N days in a state"


class PolicyAction(models.TextChoices):
    NOTIFY = "notify", "Notify only"
    REMOVE_PRODUCT_ACCESS = "remove_product_access", "Remove product access"
    SUSPEND = "suspend", "Suspend"
    DEACTIVATE = "deactivate", "Deactivate (managed accounts only)"
    DELETE = "delete", "Delete (managed accounts only)"


def action_label(code: str) -> str:
    """A policy action's short name for lists and reports ("Remove product access"), the code itself
    for a value no longer among the choices (an old row)."""
    try:
        return PolicyAction(code).label.split(" (")[0]
    except ValueError:
        return code


class ClaimScope(models.TextChoices):
    ALL = "all", "Managed and external accounts"
    MANAGED = "managed", "Managed accounts only"
    EXTERNAL = "external", "External accounts only"


# Actions that Atlassian only allows on managed accounts (API.md §3).
MANAGED_ONLY_ACTIONS = {PolicyAction.DEACTIVATE, PolicyAction.DELETE}


class InactivityPolicy(models.Model):
    """A rule: which accounts, after how long, get which action, with which warnings and limits."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="policies")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True, help_text="Disabled policies are never run by the schedule.")
    mode = models.CharField(max_length=16, choices=PolicyMode.choices, default=PolicyMode.PREVIEW)
    # Scope
    products = models.ManyToManyField(
        "accounts.Product", blank=True, related_name="+", help_text="Empty: activity in any product counts."
    )
    include_groups = models.ManyToManyField(
        "accounts.Group", blank=True, related_name="+", help_text="Only members of these groups (empty: everyone)."
    )
    exclude_groups = models.ManyToManyField("accounts.Group", blank=True, related_name="+")
    claim_scope = models.CharField(max_length=16, choices=ClaimScope.choices, default=ClaimScope.ALL)
    include_org_admins = models.BooleanField(default=False, help_text="Org admins are exempt unless this is set.")
    include_app_accounts = models.BooleanField(default=False, help_text="App accounts are exempt unless this is set.")
    # Trigger
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.INACTIVE)
    trigger_days = models.PositiveIntegerField(default=90, validators=[MinValueValidator(1)])
    trigger_state = models.CharField(
        max_length=20, blank=True, help_text="For 'N days in a state': the account status, e.g. deactivated."
    )
    # Action
    action = models.CharField(max_length=24, choices=PolicyAction.choices, default=PolicyAction.NOTIFY)
    warning_days = models.JSONField(
        default=list, blank=True, help_text="Days before the action to send warnings, e.g. [14, 3]. Empty: no warning."
    )
    # Safety
    cap_absolute = models.PositiveIntegerField(default=50, help_text="Most accounts one run may act on.")
    cap_percent = models.FloatField(
        default=5.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text="Most accounts one run may act on, as a percentage of the accounts in scope.",
    )
    schedule_cron = models.CharField(max_length=100, default="30 6 * * *")
    # Restoration
    self_service_restore = models.BooleanField(
        default=True, help_text="A person this policy acted on gets access back on request, without approval."
    )
    restore_returning = models.BooleanField(
        "returning staff are restored",
        default=False,
        help_text="When an account this policy acted on is active again in Atlassian (re-invited, or re-activated "
        "in the identity provider), give back what the policy took without approval. Off: the help desk is "
        "asked through an access request.",
    )
    justification_required = models.BooleanField(default=False)
    # Emails
    warning_subject = models.CharField(max_length=200, default=DEFAULT_WARNING_SUBJECT)
    warning_body = models.TextField(default=DEFAULT_WARNING_BODY)
    action_subject = models.CharField(max_length=200, default=DEFAULT_ACTION_SUBJECT)
    action_body = models.TextField(default=DEFAULT_ACTION_BODY)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "inactivity policies"
        ordering = ["name"]
        permissions = [("run_policy", "Can run a policy now or undo a run")]

    def __str__(self) -> str:
        return self.name

    @property
    def warning_offsets(self) -> tuple[int, ...]:
        return tuple(sorted({int(d) for d in self.warning_days or []}, reverse=True))

    def clean(self):
        errors = {}
        if self.trigger == Trigger.IN_STATE and not self.trigger_state:
            errors["trigger_state"] = "Name the state the account must have been in."
        if self.action in MANAGED_ONLY_ACTIONS and self.claim_scope == ClaimScope.EXTERNAL:
            errors["action"] = (
                "External accounts can only be suspended: Atlassian deactivates and deletes managed ones."
            )
        try:
            offsets = [int(d) for d in (self.warning_days or [])]
        except (TypeError, ValueError):
            offsets = [-1]
        if any(d < 1 or d > 365 for d in offsets):
            errors["warning_days"] = "Warning days are whole numbers between 1 and 365, e.g. [14, 3]."
        if errors:
            raise ValidationError(errors)


class PolicyRun(TaskRun):
    """Run history of policies: the TaskRun rows named "policy", with their own admin."""

    class Meta:
        proxy = True
        verbose_name = "policy run"


# What a person sets on a policy besides its name, organization and mode: the admin's form, the API
# and the policies-as-code document (policies/selectors/policy_export.py) all take these.
POLICY_SCOPE = ("products", "include_groups", "exclude_groups")
POLICY_SETTINGS = (
    "description",
    "enabled",
    "claim_scope",
    "include_org_admins",
    "include_app_accounts",
    "trigger",
    "trigger_days",
    "trigger_state",
    "action",
    "warning_days",
    "cap_absolute",
    "cap_percent",
    "schedule_cron",
    "self_service_restore",
    "restore_returning",
    "justification_required",
    *TEMPLATE_FIELDS,
)
