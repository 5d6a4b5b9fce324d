"""The policies API: policies (preview, run now), exemptions (create, expire), enforcements
(approve, reject) and access requests (approve, reject), each write through the admin's service."""

from dataclasses import asdict, dataclass

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.clients import MissingCredentials
from accounts.models import Organization
from accounts.services.errors import ServiceRefused
from governance.api.actors import api_actor
from governance.api.exceptions import Conflict
from governance.api.views import ReadViewSet
from governance.audit.models import AuditAction
from governance.audit.record import record_event
from governance.runs.models import RunTrigger
from policies.access.services import AccessRefused, access_request_decide
from policies.api.filters import AccessRequestFilterSet, EnforcementFilterSet, ExemptionFilterSet, PolicyFilterSet
from policies.api.serializers import (
    AccessRequestDecisionSerializer,
    AccessRequestSerializer,
    ApproveSerializer,
    EnforcementDecisionSerializer,
    EnforcementSerializer,
    ExemptionSerializer,
    ExportQuerySerializer,
    ImportRequestSerializer,
    ImportResultSerializer,
    OptionalReasonSerializer,
    PolicyRunRequestSerializer,
    PolicyRunResultSerializer,
    PolicySerializer,
    PolicyWriteSerializer,
    PreviewQuerySerializer,
    PreviewSerializer,
    ReasonSerializer,
)
from policies.models import AccessRequest, Enforcement, EnforcementStatus, Exemption, InactivityPolicy
from policies.selectors.policy_export import policies_document
from policies.selectors.preview import PolicyPreview, PreviewRow, policy_preview
from policies.services.policies import exemption_create, exemption_expire, policy_delete, policy_save
from policies.services.policy_import import policies_import
from policies.services.review import ReviewRefused, enforcement_approve, enforcement_reject
from policies.services.runs import policy_run

_CONFLICT = OpenApiResponse(description="The service refused: the message says why.")
_BAD_INPUT = OpenApiResponse(description="Bad input: field errors.")


@dataclass
class _PreviewPage:
    """A preview with one page of its rows, as ``PreviewSerializer`` reads it: the page's own
    fields here, everything else from the preview."""

    preview: PolicyPreview
    show: str
    count: int  # rows shown for ``show``, over all pages
    offset: int
    limit: int
    decisions: list[PreviewRow]

    def __getattr__(self, name: str) -> object:
        return getattr(self.preview, name)


def _reason(request) -> str:
    serializer = ReasonSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["reason"]


def _organization(request, serializer: ExportQuerySerializer) -> Organization:
    """The organization a request names, or the only one the portal mirrors."""
    serializer.is_valid(raise_exception=True)
    organization = serializer.validated_data.get("organization")
    if organization is None:
        organizations = list(Organization.objects.all()[:2])
        if len(organizations) != 1:
            raise serializers.ValidationError({"organization": "Name the organization (its id)."})
        organization = organizations[0]
    return organization


class PolicyViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, ReadViewSet):
    """Policies, written as in the admin: through ``policy_save``/``policy_delete`` (validated, audited,
    a new policy in preview). Disable one with ``PATCH {"enabled": false}``."""

    queryset = InactivityPolicy.objects.prefetch_related("products", "include_groups", "exclude_groups")
    serializer_class = PolicySerializer
    filterset_class = PolicyFilterSet
    ordering = ("name",)
    ordering_fields = ("id", "name", "created_at", "updated_at")
    action_permissions = {
        "preview": ["policies.view_inactivitypolicy"],
        "run": ["policies.run_policy"],
        "export": ["policies.view_inactivitypolicy", "policies.view_exemption"],
        "import_document": [
            "policies.add_inactivitypolicy",
            "policies.change_inactivitypolicy",
            "policies.add_exemption",
        ],
    }

    def get_serializer_class(self):
        if self.action in ("create", "update", "partial_update"):
            return PolicyWriteSerializer
        return super().get_serializer_class()

    def _save(self, serializer):
        policy, m2m = serializer.unsaved()
        reason = serializer.validated_data.get("reason", "")
        serializer.instance = policy_save(policy=policy, actor=api_actor(self.request), m2m=m2m, reason=reason)

    @extend_schema(
        summary="Create a policy (it starts in preview)",
        request=PolicyWriteSerializer,
        responses={201: PolicySerializer, 400: _BAD_INPUT},
    )
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        self._save(serializer)

    @extend_schema(
        summary='Change a policy (PATCH {"enabled": false} disables it)',
        request=PolicyWriteSerializer,
        responses={200: PolicySerializer, 400: _BAD_INPUT},
    )
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(request=PolicyWriteSerializer, responses={200: PolicySerializer, 400: _BAD_INPUT})
    def update(self, request, *args, **kwargs):
        return super().update(request, *args, **kwargs)

    def perform_update(self, serializer):
        self._save(serializer)

    @extend_schema(
        summary="Delete a policy that has never decided anything",
        description="A policy with enforcements is refused (409): disable it instead. Optional body: "
        '{"reason": "..."}, recorded in the audit trail.',
        request=OptionalReasonSerializer,
        responses={204: None, 409: _CONFLICT},
    )
    def destroy(self, request, *args, **kwargs):
        policy = self.get_object()
        body = OptionalReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            policy_delete(policy=policy, actor=api_actor(request), reason=body.validated_data["reason"])
        except ServiceRefused as exc:
            raise Conflict(str(exc)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Every policy and unexpired exemption of an organization, as one JSON document",
        description="Products are named by key, groups by name, accounts by Atlassian account id: the document "
        "can be imported into another portal (POST /api/policies/import/). The download is audited.",
        parameters=[ExportQuerySerializer],
        responses={200: OpenApiResponse(description="The policies document (JSON)."), 400: _BAD_INPUT},
        filters=False,
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def export(self, request):
        organization = _organization(request, ExportQuerySerializer(data=request.query_params))
        document = policies_document(organization, now=timezone.now())
        record_event(
            actor=api_actor(request),
            action=AuditAction.EXPORT_DOWNLOADED,
            target=organization,
            after={
                "export": "policies",
                "policies": len(document["policies"]),
                "exemptions": len(document["exemptions"]),
            },
            organization=organization.org_id,
        )
        return Response(document)

    @extend_schema(
        summary="Import a policies document: first what would change, then (dry_run false) change it",
        description="Policies are matched by name. Each policy and exemption is listed as create, change (with "
        "each field's current and imported value) or unchanged. Nothing is deleted, no policy's mode changes (a new "
        "one starts in preview) and exemptions are never edited. Applying is all or nothing and audited (each policy "
        "and exemption, and the import). A wrong entry is a 400 naming it, and nothing changes.",
        request=ImportRequestSerializer,
        responses={200: ImportResultSerializer, 400: _BAD_INPUT},
    )
    @action(detail=False, methods=["post"], url_path="import", pagination_class=None, filter_backends=[])
    def import_document(self, request):
        body = ImportRequestSerializer(data=request.data)
        organization = _organization(request, body)
        dry_run = body.validated_data["dry_run"]
        try:
            plan = policies_import(
                organization=organization,
                document=body.validated_data["document"],
                actor=api_actor(request),
                apply=not dry_run,
                reason=body.validated_data["reason"],
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"document": exc.messages}) from None
        items = [asdict(item) for item in plan.items]
        return Response({"dry_run": dry_run, "applied": plan.applied, "counts": plan.counts, "items": items})

    @extend_schema(
        summary="What the policy would do: today's decisions and the next 30 days",
        parameters=[PreviewQuerySerializer],
        responses={200: PreviewSerializer, 400: _BAD_INPUT},
        filters=False,
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def preview(self, request, pk=None):
        policy = self.get_object()
        query = PreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        show, offset, limit = (query.validated_data[k] for k in ("show", "offset", "limit"))
        preview = policy_preview(policy, timezone.now())
        rows = preview.shown(show)
        page = _PreviewPage(preview, show, len(rows), offset, limit, decisions=rows[offset : offset + limit])
        return Response(PreviewSerializer(page).data)

    @extend_schema(
        summary="Run the policy now (or a dry run)",
        description="As the admin's Run now: refused on a stale sync, halted above the cap; the run is recorded "
        "(trigger api) and audited with the API as the channel.",
        request=PolicyRunRequestSerializer,
        responses={200: PolicyRunResultSerializer, 400: _BAD_INPUT, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def run(self, request, pk=None):
        policy = self.get_object()
        body = PolicyRunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = policy_run(
                policy=policy, trigger=RunTrigger.API, actor=api_actor(request), dry_run=body.validated_data["dry_run"]
            )
        except MissingCredentials as exc:
            raise Conflict(f"Not run: {exc}") from None
        return Response(PolicyRunResultSerializer(result).data)


class ExemptionViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, ReadViewSet):
    """Exemptions are created and expired, never edited or deleted (the row stays as evidence of who
    was protected, and why): DELETE expires one, as POST .../expire/ does."""

    queryset = Exemption.objects.all()
    serializer_class = ExemptionSerializer
    filterset_class = ExemptionFilterSet
    ordering_fields = ("id", "created_at", "expires_at")
    action_permissions = {"expire": ["policies.change_exemption"], "destroy": ["policies.change_exemption"]}

    @extend_schema(
        summary="End the exemption now (the row stays, expired)",
        request=ReasonSerializer,
        responses={204: None, 400: _BAD_INPUT, 409: _CONFLICT},
    )
    def destroy(self, request, *args, **kwargs):
        self._expire(request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _expire(self, request) -> Exemption:
        exemption = self.get_object()
        reason = _reason(request)
        now = timezone.now()
        if exemption.expires_at is not None and exemption.expires_at <= now:
            raise Conflict(f"{exemption} has already expired.")
        return exemption_expire(exemption=exemption, actor=api_actor(request), reason=reason, now=now)

    @extend_schema(responses={201: ExemptionSerializer, 400: _BAD_INPUT})
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        exemption = serializer.unsaved()
        exemption.created_by = self.request.user
        serializer.instance = exemption_create(exemption=exemption, actor=api_actor(self.request))

    @extend_schema(
        summary="End the exemption now",
        request=ReasonSerializer,
        responses={200: ExemptionSerializer, 400: _BAD_INPUT, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def expire(self, request, pk=None):
        return Response(self.get_serializer(self._expire(request)).data)


class EnforcementViewSet(ReadViewSet):
    queryset = Enforcement.objects.all()
    serializer_class = EnforcementSerializer
    filterset_class = EnforcementFilterSet
    ordering_fields = ("id", "created_at", "due_at", "executed_at")
    action_permissions = {"approve": ["policies.review_enforcement"], "reject": ["policies.review_enforcement"]}

    def _awaiting_review(self) -> Enforcement:
        enforcement = self.get_object()
        if enforcement.status != EnforcementStatus.AWAITING_REVIEW:
            raise Conflict(f"{enforcement} is not awaiting review.")
        return enforcement

    @extend_schema(
        summary="Approve a queued action and carry it out now",
        description="If the person became active again, the item is cancelled instead (status cancelled). A product "
        "removal whose product comes through a group that also grants something else is refused (409, with the "
        "reason) unless `remove_shared_groups` is true.",
        request=ApproveSerializer,
        responses={200: EnforcementDecisionSerializer, 400: _BAD_INPUT, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def approve(self, request, pk=None):
        enforcement = self._awaiting_review()
        body = ApproveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            outcome = enforcement_approve(
                enforcement=enforcement,
                actor=api_actor(request),
                reason=body.validated_data["reason"],
                remove_shared_groups=body.validated_data["remove_shared_groups"],
            )
        except (ReviewRefused, MissingCredentials) as exc:
            raise Conflict(str(exc)) from None
        enforcement.refresh_from_db()
        return Response({"status": outcome, "enforcement": self.get_serializer(enforcement).data})

    @extend_schema(
        summary="Reject a queued action: nothing is done to the account",
        request=ReasonSerializer,
        responses={200: EnforcementDecisionSerializer, 400: _BAD_INPUT, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def reject(self, request, pk=None):
        enforcement = self._awaiting_review()
        reason = _reason(request)
        try:
            enforcement_reject(enforcement=enforcement, actor=api_actor(request), reason=reason)
        except ReviewRefused as exc:
            raise Conflict(str(exc)) from None
        enforcement.refresh_from_db()
        return Response({"status": enforcement.status, "enforcement": self.get_serializer(enforcement).data})


class AccessRequestViewSet(ReadViewSet):
    queryset = AccessRequest.objects.all()
    serializer_class = AccessRequestSerializer
    filterset_class = AccessRequestFilterSet
    ordering_fields = ("id", "created_at", "expires_at")
    action_permissions = {
        "approve": ["policies.decide_accessrequest"],
        "reject": ["policies.decide_accessrequest"],
    }

    def _decide(self, request, *, approve: bool):
        access_request = self.get_object()
        reason = _reason(request)
        try:
            access_request = access_request_decide(
                access_request=access_request, approve=approve, actor=api_actor(request), reason=reason
            )
        except AccessRefused as exc:
            raise Conflict(str(exc)) from None
        return Response({"access_request": self.get_serializer(access_request).data}, status=status.HTTP_200_OK)

    @extend_schema(
        summary="Approve a pending (or failed) request: giving access back is queued",
        request=ReasonSerializer,
        responses={200: AccessRequestDecisionSerializer, 400: _BAD_INPUT, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def approve(self, request, pk=None):
        return self._decide(request, approve=True)

    @extend_schema(
        summary="Reject a pending request (the person is told why)",
        request=ReasonSerializer,
        responses={200: AccessRequestDecisionSerializer, 400: _BAD_INPUT, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def reject(self, request, pk=None):
        return self._decide(request, approve=False)
