from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A portal user's credential for scripts: ``Authorization: Token <secret>`` (or ``Bearer``).

    Only the SHA-256 of the secret is stored; the secret itself is shown once, when the token is
    created (``governance.api.tokens.api_token_create``), and never again. A request made with a
    token acts with its user's permissions. Tokens are revoked, never edited or deleted, so the
    audit trail's references stay meaningful.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. the script that uses it.")
    prefix = models.CharField(max_length=16, unique=True, editable=False, help_text="Identifies the token.")
    secret_hash = models.CharField("SHA-256 of the secret", max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="Updated once a minute.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="apitoken_user_revoked")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def is_usable(self, now=None) -> bool:
        return self.state(now) == "active"
