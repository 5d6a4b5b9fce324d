from django.contrib import admin

from governance.admin_tools import ReadOnlyAdminMixin
from governance.admin_tools.filters import DateRangeFilter
from governance.runs.models import TaskRun


@admin.register(TaskRun)
class TaskRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Run history, read-only: rows are written by the runs themselves."""

    list_display = ("started_at", "name", "subject", "organization", "trigger", "status", "duration", "counts")
    list_filter = ("name", "status", "trigger", ("started_at", DateRangeFilter))
    search_fields = ("=correlation_id", "subject", "error")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None
    readonly_fields = [f.name for f in TaskRun._meta.fields]
