"""The accounts app's events for webhooks and Slack (governance.notifications): a sync that failed or
halted, and Atlassian refusing the Admin API key. Registered from AccountsConfig.ready."""

from governance.atlassian.errors import AtlassianError
from governance.notifications import notify_event, register_event

SYNC_FAILED = "sync.failed"
SYNC_HALTED = "sync.halted"
KEY_REFUSED = "atlassian.key_refused"
REFUSING_STATUSES = (401, 403)


def register_events() -> None:
    register_event(
        SYNC_FAILED,
        "A sync of an organization failed",
        lambda p: f"Sync of {p.get('organization')} failed (run {p.get('run')}): {p.get('error')}",
    )
    register_event(
        SYNC_HALTED,
        "A sync of an organization halted (a safety limit stopped it)",
        lambda p: f"Sync of {p.get('organization')} halted (run {p.get('run')}): {p.get('error')}",
    )
    register_event(
        KEY_REFUSED,
        "Atlassian refused the organization's API key (HTTP 401/403)",
        lambda p: (
            f"Atlassian refused the API key of {p.get('organization')} during a {p.get('during')}: "
            f"HTTP {p.get('status')} on {p.get('path')}"
        ),
    )


def sync_ended(*, org_id: str, run_id: int, failed: bool, error: str, exc: BaseException | None) -> None:
    """A sync that failed or halted: its event, and ``atlassian.key_refused`` when the key was refused."""
    notify_event(SYNC_FAILED if failed else SYNC_HALTED, {"organization": org_id, "run": run_id, "error": error})
    if isinstance(exc, AtlassianError):
        key_refused(org_id=org_id, exc=exc, during="sync")


def key_refused(*, org_id: str, exc: AtlassianError, during: str) -> None:
    """``atlassian.key_refused`` when ``exc`` is a 401 or 403 (the message names no credential)."""
    if exc.status in REFUSING_STATUSES:
        notify_event(KEY_REFUSED, {"organization": org_id, "status": exc.status, "path": exc.path, "during": during})
