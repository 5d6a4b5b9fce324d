"""The task queue in the admin, read-only for every portal role (DESIGN.md 5.13).

django-q2 registers its own pages for Schedule, Success, Failure and OrmQ, with an editable schedule
form (any dotted function, arguments, hook) and a "resubmit" action. A schedule names code the
cluster calls, so those pages are replaced here: admins and auditors see the portal's jobs and their
results; nobody but a superuser adds, changes or deletes, and even a superuser's schedule must name a
portal task function. Results and arguments of anything else are never loaded, let alone shown
(they are pickled, and would be whatever a foreign function returned).
"""

import ast

from django import forms
from django.contrib import admin
from django.db.models import Case, Exists, F, OuterRef, Subquery, Value, When
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils.html import format_html
from django_q import admin as django_q_admin  # noqa: F401  (django-q2's pages must be registered to be replaced)
from django_q.models import Failure, OrmQ, Schedule, Success, Task

from governance.admin_tools import ReadOnlyAdminMixin
from governance.audit.models import AuditAction, AuditEvent
from governance.audit.record import Actor, record_event
from governance.logging import redact
from governance.taskqueue.allowlist import is_portal_function, portal_task_functions, refusal_summary

CADENCE_HELP = (
    "These are the portal's own jobs, created by `manage.py setup_schedules` and read-only here. "
    "To change when a job runs: the sync follows SYNC_SCHEDULE_CRON (environment; then run "
    "setup_schedules), each policy follows the cron set on the policy (Policies; applied when the policy "
    "is saved), and the other jobs' times are part of the portal's settings and code. The cluster only "
    "runs the portal's own task functions (PORTAL_TASK_FUNCTIONS); any other task is refused and reported."
)
_SHOWN = 300


def _superuser(request) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


# --- Schedules -------------------------------------------------------------------------------------


def _check_function(value: str | None, *, what: str) -> str:
    value = (value or "").strip()
    if value and not is_portal_function(value):
        allowed = ", ".join(sorted(portal_task_functions()))
        raise forms.ValidationError(f"{value} is not a portal task function; the {what} must be one of: {allowed}.")
    return value


class PortalScheduleForm(forms.ModelForm):
    """A superuser's schedule: a portal function, no foreign hook, arguments the scheduler can read."""

    class Meta:
        model = Schedule
        fields = (
            "name",
            "func",
            "hook",
            "args",
            "kwargs",
            "schedule_type",
            "minutes",
            "cron",
            "repeats",
            "next_run",
            "cluster",
            "intended_date_kwarg",
        )

    def clean_func(self):
        func = _check_function(self.cleaned_data.get("func"), what="function")
        if not func:
            raise forms.ValidationError("Name a portal task function.")
        return func

    def clean_hook(self):
        return _check_function(self.cleaned_data.get("hook"), what="hook") or None

    def clean_args(self):
        args = (self.cleaned_data.get("args") or "").strip()
        if args:
            try:
                ast.literal_eval(args)
            except (SyntaxError, ValueError) as exc:
                raise forms.ValidationError("Arguments must be Python literals, e.g. 1, 'name'.") from exc
        return args or None

    def clean_kwargs(self):
        text = (self.cleaned_data.get("kwargs") or "").strip()
        if not text:
            return None
        # The scheduler reads a dict literal, or else "a=1, b='x'" (django_q/scheduler.py).
        try:
            kwargs = ast.literal_eval(text)
            if not isinstance(kwargs, dict):
                raise ValueError
        except (SyntaxError, ValueError):
            try:
                call = ast.parse(f"f({text})", mode="eval").body
                if not isinstance(call, ast.Call):  # text that closed the call, e.g. "1) + (2"
                    raise ValueError
                kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
                if call.args or None in kwargs:
                    raise ValueError
            except (SyntaxError, ValueError, AttributeError) as exc:
                raise forms.ValidationError("Keyword arguments must read like x=1, name='John'.") from exc
        if "q_options" in kwargs:
            # q_options reach the task's own options (hook, chain, cluster ...): not for hand-made schedules.
            raise forms.ValidationError("q_options cannot be set here.")
        return text


_AUDITED = ("name", "func", "hook", "args", "kwargs", "schedule_type", "minutes", "cron", "repeats", "next_run")


def _audited(schedule: Schedule) -> dict:
    return {field: getattr(schedule, field) for field in _AUDITED}


class PortalScheduleAdmin(admin.ModelAdmin):
    form = PortalScheduleForm
    list_display = ("name", "func", "when", "next_run", "last_run", "portal_function")
    list_display_links = ("name",)
    search_fields = ("name", "func")
    ordering = ("name",)
    actions = None

    def has_add_permission(self, request):
        return _superuser(request)

    def has_change_permission(self, request, obj=None):
        return _superuser(request)

    def has_delete_permission(self, request, obj=None):
        return _superuser(request)

    def get_queryset(self, request):
        last = Task.objects.filter(id=OuterRef("task"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_task_id=Subquery(last.values("id")[:1]),
                last_task_name=Subquery(last.values("name")[:1]),
                last_task_success=Subquery(last.values("success")[:1]),
            )
        )

    @admin.display(description="When")
    def when(self, obj):
        return obj.cron if obj.schedule_type == Schedule.CRON else obj.get_schedule_type_display()

    @admin.display(description="Last run")
    def last_run(self, obj):
        if obj.last_task_id is None:
            return "-"
        kind, outcome = ("success", "succeeded") if obj.last_task_success else ("failure", "failed")
        url = reverse(f"admin:django_q_{kind}_change", args=[obj.last_task_id])
        return format_html('<a href="{}">{} ({})</a>', url, obj.last_task_name, outcome)

    @admin.display(description="Portal function", boolean=True)
    def portal_function(self, obj):
        return is_portal_function(obj.func) and (not obj.hook or is_portal_function(obj.hook))

    def save_model(self, request, obj, form, change):
        # The admin's change and delete views run in one transaction: the event commits with the row.
        before = Schedule.objects.filter(pk=obj.pk).values(*_AUDITED).first() if change else None
        super().save_model(request, obj, form, change)
        self._audit(request, obj, before=before, after=_audited(obj), what="changed" if change else "created")

    def delete_model(self, request, obj):
        pk, before = obj.pk, _audited(obj)
        super().delete_model(request, obj)
        self._audit(request, obj, before=before, after=None, what="deleted", pk=pk)

    def _audit(self, request, obj, *, before, after, what, pk=None):
        record_event(
            actor=Actor.from_request(request),
            action=AuditAction.SCHEDULES_APPLIED,
            target_type="django_q.schedule",
            target_id=str(pk or obj.pk),
            target_repr=obj.name or obj.func,
            before=before,
            after=after,
            reason=f"Schedule {what} in the admin by a superuser.",
        )

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "cadence_help": CADENCE_HELP})

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        context = {**(extra_context or {}), "cadence_help": CADENCE_HELP}
        return super().changeform_view(request, object_id, form_url, context)


# --- Results ---------------------------------------------------------------------------------------


def _summary_text(value, *, success: bool) -> str:
    if value is None:
        return "-"
    text = ", ".join(f"{key}: {item}" for key, item in value.items()) if isinstance(value, dict) else str(value)
    if not success:
        # django-q2 stores "<exception> : <traceback>"; the exception is the summary.
        text = text.split(" : Traceback", 1)[0]
    return truncatechars(redact(text), _SHOWN)


# Results and queued tasks are written by the cluster only; not even a superuser edits them here
# (django-q2 prunes results itself; a queued foreign task is refused when it comes up).
class _ResultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Success or Failure rows. ``result``, ``args`` and ``kwargs`` are pickled: they are loaded
    (through annotations) only for rows naming a portal function, so a foreign row's stored value is
    never unpickled nor shown."""

    success = True
    list_display = ("name", "func", "group", "started", "stopped", "summary")
    list_filter = ("group",)
    search_fields = ("name", "func", "group")
    actions = None  # no "resubmit": a result row is not a licence to queue its function again
    fields = ("name", "func", "group", "started", "stopped", "attempt_count", "summary", "arguments")
    readonly_fields = fields

    def get_queryset(self, request):
        portal = list(portal_task_functions())
        refused = AuditEvent.objects.filter(
            action=AuditAction.TASK_REFUSED, target_type="django_q.task", target_id=OuterRef("id")
        )
        return (
            super()
            .get_queryset(request)
            .defer("result", "args", "kwargs")
            .annotate(
                portal_result=Case(When(func__in=portal, then=F("result")), default=Value(None)),
                portal_args=Case(When(func__in=portal, then=F("args")), default=Value(None)),
                portal_kwargs=Case(When(func__in=portal, then=F("kwargs")), default=Value(None)),
                refused=Exists(refused),
            )
        )

    @admin.display(description="Summary")
    def summary(self, obj):
        if is_portal_function(obj.func):
            return _summary_text(obj.portal_result, success=self.success)
        if obj.refused:
            return refusal_summary(obj.func)
        return "Hidden: not a portal task function."

    @admin.display(description="Arguments")
    def arguments(self, obj):
        if not is_portal_function(obj.func):
            return "Hidden: not a portal task function."
        parts = [repr(arg) for arg in obj.portal_args or ()]
        parts += [f"{key}={value!r}" for key, value in (obj.portal_kwargs or {}).items()]
        return truncatechars(redact(", ".join(parts)), _SHOWN) or "-"


class PortalSuccessAdmin(_ResultAdmin):
    success = True


class PortalFailureAdmin(_ResultAdmin):
    success = False


# --- The ORM broker's queue -----------------------------------------------------------------------


class PortalQueueAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Tasks waiting in the ORM broker. Only the function's name is decoded from the payload."""

    list_display = ("id", "task_name", "func_name", "portal_function", "lock")
    fields = ("key", "task_name", "func_name", "portal_function", "lock")
    readonly_fields = fields
    actions = None

    @admin.display(description="Task")
    def task_name(self, obj):
        return obj.name()

    @admin.display(description="Function")
    def func_name(self, obj):
        return obj.func()

    @admin.display(description="Portal function", boolean=True)
    def portal_function(self, obj):
        return is_portal_function(obj.func())


def replace_django_q_admins(site=admin.site) -> None:
    """Swap django-q2's pages for the ones above (the queue page only where django-q2 shows one)."""
    show_queue = site.is_registered(OrmQ)
    for model in (Schedule, Success, Failure, OrmQ):
        if site.is_registered(model):
            site.unregister(model)
    site.register(Schedule, PortalScheduleAdmin)
    site.register(Success, PortalSuccessAdmin)
    site.register(Failure, PortalFailureAdmin)
    if show_queue:
        site.register(OrmQ, PortalQueueAdmin)


replace_django_q_admins()
