from datetime import UTC, date, datetime, time, timedelta

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters


class DateRangeFilter(admin.FieldListFilter):
    """``?<field>_from=YYYY-MM-DD&<field>_to=YYYY-MM-DD``, both inclusive, days in UTC."""

    template = "admin/governance/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.param_from = f"{field_path}_from"
        self.param_to = f"{field_path}_to"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = f"{getattr(field, 'verbose_name', field_path)} (UTC dates)"

    def expected_parameters(self):
        return [self.param_from, self.param_to]

    def _date(self, name: str) -> date | None:
        values = self.used_parameters.get(name)
        raw = (values[-1] if isinstance(values, list) else values) or ""
        if not raw:
            return None
        try:
            return date.fromisoformat(str(raw))  # a query-string value, typed object by the stubs
        except ValueError:
            raise IncorrectLookupParameters(f"{name} must be a date like 2026-01-31") from None

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        start, end = self._date(self.param_from), self._date(self.param_to)
        lower = datetime.combine(start, time.min, tzinfo=UTC) if start else None
        upper = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC) if end else None
        return lower, upper

    def queryset(self, request, queryset):
        lower, upper = self.bounds()
        if lower:
            queryset = queryset.filter(**{f"{self.field_path}__gte": lower})
        if upper:
            queryset = queryset.filter(**{f"{self.field_path}__lt": upper})
        return queryset

    def choices(self, changelist):
        start, end = self._date(self.param_from), self._date(self.param_to)
        yield {
            "param_from": self.param_from,
            "param_to": self.param_to,
            "value_from": start.isoformat() if start else "",
            "value_to": end.isoformat() if end else "",
            "other_params": [
                (key, value)
                for key, values in changelist.params.items()
                if key not in (self.param_from, self.param_to)
                for value in (values if isinstance(values, list) else [values])
            ],
            "clear_url": changelist.get_query_string(remove=[self.param_from, self.param_to]),
        }
