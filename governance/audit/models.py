from django.conf import settings
from django.db import models

from governance.audit.guards import AppendOnlyQuerySet, AppendOnlyViolation


class ActorKind(models.TextChoices):
    SYSTEM = "system", "System"
    SCHEDULER = "scheduler", "Scheduler"
    ADMIN = "admin", "Admin"
    HELP_DESK = "help_desk", "Help desk"
    REQUESTER = "requester", "Requester"
    API = "api", "API"
    ANONYMOUS = "anonymous", "Not signed in"


class AuditAction(models.TextChoices):
    """Every kind of change the portal records. Dotted: ``<entity>.<what happened>``."""

    ACCOUNT_SUSPENDED = "account.suspended", "Account suspended"
    ACCOUNT_RESTORED = "account.restored", "Account restored (suspension lifted)"
    ACCOUNT_DEACTIVATED = "account.deactivated", "Account deactivated"
    ACCOUNT_ENABLED = "account.enabled", "Account re-enabled"
    ACCOUNT_DELETION_SCHEDULED = "account.deletion_scheduled", "Account deletion scheduled"
    ACCOUNT_DELETION_CANCELLED = "account.deletion_cancelled", "Account deletion cancelled"
    ACCOUNT_REMOVED = "account.removed", "Account removed from the organization"
    ACCOUNT_REAPPEARED = "account.reappeared", "Account reappeared"
    ACCOUNT_STATUS_CHANGED = "account.status_changed", "Account status changed in Atlassian"
    ACCOUNT_IMPORTED = "account.imported", "Account imported"
    ACCOUNT_RETURN_DATE_SET = "account.return_date_set", "Return date set"
    ACCOUNT_RETURNED = "account.returned", "Returning account handled"
    MEMBERSHIP_ADDED = "membership.added", "Added to group"
    MEMBERSHIP_REMOVED = "membership.removed", "Removed from group"
    MEMBERSHIP_END_SET = "membership.end_set", "Access end date set"
    MEMBERSHIP_END_WARNED = "membership.end_warned", "Access end warning sent"
    MEMBERSHIP_EXTENSION_REQUESTED = "membership.extension_requested", "Access extension requested"
    MEMBERSHIP_END_EXTENDED = "membership.end_extended", "Access extended"
    MEMBERSHIP_EXTENSION_REJECTED = "membership.extension_rejected", "Access extension rejected"
    MEMBERSHIP_END_CANCELLED = "membership.end_cancelled", "Access end cancelled"
    MEMBERSHIP_END_FAILED = "membership.end_failed", "Access end could not be carried out"
    MEMBERSHIP_END_DEFERRED = "membership.end_deferred", "Access end postponed (account changed since the sync)"
    ROLE_ASSIGNED = "role.assigned", "Product role assigned"
    ROLE_REVOKED = "role.revoked", "Product role revoked"
    PRODUCT_ACCESS_REMOVED = "product_access.removed", "Product access removed"
    PRODUCT_ACCESS_RESTORED = "product_access.restored", "Product access restored"
    ATLASSIAN_CALL_FAILED = "atlassian.call_failed", "Change in Atlassian failed"
    ORGANIZATION_CREATED = "organization.created", "Organization created"
    ORGANIZATION_UPDATED = "organization.updated", "Organization updated"
    SYNC_REQUESTED = "sync.requested", "Sync requested (Sync now)"
    SEAT_PRICE_SET = "seat_price.set", "Seat price set"
    SEAT_PRICE_REMOVED = "seat_price.removed", "Seat price removed"
    SYNC_STARTED = "sync.started", "Sync started"
    SYNC_COMPLETED = "sync.completed", "Sync completed"
    SYNC_FAILED = "sync.failed", "Sync failed"
    SYNC_HALTED = "sync.halted", "Sync halted by a safety limit"
    POLICY_CREATED = "policy.created", "Policy created"
    POLICY_UPDATED = "policy.updated", "Policy updated"
    POLICY_DELETED = "policy.deleted", "Policy deleted"
    POLICY_RUN_STARTED = "policy.run_started", "Policy run started"
    POLICY_RUN_COMPLETED = "policy.run_completed", "Policy run completed"
    POLICY_RUN_REFUSED = "policy.run_refused", "Policy run refused"
    POLICY_RUN_HALTED = "policy.run_halted", "Policy run halted by its cap"
    POLICY_RUN_UNDONE = "policy.run_undone", "Policy run undone"
    ONBOARDING_RULE_CREATED = "onboarding_rule.created", "Onboarding rule created"
    ONBOARDING_RULE_UPDATED = "onboarding_rule.updated", "Onboarding rule updated"
    ONBOARDING_RULE_APPLIED = "onboarding_rule.applied", "Onboarding rule applied"
    ONBOARDING_APPROVED = "onboarding.approved", "Onboarding approved"
    ONBOARDING_REJECTED = "onboarding.rejected", "Onboarding rejected"
    EXEMPTION_CREATED = "exemption.created", "Exemption created"
    EXEMPTION_UPDATED = "exemption.updated", "Exemption updated"
    EXEMPTION_EXPIRED = "exemption.expired", "Exemption expired"
    ENFORCEMENT_WARNED = "enforcement.warned", "Warning sent"
    ENFORCEMENT_QUEUED_FOR_REVIEW = "enforcement.queued_for_review", "Queued for review"
    ENFORCEMENT_EXECUTED = "enforcement.executed", "Enforcement executed"
    ENFORCEMENT_FAILED = "enforcement.failed", "Enforcement failed"
    ENFORCEMENT_CANCELLED = "enforcement.cancelled", "Enforcement cancelled"
    ENFORCEMENT_APPROVED = "enforcement.approved", "Enforcement approved"
    ENFORCEMENT_REJECTED = "enforcement.rejected", "Enforcement rejected"
    ENFORCEMENT_IDP_ACTION_NEEDED = "enforcement.idp_action_needed", "Action needed in the identity provider"
    REQUEST_CREATED = "request.created", "Access request created"
    REQUEST_APPROVED = "request.approved", "Access request approved"
    REQUEST_AUTO_APPROVED = "request.auto_approved", "Access request approved automatically"
    REQUEST_REJECTED = "request.rejected", "Access request rejected"
    REQUEST_FULFILLED = "request.fulfilled", "Access request fulfilled"
    REQUEST_FAILED = "request.failed", "Access request failed"
    REQUEST_EXPIRED = "request.expired", "Access request expired"
    REVIEW_CAMPAIGN_STARTED = "review.campaign_started", "Access review started"
    REVIEW_DECIDED = "review.decided", "Access review decision"
    REVIEW_REMINDED = "review.reminded", "Access review reminder sent"
    REVIEW_CAMPAIGN_HALTED = "review.campaign_halted", "Access review halted by its cap"
    REVIEW_CAP_RAISED = "review.cap_raised", "Access review cap raised"
    REVIEW_CAMPAIGN_CLOSED = "review.campaign_closed", "Access review closed"
    REVIEW_EVIDENCE_EXPORTED = "review.evidence_exported", "Access review evidence downloaded"
    REVIEW_OWNER_SET = "review.owner_set", "Group review owner set"
    REVIEW_OWNER_REMOVED = "review.owner_removed", "Group review owner removed"
    REVIEW_ITEM_RESTORED = "review.item_restored", "Access review item given back"
    REVIEW_GIVE_BACK_REQUESTED = "review.give_back_requested", "Access review removal: asked back by the person"
    REVIEW_GIVE_BACK_REFUSED = "review.give_back_refused", "Access review removal: request to give it back refused"
    REVIEW_HANDED_OFF = "review.handed_off", "Access review revocation handed to a person (by hand in Atlassian)"
    AUDIT_EXPORTED = "audit.exported", "Audit log downloaded"
    AUDIT_ARCHIVED = "audit.archived", "Audit log archived and pruned"
    EXPORT_DOWNLOADED = "export.downloaded", "Data exported"
    IMPORT_APPLIED = "import.applied", "Import applied"
    API_TOKEN_CREATED = "api_token.created", "API token created"
    API_TOKEN_REVOKED = "api_token.revoked", "API token revoked"
    SCHEDULES_APPLIED = "schedules.applied", "Schedules applied"
    TASK_REFUSED = "task.refused", "Task refused: not a portal function"
    LOGIN_FAILED = "login.failed", "Sign-in failed"
    LOGIN_LOCKED_OUT = "login.locked_out", "Sign-in locked out"
    LOGIN_UNLOCKED = "login.unlocked", "Sign-in lock lifted"
    API_AUTH_LOCKED_OUT = "api_auth.locked_out", "API token sign-in locked out"
    OPERATOR_CREATED = "operator.created", "Operator created"
    OPERATOR_UPDATED = "operator.updated", "Operator changed"
    OPERATOR_DEACTIVATED = "operator.deactivated", "Operator deactivated"
    OPERATOR_REACTIVATED = "operator.reactivated", "Operator reactivated"
    OPERATOR_PASSWORD_CHANGED = "operator.password_changed", "Operator's password changed"
    WEBHOOK_CREATED = "webhook.created", "Webhook subscription created"
    WEBHOOK_UPDATED = "webhook.updated", "Webhook subscription changed"
    WEBHOOK_DELETED = "webhook.deleted", "Webhook subscription deleted"
    WEBHOOK_TESTED = "webhook.tested", "Webhook test message sent"
    WEBHOOK_DELIVERIES_PRUNED = "webhook.deliveries_pruned", "Old webhook deliveries pruned"


class AuditEvent(models.Model):
    """One recorded change. Append-only and hash-chained.

    ``hash`` is HMAC-SHA256 (key ``AUDIT_HMAC_KEY``) over ``prev_hash`` and the canonical
    form of this row, so a change to any row, a deleted, inserted or reordered row breaks
    the chain at that point (``manage.py verify_audit_log``); deleted newest events are found
    by the anchors kept outside the database (``governance.audit.anchors``). Names and reprs
    are copied as text so an event outlives the user or object it mentions.
    """

    seq = models.PositiveBigIntegerField("sequence", unique=True, editable=False)
    created_at = models.DateTimeField(db_index=True, editable=False)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    # No database constraint and no cascade: deleting a portal user must not rewrite history.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64, choices=AuditAction.choices, db_index=True)
    target_type = models.CharField(max_length=64, blank=True, db_index=True)
    target_id = models.CharField(max_length=200, blank=True, db_index=True)
    target_repr = models.CharField(max_length=300, blank=True)
    organization = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        indexes = [models.Index(fields=["target_type", "target_id", "seq"], name="audit_target_seq")]
        permissions = []
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.target_repr}".strip()

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyViolation("Audit events cannot be changed.")
        if not self.hash:
            raise AppendOnlyViolation("Record audit events with governance.audit.record.record_event().")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyViolation("Audit events cannot be deleted.")


class AuditCheckpoint(models.Model):
    """Where the chain was cut when old events were archived to a file and pruned from the table.

    The events ``first_seq`` to ``last_seq`` now live only in the CSV named ``archive_name``
    (SHA-256 ``archive_sha256``); ``first_prev_hash`` and ``last_hash`` tie that file to the chain
    on both sides, so the remaining events verify from ``last_hash`` and the file verifies on its
    own (``manage.py verify_audit_log --archive FILE``). Append-only like the events, signed with
    ``AUDIT_HMAC_KEY``, and chained to the checkpoint before it through ``prev_signature``, so a
    removed or edited checkpoint breaks verification too.
    """

    created_at = models.DateTimeField(editable=False)
    first_seq = models.PositiveBigIntegerField(unique=True, editable=False)
    last_seq = models.PositiveBigIntegerField(unique=True, editable=False)
    first_prev_hash = models.CharField(max_length=64, editable=False)
    last_hash = models.CharField(max_length=64, editable=False)
    row_count = models.PositiveBigIntegerField(editable=False)
    cutoff = models.DateTimeField(editable=False, help_text="Events recorded before this time were archived.")
    archive_name = models.CharField(max_length=255, editable=False)
    archive_sha256 = models.CharField("archive SHA-256", max_length=64, editable=False)
    actor_name = models.CharField(max_length=200, blank=True, editable=False)
    prev_signature = models.CharField(max_length=64, editable=False)
    signature = models.CharField(max_length=64, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seq"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"events #{self.first_seq} to #{self.last_seq} in {self.archive_name}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyViolation("Audit checkpoints cannot be changed.")
        if not self.signature:
            raise AppendOnlyViolation("Record checkpoints with governance.audit.archive.audit_archive().")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyViolation("Audit checkpoints cannot be deleted.")
