from django.db import models


class ActivitySnapshot(models.Model):
    """One organization's activity on one day, written at the end of each successful sync.

    The dashboard draws its active-vs-inactive trend from these rows: the mirror itself only
    knows today. One row per organization and day; a later sync the same day overwrites it.
    """

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="snapshots")
    date = models.DateField()
    active_30d = models.PositiveIntegerField(help_text="Active accounts used in the last 30 days.")
    inactive = models.PositiveIntegerField(help_text="Active accounts not used in the last 30 days (or never).")
    by_status = models.JSONField(default=dict, blank=True, help_text="Number of accounts per status.")
    taken_at = models.DateTimeField()

    class Meta:
        ordering = ["-date", "organization"]
        get_latest_by = "date"
        constraints = [models.UniqueConstraint(fields=["organization", "date"], name="snapshot_unique_per_day")]

    def __str__(self) -> str:
        return f"{self.organization} {self.date:%Y-%m-%d}"
