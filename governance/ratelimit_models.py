from django.db import models


class RateLimitCounter(models.Model):
    """One fixed-window counter per key (``governance.ratelimit``).

    ``key`` is an HMAC of the scope and the value being limited (a client IP, an email address,
    a link token): the raw value is never stored. A key holds only its current window; rows of
    windows long gone are purged by a scheduled job.
    """

    key = models.CharField(max_length=64, unique=True)
    window_start = models.DateTimeField(db_index=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.key[:12]}… {self.count} since {self.window_start:%Y-%m-%d %H:%M:%S}"
