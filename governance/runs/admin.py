from django.contrib import admin

from governance.admin_tools import ReadOnlyAdminMixin
from governance.admin_tools.filters import DateRangeFilter
from governance.runs.models import TaskRun
from governance.text import counts_in_words, duration_in_words

# The JSON columns in words on the run's page too (an admin never reads raw JSON).
_IN_WORDS = {"counts": "counts_text", "progress": "progress_text"}


@admin.register(TaskRun)
class TaskRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Run history, read-only: rows are written by the runs themselves."""

    list_display = ("started_at", "name", "subject", "organization", "trigger", "status", "took", "counts_text")
    list_filter = ("name", "status", "trigger", ("started_at", DateRangeFilter))
    search_fields = ("=correlation_id", "subject", "error")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None
    readonly_fields = (*(_IN_WORDS.get(f.name, f.name) for f in TaskRun._meta.fields), "took")
    fields = readonly_fields

    @admin.display(description="took")
    def took(self, obj):
        return duration_in_words(obj.duration) or "still running"

    @admin.display(description="counts")
    def counts_text(self, obj):
        return counts_in_words(obj.counts or {})

    @admin.display(description="progress")
    def progress_text(self, obj):
        return counts_in_words(obj.progress or {})
