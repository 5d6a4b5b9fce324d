"""Filter pieces the apps' API filter sets share, and the filter sets of the bottom layer's models
(audit events and runs), with the parameters of their admin lists."""

import copy
from datetime import UTC, datetime, time, timedelta

import django_filters
from django import forms
from django.db.models import Q
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.drainage import add_trace_message, has_override, set_override
from drf_spectacular.plumbing import get_manager, get_view_model
from drf_spectacular.types import OpenApiTypes

from governance.audit.models import ActorKind, AuditAction, AuditEvent
from governance.runs.models import RunStatus, RunTrigger, TaskRun

# Integer ids beyond this cannot be stored, and SQLite raises instead of matching nothing.
MAX_ID = 2**63 - 1


class FilterBackend(DjangoFilterBackend):
    """``DjangoFilterBackend`` that also passes the view's ``filterset_kwargs(request)`` (e.g. the
    ``now`` that AccountFilterSet measures inactivity from) to the filter set."""

    def get_filterset_kwargs(self, request, queryset, view):
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        extra = getattr(view, "filterset_kwargs", None)
        if extra is not None:
            kwargs.update(extra(request))
        return kwargs


class IdFilter(django_filters.NumberFilter):
    """A primary key given as a number: never a ``<select>`` of every row (DJANGO-NOTES 5)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class DayRangeFilter(django_filters.DateFilter):
    """``?<field>_from=YYYY-MM-DD&<field>_to=YYYY-MM-DD``, both days inclusive, in UTC: the same
    parameters and meaning as the admin's DateRangeFilter (governance.admin_tools.filters)."""

    def __init__(self, *, field_name: str, bound: str, **kwargs):
        self.bound = bound
        label = f"{field_name} {'on or after' if bound == 'from' else 'on or before'} this UTC day"
        super().__init__(field_name=field_name, label=label, **kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        if self.bound == "from":
            return qs.filter(**{f"{self.field_name}__gte": datetime.combine(value, time.min, tzinfo=UTC)})
        upper = datetime.combine(value + timedelta(days=1), time.min, tzinfo=UTC)
        return qs.filter(**{f"{self.field_name}__lt": upper})


def words_filter(fields_exact: tuple[str, ...], fields_contains: tuple[str, ...]):
    """A ``q`` filter like the admin's search: every word must match one of the fields."""

    def method(queryset, name, value):
        for word in value.split():
            condition = Q()
            for field in fields_exact:
                condition |= Q(**{field: word})
            for field in fields_contains:
                condition |= Q(**{f"{field}__icontains": word})
            queryset = queryset.filter(condition)
        return queryset

    return django_filters.CharFilter(label="Search words", method=method)


class AuditEventFilterSet(django_filters.rest_framework.FilterSet):
    """The audit log admin's filters: dates, actor kind, action, target type, and its search."""

    created_at_from = DayRangeFilter(field_name="created_at", bound="from")
    created_at_to = DayRangeFilter(field_name="created_at", bound="to")
    actor_kind = django_filters.ChoiceFilter(choices=ActorKind.choices)
    action = django_filters.ChoiceFilter(choices=AuditAction.choices)
    target_type = django_filters.CharFilter(max_length=64)
    target_id = django_filters.CharFilter(max_length=200)
    correlation_id = django_filters.CharFilter(max_length=64)
    actor_user = IdFilter(field_name="actor_user_id")
    q = words_filter(("target_id", "correlation_id"), ("target_repr", "actor_name"))

    class Meta:
        model = AuditEvent
        fields: list[str] = []


class TaskRunFilterSet(django_filters.rest_framework.FilterSet):
    """The run history admin's filters: name, status, trigger, start dates."""

    name = django_filters.CharFilter(max_length=100)
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    trigger = django_filters.ChoiceFilter(choices=RunTrigger.choices)
    started_at_from = DayRangeFilter(field_name="started_at", bound="from")
    started_at_to = DayRangeFilter(field_name="started_at", bound="to")
    correlation_id = django_filters.CharFilter(max_length=64)

    class Meta:
        model = TaskRun
        fields: list[str] = []


class FilterBackendSchema(DjangoFilterExtension):
    """Schema of :class:`FilterBackend`'s filters: drf-spectacular's own, plus the type of a
    ``ModelChoiceFilter`` that filters through a method (AccountFilterSet's ``group``, ``product``):
    the chosen model's primary key, an integer, rather than a guess and a warning. The filters are
    those a filter set is built with, so filters another app contributes at build time (policies'
    ``exempted`` on accounts, ``accounts.filtersets.register_account_filter``) are described too."""

    target_class = "governance.api.filters.FilterBackend"
    priority = 1

    def get_schema_operation_parameters(self, auto_schema, *args, **kwargs):
        model = get_view_model(auto_schema.view)
        if not model:
            return []
        queryset = get_manager(model).none()
        filterset_class = self.target.get_filterset_class(auto_schema.view, queryset)
        if not filterset_class:
            return []
        result = []
        with add_trace_message(filterset_class):
            # The declared filters unbound, as drf-spectacular reads them (a bound filter derives
            # a label from the model, which would change the descriptions); the others as built.
            built = filterset_class(queryset=queryset).filters
            for field_name, filter_field in built.items():
                filter_field = filterset_class.base_filters.get(field_name, filter_field)
                result += self.resolve_filter_field(auto_schema, model, filterset_class, field_name, filter_field)
        return result

    def resolve_filter_field(self, auto_schema, model, filterset_class, field_name, filter_field):
        if isinstance(filter_field, django_filters.ModelChoiceFilter) and not has_override(filter_field, "field"):
            filter_field = copy.copy(filter_field)
            filter_field._spectacular_annotation = dict(getattr(filter_field, "_spectacular_annotation", {}))
            set_override(filter_field, "field", OpenApiTypes.INT)
        return super().resolve_filter_field(auto_schema, model, filterset_class, field_name, filter_field)
