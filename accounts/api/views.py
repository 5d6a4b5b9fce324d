"""The mirror's API: accounts (filtered by the admin's AccountFilterSet), groups, memberships,
products, organizations, and bulk account actions through the admin's bulk service."""

from django.conf import settings
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from accounts.api.filters import GroupFilterSet, MembershipFilterSet, ProductFilterSet
from accounts.api.serializers import (
    AccountSerializer,
    BulkActionRequestSerializer,
    BulkOutcomeSerializer,
    BulkRunSerializer,
    GroupSerializer,
    MembershipSerializer,
    OrganizationSerializer,
    ProductSerializer,
    ReturnDateSerializer,
)
from accounts.bulk import BULK_ACTIONS
from accounts.bulk_tasks import bulk_action_now, bulk_action_queue
from accounts.filtersets import AccountFilterSet
from accounts.models import (
    AccessEndStatus,
    Account,
    Group,
    GroupProductGrant,
    Membership,
    MembershipEnd,
    Organization,
    Product,
    ProductAccess,
)
from accounts.services.errors import ServiceRefused
from accounts.services.returns import account_return_date_set
from governance.api.actors import api_actor
from governance.api.permissions import AnyOf, ModelPermissions
from governance.api.views import ID_PATTERN, ReadViewSet, request_now
from governance.runs.models import RunTrigger, TaskRun


class AccountViewSet(ReadViewSet):
    """Mirrored accounts with their product access and groups.

    Filters are the account list's in the admin (``accounts.filtersets.AccountFilterSet``): the same
    query string selects the same accounts here and there.
    """

    queryset = Account.objects.prefetch_related(
        Prefetch("product_access", queryset=ProductAccess.objects.select_related("product").order_by("product__key")),
        Prefetch(
            "memberships", queryset=Membership.objects.select_related("group").order_by("group__name", "group_id")
        ),
        Prefetch(
            "membership_ends",
            queryset=MembershipEnd.objects.filter(status=AccessEndStatus.SCHEDULED)
            .select_related("group")
            .order_by("expires_at", "pk"),
        ),
    )
    serializer_class = AccountSerializer
    filterset_class = AccountFilterSet
    ordering_fields = ("id", "name", "email", "status", "last_active", "added_to_org", "status_changed_at")
    # The return date's only effect is a restore on that day: the permission that restores accounts.
    action_permissions = {"return_date": ["accounts.activate_account"]}

    def filterset_kwargs(self, request) -> dict:
        return {"now": request_now(request)}

    @extend_schema(
        summary="Set or clear the account's return date",
        description=(
            "On that day (in the portal's `TIME_ZONE`) the portal gives back what its policies took from the "
            "account, and tells the person. `null` clears the date. Audited as `account.return_date_set`; "
            "nothing is sent to Atlassian now."
        ),
        request=ReturnDateSerializer,
        responses={
            200: AccountSerializer,
            400: OpenApiResponse(description="A day already past, a removed account, or a missing reason."),
            403: OpenApiResponse(description="Missing accounts.activate_account."),
        },
    )
    @action(detail=True, methods=["post"], url_path="return-date", pagination_class=None, filter_backends=[])
    def return_date(self, request, pk=None):
        account = self.get_object()
        body = ReturnDateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            account_return_date_set(
                account=account,
                return_on=body.validated_data["return_on"],
                actor=api_actor(request),
                reason=body.validated_data["reason"],
            )
        except ServiceRefused as exc:
            raise serializers.ValidationError({"return_on": [str(exc)]}) from None
        return Response(AccountSerializer(self.get_queryset().get(pk=account.pk), context={"request": request}).data)


class GroupViewSet(ReadViewSet):
    queryset = Group.objects.prefetch_related(
        Prefetch("grants", queryset=GroupProductGrant.objects.select_related("product").order_by("product__key"))
    )
    serializer_class = GroupSerializer
    filterset_class = GroupFilterSet
    ordering_fields = ("id", "name", "member_count")


class MembershipViewSet(ReadViewSet):
    queryset = Membership.objects.all()
    serializer_class = MembershipSerializer
    filterset_class = MembershipFilterSet
    ordering_fields = ("id", "first_seen_at")


class ProductViewSet(ReadViewSet):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    filterset_class = ProductFilterSet
    ordering_fields = ("id", "key", "name")


class OrganizationViewSet(ReadViewSet):
    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer
    filterset_class = None
    ordering_fields = ("id", "org_id", "name")


# --- bulk actions --------------------------------------------------------------------------------------
_BULK_PERMISSIONS = AnyOf(*sorted({spec.permission for spec in BULK_ACTIONS.values()}))


@extend_schema_view(
    create=extend_schema(
        summary="Apply an action to many accounts",
        description=(
            "Up to `BULK_ACTION_INLINE_LIMIT` accounts (as in the admin) the action runs now and the answer "
            "(200) holds one result per account: done, skipped, refused (the service said no) or failed "
            "(Atlassian said no). Above it, a background task starts and the answer (202) is its status, "
            "to poll at `url`. Each account's change is audited with the API as the channel."
        ),
        request=BulkActionRequestSerializer,
        responses={
            200: BulkOutcomeSerializer,
            202: BulkRunSerializer,
            400: OpenApiResponse(description="Bad input: field errors."),
            403: OpenApiResponse(description="Missing the action's permission."),
        },
    ),
    retrieve=extend_schema(summary="Progress of a background bulk action", responses=BulkRunSerializer),
)
class BulkActionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """``POST /api/accounts/bulk/`` and ``GET /api/accounts/bulk/{id}/`` (a run's progress)."""

    queryset = TaskRun.objects.filter(name="bulk_action")
    serializer_class = BulkRunSerializer
    permission_classes = [ModelPermissions]
    pagination_class = None
    filter_backends = []
    lookup_value_regex = ID_PATTERN
    # As in the admin: holding an action's permission lets you start it; the progress page needs
    # only the right to see accounts.
    action_permissions = {"create": _BULK_PERMISSIONS, "retrieve": ["accounts.view_account"]}

    def create(self, request):
        action = request.data.get("action") if isinstance(request.data, dict) else None
        if isinstance(action, str) and action in BULK_ACTIONS:
            self._check_permission(request, action)
        serializer = BulkActionRequestSerializer(data=request.data, now=request_now(request))
        serializer.is_valid(raise_exception=True)
        action = serializer.validated_data["action"]
        params = serializer.params(serializer.validated_data)
        account_ids = serializer.selected_account_ids()
        actor = api_actor(request)
        if len(account_ids) > settings.BULK_ACTION_INLINE_LIMIT:
            run = bulk_action_queue(
                action=action, account_ids=account_ids, params=params, actor=actor, trigger=RunTrigger.API
            )
            body = BulkRunSerializer(run, context={"request": request}).data
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})
        outcome = bulk_action_now(
            action=action, account_ids=account_ids, params=params, actor=actor, trigger=RunTrigger.API
        )
        return Response(BulkOutcomeSerializer(outcome, context={"request": request}).data)

    @staticmethod
    def _check_permission(request, action: str) -> None:
        permission = BULK_ACTIONS[action].permission
        if not request.user.has_perm(permission):
            raise PermissionDenied(f"{action} needs the {permission} permission.")
