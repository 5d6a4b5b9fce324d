"""``/api/webhooks/``: subscriptions, read by auditors and written by Portal admins (model permissions,
as everywhere in the API). ``url`` and ``secret`` are write-only: a response shows the destination's
scheme and host and whether a secret is stored, never either value. Writes go through
``webhook_save``/``webhook_delete`` (validated, audited)."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from governance.api.actors import api_actor
from governance.api.views import ReadViewSet
from governance.notifications.events import registered_events
from governance.notifications.models import WebhookDelivery, WebhookKind, WebhookSubscription
from governance.notifications.services import EDITABLE_FIELDS, webhook_delete, webhook_save, webhook_send_test


class WebhookSubscriptionFilterSet(django_filters.rest_framework.FilterSet):
    """The admin list's filters: kind, enabled, and subscriptions that chose an event."""

    kind = django_filters.ChoiceFilter(choices=WebhookKind.choices)
    enabled = django_filters.BooleanFilter()
    event = django_filters.CharFilter(label="Chose this event", max_length=100, method="chose_event")

    class Meta:
        model = WebhookSubscription
        fields: list[str] = []

    def chose_event(self, queryset, name, value):
        # JSON lists are matched as text (works alike on SQLite and PostgreSQL): names are quoted in it.
        return queryset.filter(events__icontains=f'"{value}"')


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.CharField(max_length=100), allow_empty=True, required=False)
    url = serializers.CharField(write_only=True, required=False, max_length=2000, trim_whitespace=True)
    secret = serializers.CharField(
        write_only=True, required=False, max_length=500, trim_whitespace=True, style={"input_type": "password"}
    )
    destination = serializers.CharField(source="url_host", read_only=True)
    has_secret = serializers.BooleanField(read_only=True)

    class Meta:
        model = WebhookSubscription
        fields = (
            "id",
            "name",
            "kind",
            "events",
            "enabled",
            "destination",
            "has_secret",
            "url",
            "secret",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "destination", "has_secret", "created_at", "updated_at")

    def validate_events(self, value):
        unknown = sorted(set(value) - set(registered_events()))
        if unknown:
            raise serializers.ValidationError(f"Unknown events: {', '.join(unknown)}.")
        return list(dict.fromkeys(value))

    def validate(self, attrs):
        if self.instance is None and not attrs.get("url"):
            raise serializers.ValidationError({"url": "A URL is needed."})
        return attrs


class TestDeliverySerializer(serializers.ModelSerializer):
    """The outcome of "send a test message": the delivery log row (its one attempt)."""

    class Meta:
        model = WebhookDelivery
        fields = ("id", "event", "event_id", "status", "attempts", "created_at", "delivered_at")
        read_only_fields = fields


class WebhookSubscriptionViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, ReadViewSet
):
    """Webhook and Slack subscriptions: which events go where."""

    queryset = WebhookSubscription.objects.all()
    serializer_class = WebhookSubscriptionSerializer
    filterset_class = WebhookSubscriptionFilterSet
    ordering = ("name",)
    ordering_fields = ("id", "name", "created_at")
    action_permissions = {"send_test": ["governance.change_webhooksubscription"]}

    def _save(self, serializer, subscription: WebhookSubscription, previous) -> None:
        data = dict(serializer.validated_data)
        new_url, new_secret = data.pop("url", ""), data.pop("secret", "")
        for field, value in data.items():
            setattr(subscription, field, value)
        serializer.instance = webhook_save(
            subscription=subscription,
            actor=api_actor(self.request),
            previous=previous,
            new_url=new_url,
            new_secret=new_secret,
        )

    def perform_create(self, serializer):
        self._save(serializer, WebhookSubscription(), None)

    def perform_update(self, serializer):
        subscription = serializer.instance
        previous = {
            name: getattr(subscription, name)
            for name in EDITABLE_FIELDS
            if name in serializer.validated_data and serializer.validated_data[name] != getattr(subscription, name)
        }
        self._save(serializer, subscription, previous)

    def perform_destroy(self, instance):
        webhook_delete(subscription=instance, actor=api_actor(self.request))

    @extend_schema(
        summary="Send a test message: one signed `test` event now, through the normal delivery path",
        description="One attempt, not retried; the answer is the delivery (status `delivered` or `failed`, "
        "the attempt's HTTP status or error), also kept in the delivery log and the audit trail.",
        request=None,
        responses={200: TestDeliverySerializer},
    )
    @action(detail=True, methods=["post"], url_path="test", pagination_class=None, filter_backends=[])
    def send_test(self, request, pk=None):
        delivery = webhook_send_test(subscription=self.get_object(), actor=api_actor(request))
        return Response(TestDeliverySerializer(delivery).data)
