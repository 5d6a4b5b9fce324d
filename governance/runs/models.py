from django.db import models


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Manual"
    API = "api", "API"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued (waiting for a task worker)"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REFUSED = "refused", "Refused (precondition not met)"
    HALTED = "halted", "Halted by a safety limit"


class TaskRun(models.Model):
    """One background run: a sync, a policy run, a notification sweep, a bulk action."""

    name = models.CharField(max_length=100, db_index=True)  # "sync", "policy", "bulk_action" ...
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices, default=RunTrigger.SCHEDULE)
    organization = models.CharField(max_length=200, blank=True, db_index=True)
    subject = models.CharField(max_length=200, blank=True, help_text="What the run was about, e.g. a policy.")
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING, db_index=True)
    counts = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(
        default=dict, blank=True, help_text="Done/total while running (a sync adds its phase and pages fetched)."
    )
    error = models.TextField(blank=True)
    log_excerpt = models.TextField(blank=True)
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)
    started_by = models.CharField(max_length=200, blank=True)
    dry_run = models.BooleanField(
        default=False,
        help_text="It reported what it would do and changed nothing (a dry run, or a policy in preview mode).",
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["name", "status", "-finished_at"], name="taskrun_name_status")]

    def __str__(self) -> str:
        return f"{self.name} {self.started_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def duration(self):
        return (self.finished_at - self.started_at) if self.finished_at else None


class RunLock(models.Model):
    """A named lease that at most one process holds at a time (``governance.runs.locks``)."""

    name = models.CharField(max_length=200, unique=True)
    holder = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
