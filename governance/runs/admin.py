from django.contrib import admin

from governance.admin_tools.filters import DateRangeFilter
from governance.runs.models import TaskRun


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    """Run history, read-only: rows are written by the runs themselves."""

    list_display = ("started_at", "name", "subject", "organization", "trigger", "status", "duration", "counts")
    list_filter = ("name", "status", "trigger", ("started_at", DateRangeFilter))
    search_fields = ("=correlation_id", "subject", "error")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None
    readonly_fields = [f.name for f in TaskRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
