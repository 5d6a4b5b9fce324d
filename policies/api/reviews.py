"""The access reviews API (``/api/reviews/``): campaigns over a scope (portal admins start, close and
raise the cap; auditors read and download the evidence) and their items (reviewers see and decide
only their own, ``items_of``; Portal admins and the help desk give back what a closed review
removed), each write through ``policies.services.reviews`` (campaigns) and ``review_items`` (items)
like the admin's."""

import json

import django_filters
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from accounts.clients import MissingCredentials, client_for
from accounts.models import Group, Organization, Product
from governance.api.actors import api_actor
from governance.api.exceptions import Conflict
from governance.api.filters import MAX_ID, IdFilter
from governance.api.permissions import AnyOf
from governance.api.views import ReadViewSet
from governance.csvexport import streaming_csv_response
from policies.api.serializers import ReasonSerializer
from policies.models import (
    CampaignStatus,
    ItemOutcome,
    ReviewCampaign,
    ReviewDecision,
    ReviewItem,
    ReviewScope,
    UndecidedOutcome,
)
from policies.models.reviews import CAMPAIGN_START_FIELDS
from policies.selectors.reviews import EVIDENCE_HEADER, evidence_rows, reviewer_candidates, with_progress
from policies.services.review_give_back import item_give_back_refuse
from policies.services.review_items import item_restore, items_decide, items_of
from policies.services.reviews import (
    ReviewRefused,
    campaign_check,
    campaign_close,
    campaign_raise_cap,
    campaign_start,
    evidence_exported,
)

_CONFLICT = OpenApiResponse(description="The service refused: the message says why.")
_BAD_INPUT = OpenApiResponse(description="Bad input: field errors.")
SEE_ALL = "policies.view_reviewcampaign"
MAX_CAP = 1_000_000  # well inside the column (a PositiveIntegerField)


class CsvRenderer(BaseRenderer):
    """Lets a caller ask for ``Accept: text/csv``: the CSV itself is a streamed Django response that
    no renderer touches; only an error (403, 404) comes through here, written as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


# -- serializers -----------------------------------------------------------------------------------
class CampaignSerializer(serializers.ModelSerializer):
    items = serializers.IntegerField(source="n_items", read_only=True, help_text="Items (memberships) reviewed.")
    decided = serializers.IntegerField(source="n_decided", read_only=True)
    to_revoke = serializers.IntegerField(source="n_revoke", read_only=True, help_text="Decided revoke so far.")

    class Meta:
        model = ReviewCampaign
        fields: tuple[str, ...] = (
            "id",
            *CAMPAIGN_START_FIELDS,
            "reminded_at",
            "status",
            "status_note",
            "created_by",
            "created_at",
            "closed_at",
            "items",
            "decided",
            "to_revoke",
        )
        read_only_fields: tuple[str, ...] = fields


class CampaignStartSerializer(serializers.Serializer):
    organization = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all())
    name = serializers.CharField(max_length=200)
    scope = serializers.ChoiceField(
        choices=ReviewScope.choices,
        default=ReviewScope.GROUPS,
        help_text="groups: members of `groups` (revoke: leave the group); products: holders of `products` (revoke: "
        "that product's access); external: external accounts (revoke: suspend); org_admins: organization admins "
        "(revoke: handed to a person to do by hand in Atlassian).",
    )
    groups = serializers.PrimaryKeyRelatedField(queryset=Group.objects.all(), many=True, required=False, default=list)
    products = serializers.PrimaryKeyRelatedField(
        queryset=Product.objects.all(), many=True, required=False, default=list
    )
    external_only = serializers.BooleanField(default=False)
    reviewer = serializers.PrimaryKeyRelatedField(
        queryset=reviewer_candidates(), required=False, allow_null=True, default=None
    )
    fallback_reviewer = serializers.PrimaryKeyRelatedField(
        queryset=reviewer_candidates(), required=False, allow_null=True, default=None
    )
    deadline = serializers.DateTimeField()
    remind_days_before = serializers.IntegerField(min_value=0, max_value=365, default=2)
    undecided = serializers.ChoiceField(choices=UndecidedOutcome.choices, default=UndecidedOutcome.KEEP)
    max_revocations = serializers.IntegerField(min_value=0, max_value=MAX_CAP, default=25)

    def validate(self, attrs):
        try:
            campaign_check(
                organization=attrs["organization"],
                name=attrs["name"],
                groups=attrs["groups"],
                deadline=attrs["deadline"],
                reviewer=attrs["reviewer"],
                fallback_reviewer=attrs["fallback_reviewer"],
                scope=attrs["scope"],
                products=attrs["products"],
            )
        except ReviewRefused as exc:
            raise serializers.ValidationError(str(exc)) from None
        return attrs


class RaiseCapSerializer(ReasonSerializer):
    max_revocations = serializers.IntegerField(min_value=1, max_value=MAX_CAP)


class ItemSerializer(serializers.ModelSerializer):
    campaign_name = serializers.CharField(source="campaign.name", read_only=True)
    account_id = serializers.CharField(source="account.account_id", read_only=True)
    account_email = serializers.CharField(source="account.email", read_only=True, allow_null=True)
    group_name = serializers.CharField(source="group.name", read_only=True, allow_null=True)
    product_name = serializers.CharField(source="product.name", read_only=True, allow_null=True)
    scope = serializers.CharField(source="campaign.scope", read_only=True)
    access = serializers.CharField(read_only=True, help_text="What is reviewed, in words.")

    class Meta:
        model = ReviewItem
        fields: tuple[str, ...] = (
            "id",
            "campaign",
            "campaign_name",
            "account",
            "account_id",
            "account_email",
            "scope",
            "access",
            "group",
            "group_name",
            "product",
            "product_name",
            "reviewer",
            "decision",
            "reason",
            "decided_at",
            "outcome",
            "outcome_detail",
            "acted_at",
            "removed",
            "give_back_status",
            "give_back_justification",
            "give_back_requested_at",
            "give_back_decided_at",
            "give_back_refusal",
        )
        read_only_fields: tuple[str, ...] = fields


class DecideSerializer(ReasonSerializer):
    decision = serializers.ChoiceField(choices=ReviewDecision.choices)


class BulkDecideSerializer(DecideSerializer):
    items = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1, max_length=1000
    )


# -- filters ---------------------------------------------------------------------------------------
class CampaignFilterSet(django_filters.rest_framework.FilterSet):
    organization = IdFilter(field_name="organization_id")
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices)
    scope = django_filters.ChoiceFilter(choices=ReviewScope.choices)

    class Meta:
        model = ReviewCampaign
        fields: list[str] = []


class ItemFilterSet(django_filters.rest_framework.FilterSet):
    campaign = IdFilter(field_name="campaign_id")
    group = IdFilter(field_name="group_id")
    product = IdFilter(field_name="product_id")
    account = IdFilter(field_name="account_id")
    reviewer = IdFilter(field_name="reviewer_id")
    decision = django_filters.ChoiceFilter(
        choices=(("undecided", "Undecided"), *ReviewDecision.choices), method="filter_decision"
    )
    outcome = django_filters.ChoiceFilter(choices=[(v, label) for v, label in ItemOutcome.choices if v])

    class Meta:
        model = ReviewItem
        fields: list[str] = []

    def filter_decision(self, queryset, name, value):
        return queryset.filter(decision="" if value == "undecided" else value)


# -- views -----------------------------------------------------------------------------------------
class ReviewCampaignViewSet(ReadViewSet):
    """Campaigns: everyone with a role reads them all; a reviewer only those with items of theirs."""

    queryset = ReviewCampaign.objects.all()
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilterSet
    ordering_fields = ("id", "deadline", "created_at")
    action_permissions = {
        "list": AnyOf(SEE_ALL, "policies.view_reviewitem"),
        "retrieve": AnyOf(SEE_ALL, "policies.view_reviewitem"),
        "create": ["policies.add_reviewcampaign"],
        "close": ["policies.change_reviewcampaign"],
        "raise_cap": ["policies.change_reviewcampaign"],
        "evidence": [SEE_ALL],
    }

    def get_queryset(self) -> QuerySet[ReviewCampaign]:
        campaigns = with_progress(ReviewCampaign.objects.all()).prefetch_related("groups")
        if self.request.user.has_perm(SEE_ALL):
            return campaigns
        return campaigns.filter(pk__in=items_of(self.request.user).values("campaign_id"))

    def _respond(self, campaign: ReviewCampaign, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=campaign.pk)).data, status=code)

    @extend_schema(
        summary="Start a campaign: one item per current membership of the groups, reviewers emailed",
        request=CampaignStartSerializer,
        responses={201: CampaignSerializer, 400: _BAD_INPUT},
    )
    def create(self, request, *args, **kwargs):
        body = CampaignStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            campaign = campaign_start(actor=api_actor(request), **body.validated_data)
        except ReviewRefused as exc:
            raise serializers.ValidationError(str(exc)) from None
        return self._respond(campaign, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Close: remove revoked memberships (and undecided ones if the campaign says so), keep the rest",
        description="Over the cap nothing is removed and the campaign is `halted` (200, see `status_note`): raise "
        "the cap, then close again. Closing a closed campaign changes nothing.",
        request=ReasonSerializer,
        responses={200: CampaignSerializer, 400: _BAD_INPUT, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def close(self, request, pk=None):
        campaign = self.get_object()
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            with client_for(campaign.organization) as client:
                campaign_close(
                    campaign=campaign, client=client, actor=api_actor(request), reason=body.validated_data["reason"]
                )
        except MissingCredentials as exc:
            raise Conflict(str(exc)) from None
        return self._respond(campaign)

    @extend_schema(
        summary="Let closing remove up to a new number of memberships",
        request=RaiseCapSerializer,
        responses={200: CampaignSerializer, 400: _BAD_INPUT, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], url_path="raise-cap", pagination_class=None, filter_backends=[])
    def raise_cap(self, request, pk=None):
        campaign = self.get_object()
        body = RaiseCapSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if campaign.status == CampaignStatus.CLOSED:
            raise Conflict("The campaign is closed.")
        campaign_raise_cap(
            campaign=campaign,
            max_revocations=body.validated_data["max_revocations"],
            actor=api_actor(request),
            reason=body.validated_data["reason"],
        )
        return self._respond(campaign)

    @extend_schema(
        summary="The evidence as CSV: every item's reviewer, decision, time, reason and the action carried out",
        description="Formula-safe; the download is recorded in the audit trail.",
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=None,
        filter_backends=[],
        renderer_classes=[JSONRenderer, CsvRenderer],
    )
    def evidence(self, request, pk=None):
        campaign = self.get_object()
        evidence_exported(campaign=campaign, actor=api_actor(request), via="api")
        return streaming_csv_response(
            f"access-review-{campaign.pk}-evidence.csv", EVIDENCE_HEADER, evidence_rows(campaign)
        )


class ReviewItemViewSet(ReadViewSet):
    """Items: reviewers read and decide their own only (another's is 404); the other roles read all."""

    queryset = ReviewItem.objects.all()
    serializer_class = ItemSerializer
    filterset_class = ItemFilterSet
    ordering_fields = ("id", "decided_at")
    action_permissions = {
        "decide": ["policies.decide_reviewitem"],
        "decide_many": ["policies.decide_reviewitem"],
        "restore": ["policies.restore_reviewitem"],
        "refuse_request": ["policies.restore_reviewitem"],
    }

    def get_queryset(self) -> QuerySet[ReviewItem]:
        return items_of(self.request.user).select_related("campaign", "account", "group", "product")

    def _decide(self, request, items: list[ReviewItem], body: DecideSerializer) -> int:
        if any(item.reviewer_id != request.user.pk for item in items):
            raise PermissionDenied("You can only decide items assigned to you.")
        try:
            return items_decide(
                items=items,
                decision=body.validated_data["decision"],
                reason=body.validated_data["reason"],
                user=request.user,
                actor=api_actor(request),
            )
        except ReviewRefused as exc:
            raise Conflict(str(exc)) from None

    @extend_schema(
        summary="Keep or revoke one item (until the campaign closes a decision may be changed)",
        request=DecideSerializer,
        responses={200: ItemSerializer, 400: _BAD_INPUT, 403: None, 404: None, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def decide(self, request, pk=None):
        item = self.get_object()
        body = DecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self._decide(request, [item], body)
        return Response(self.get_serializer(self.get_queryset().get(pk=item.pk)).data)

    @extend_schema(
        operation_id="reviews_items_decide_many",
        summary="Keep or revoke many items at once (all yours, all in open campaigns, or none is decided)",
        request=BulkDecideSerializer,
        responses={200: OpenApiTypes.OBJECT, 400: _BAD_INPUT, 403: None, 404: None, 409: _CONFLICT},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="decide",
        url_name="decide-many",
        pagination_class=None,
        filter_backends=[],
    )
    def decide_many(self, request):
        body = BulkDecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        wanted = set(body.validated_data["items"])
        items = list(self.get_queryset().filter(pk__in=wanted))
        missing = wanted - {item.pk for item in items}
        if missing:
            raise NotFound(f"No such items: {', '.join(str(pk) for pk in sorted(missing))}.")
        return Response({"decided": self._decide(request, items, body)})

    @extend_schema(
        summary="Give back what closing the review removed for this item, exactly (audited)",
        description="The group membership, the product's groups and roles, or the suspension lifted. Only an item "
        "whose outcome is `revoked` can be given back (409 otherwise, and when Atlassian refuses); it is then "
        "`restored`.",
        request=ReasonSerializer,
        responses={200: ItemSerializer, 400: _BAD_INPUT, 403: None, 404: None, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def restore(self, request, pk=None):
        item = self.get_object()
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            with client_for(item.campaign.organization) as client:
                item_restore(item=item, client=client, actor=api_actor(request), reason=body.validated_data["reason"])
        except (ReviewRefused, MissingCredentials) as exc:
            raise Conflict(str(exc)) from None
        return Response(self.get_serializer(self.get_queryset().get(pk=item.pk)).data)

    @extend_schema(
        summary="Refuse the person's request to have this item's access back (audited, person emailed)",
        description="For an item whose `give_back_status` is `requested` (asked through the link in the email "
        "closing the review sent); the access stays removed and the reason is sent to the person. 409 when "
        "nobody is waiting for an answer.",
        request=ReasonSerializer,
        responses={200: ItemSerializer, 400: _BAD_INPUT, 403: None, 404: None, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], url_path="refuse-request", pagination_class=None, filter_backends=[])
    def refuse_request(self, request, pk=None):
        item = self.get_object()
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            item_give_back_refuse(item=item, actor=api_actor(request), reason=body.validated_data["reason"])
        except ReviewRefused as exc:
            raise Conflict(str(exc)) from None
        return Response(self.get_serializer(self.get_queryset().get(pk=item.pk)).data)
