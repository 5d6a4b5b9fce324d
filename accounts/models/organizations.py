from django.conf import settings
from django.db import models

from governance import crypto


class Organization(models.Model):
    """An Atlassian organization the portal mirrors.

    Credentials come from the ``ATLASSIAN_*`` environment by default. An admin may instead
    store a key here: it is encrypted with PORTAL_FERNET_KEYS and never shown or exported.
    """

    org_id = models.CharField("Atlassian org id", max_length=200, unique=True)
    name = models.CharField(max_length=200, blank=True)
    api_base = models.URLField("API base URL", default="https://api.atlassian.com")
    site_url = models.URLField("Jira site URL", blank=True, help_text="e.g. https://acme.atlassian.net")
    cloud_id = models.CharField(max_length=100, blank=True)
    directory_id = models.CharField(
        max_length=200,
        default="-",
        help_text="Directory the reads cover; '-' means all directories. Writes always name the account's "
        "or group's own directory.",
    )
    directories = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="The organization's directories as the last sync listed them: {directory id: name}.",
    )
    jira_email = models.EmailField(blank=True)
    group_id_form = models.CharField(
        "group id form",
        max_length=8,
        blank=True,
        editable=False,
        choices=[("ari", "ARI (ari:cloud:identity::group/…)"), ("uuid", "bare UUID")],
        help_text="How Atlassian's group search spells group ids, as the last sync saw it; "
        "calls naming a group use it. The mirror always stores the bare UUID.",
    )
    credentials_from_env = models.BooleanField(
        default=True, help_text="Read the API key and Jira token from ATLASSIAN_* environment variables."
    )
    api_key_encrypted = models.TextField(blank=True, editable=False)
    jira_token_encrypted = models.TextField(blank=True, editable=False)
    last_complete_sync_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "org_id"]

    def __str__(self) -> str:
        return self.name or self.org_id

    def directory_name(self, directory_id: str | None) -> str:
        """A directory's name for messages (an identity provider's is its name, e.g. Okta)."""
        if not directory_id:
            return ""
        return (self.directories or {}).get(directory_id) or directory_id

    def api_key(self) -> str:
        if self.credentials_from_env:
            return settings.ATLASSIAN_ADMIN_API_KEY or ""
        return crypto.decrypt(self.api_key_encrypted) if self.api_key_encrypted else ""

    def jira_api_token(self) -> str:
        if self.credentials_from_env:
            return settings.ATLASSIAN_API_TOKEN or ""
        return crypto.decrypt(self.jira_token_encrypted) if self.jira_token_encrypted else ""

    def set_api_key(self, value: str) -> None:
        self.api_key_encrypted = crypto.encrypt(value) if value else ""

    def set_jira_api_token(self, value: str) -> None:
        self.jira_token_encrypted = crypto.encrypt(value) if value else ""
