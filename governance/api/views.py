"""Base view classes of the API, and the read endpoints of the bottom layer: audit events and runs."""

from django.urls import NoReverseMatch
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from governance.api.filters import AuditEventFilterSet, FilterBackend, TaskRunFilterSet
from governance.api.pagination import KeysetPagination
from governance.api.permissions import ModelPermissions
from governance.audit.models import AuditEvent
from governance.runs.models import TaskRun

# Primary keys in URLs: digits only (a bigint at most), so /accounts/bulk/ is never read as an id
# and a 30-digit number is a plain 404, not a database overflow.
ID_PATTERN = r"[0-9]{1,18}"


class ReadViewSet(viewsets.ReadOnlyModelViewSet):
    """List (cursor pages, filters, ordering) and detail, each needing the model's view permission."""

    permission_classes = [ModelPermissions]
    pagination_class = KeysetPagination
    filter_backends = [FilterBackend]
    lookup_value_regex = ID_PATTERN
    ordering = ("-id",)
    ordering_fields: tuple[str, ...] = ("id",)


def request_now(request):
    """One "now" per request, as the admin's account filters use (accounts.admin.filters.request_now)."""
    request = getattr(request, "_request", request)
    if not hasattr(request, "_api_now"):
        request._api_now = timezone.now()
    return request._api_now


# --- audit events and runs -----------------------------------------------------------------------
class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = (
            "id",
            "seq",
            "created_at",
            "actor_kind",
            "actor_user",
            "actor_name",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "organization",
            "before",
            "after",
            "reason",
            "correlation_id",
            "client_ip",
            "prev_hash",
            "hash",
        )
        read_only_fields = fields


class AuditEventViewSet(ReadViewSet):
    """The audit trail, newest first. Append-only: there is no write endpoint, whoever asks."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    cursor_unique_field = "seq"
    ordering = ("-seq",)
    ordering_fields = ("seq", "created_at")


class TaskRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = TaskRun
        fields = (
            "id",
            "name",
            "trigger",
            "organization",
            "subject",
            "started_at",
            "finished_at",
            "status",
            "counts",
            "progress",
            "error",
            "log_excerpt",
            "correlation_id",
            "started_by",
        )
        read_only_fields = fields


class TaskRunViewSet(ReadViewSet):
    """Background runs (syncs, policy runs, bulk actions ...), newest first."""

    queryset = TaskRun.objects.all()
    serializer_class = TaskRunSerializer
    filterset_class = TaskRunFilterSet
    ordering_fields = ("id", "started_at", "finished_at")


# --- the root ---------------------------------------------------------------------------------------
ROOT_LINKS = (
    ("accounts", "api:account-list"),
    ("groups", "api:group-list"),
    ("memberships", "api:membership-list"),
    ("products", "api:product-list"),
    ("organizations", "api:organization-list"),
    ("policies", "api:policy-list"),
    ("exemptions", "api:exemption-list"),
    ("enforcements", "api:enforcement-list"),
    ("access_requests", "api:accessrequest-list"),
    ("reviews", "api:reviewcampaign-list"),
    ("review_items", "api:reviewitem-list"),
    ("runs", "api:run-list"),
    ("audit_events", "api:auditevent-list"),
    ("webhooks", "api:webhook-list"),
    ("schema", "api:schema"),
    ("docs", "api:docs"),
)


class ApiRootView(APIView):
    """Links to every collection, the OpenAPI schema and its Swagger UI."""

    permission_classes = []

    @extend_schema(exclude=True)
    def get(self, request, format=None):
        links = {}
        for name, url_name in ROOT_LINKS:
            try:
                links[name] = reverse(url_name, request=request, format=format)
            except NoReverseMatch:  # an app's endpoints not installed: leave the link out
                continue
        return Response(links)
