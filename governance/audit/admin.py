from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.urls import path, reverse

from governance.admin_tools import ReadOnlyAdminMixin
from governance.admin_tools.cells import clipped, compact_time
from governance.admin_tools.filters import DateRangeFilter
from governance.audit.export import CSV_HEADER, audit_rows
from governance.audit.models import AuditAction, AuditCheckpoint, AuditEvent
from governance.audit.record import Actor, record_event
from governance.csvexport import streaming_csv_response


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only for everyone: no add, change or delete, whatever the user's permissions."""

    list_display = ("seq", "created", "actor_kind", "actor_name", "action", "kind_of_target", "target", "short_reason")
    list_filter = (("created_at", DateRangeFilter), "actor_kind", "action", "target_type")
    search_fields = ("=target_id", "target_repr", "actor_name", "=correlation_id")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    ordering = ("-seq",)
    actions = None
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    # Compact cells (governance.admin_tools.cells): rows stay one line at 1280 px.
    @admin.display(description="created at", ordering="created_at")
    def created(self, obj):
        return compact_time(obj.created_at)

    @admin.display(description="target type", ordering="target_type")
    def kind_of_target(self, obj):
        return clipped(obj.target_type, width="s")

    @admin.display(description="target", ordering="target_repr")
    def target(self, obj):
        return clipped(obj.target_repr, width="m")

    @admin.display(description="reason")
    def short_reason(self, obj):
        return clipped(obj.reason, width="m")

    def get_urls(self):
        download = self.admin_site.admin_view(self.download_csv)
        return [path("download.csv", download, name="governance_auditevent_download"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        query = request.GET.urlencode()
        extra_context["download_url"] = reverse("admin:governance_auditevent_download") + (f"?{query}" if query else "")
        return super().changelist_view(request, extra_context)

    def download_csv(self, request):
        """The changelist's filtered rows as CSV. The download itself is an audit event."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            queryset = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters as exc:
            return HttpResponseBadRequest(f"The filters are not valid: {exc}", content_type="text/plain")
        record_event(
            actor=Actor.from_request(request),
            action=AuditAction.AUDIT_EXPORTED,
            target_type="governance.auditevent",
            target_repr="audit log CSV",
            after={"filters": dict(request.GET.items())},
        )
        return streaming_csv_response("audit-log.csv", CSV_HEADER, audit_rows(queryset))


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Where retention cut the chain, and which archive file holds the events before it. Read-only."""

    list_display = ("last_seq", "first_seq", "row_count", "cutoff", "archive_name", "created_at", "actor_name")
    ordering = ("-last_seq",)
    actions = None
    readonly_fields = [f.name for f in AuditCheckpoint._meta.fields]
