"""Shadow proposals and least-privilege suggestions of a key (SPEC §12); rules in ``shadow``.

The same callers as a key PATCH (the owner, a key manager, staff with the admin scope, within a
tenant), through the same ``KeyManagementEndpoint``: another user's key is 404 here too.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from apikeys import shadow
from apikeys.api import ERRORS, KEY_ID, KeyManagementEndpoint
from apikeys.models import Proposal
from apikeys.serializers import ApiKeyUpdateSerializer

PROPOSAL_ID = OpenApiParameter("proposal_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class ProposalChangesSerializer(ApiKeyUpdateSerializer):
    """The body of a proposal: the fields of a key PATCH that shadow mode can judge."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in [name for name in self.fields if name not in shadow.PROPOSABLE]:
            del self.fields[name]  # refused by name below; not offered in the schema

    def validate(self, attrs):
        attrs = super().validate(attrs)
        others = sorted(str(name) for name in self.initial_data if name not in shadow.PROPOSABLE)
        if others:
            raise serializers.ValidationError(
                {
                    name: ["Only scopes, endpoints, allowed_ips and rate_limit can be proposed."]
                    for name in others
                }
            )
        if not attrs:
            raise serializers.ValidationError(
                "Propose one or more of: scopes, endpoints, allowed_ips, rate_limit."
            )
        return attrs


class RecentRefusalSerializer(serializers.Serializer):
    method = serializers.CharField()
    path = serializers.CharField()
    ip = serializers.IPAddressField(allow_null=True)
    rule = serializers.CharField(help_text="scopes, endpoints, allowed_ips or rate_limit")
    at = serializers.DateTimeField()


class ProposalSerializer(serializers.ModelSerializer):
    changes = serializers.JSONField(read_only=True)
    recent = RecentRefusalSerializer(many=True, read_only=True)
    applied = serializers.SerializerMethodField()

    class Meta:
        model = Proposal
        fields = [
            "id",
            "changes",
            "created_at",
            "judged",
            "would_refuse",
            "recent",
            "applied",
            "applied_at",
        ]
        read_only_fields = fields

    def get_applied(self, proposal) -> bool:
        return proposal.applied_at is not None


class SuggestionQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=shadow.MAX_SUGGESTION_DAYS, default=30)


class ObservedSerializer(serializers.Serializer):
    method = serializers.CharField()
    path = serializers.CharField(help_text="The matched route pattern (or forwarded path).")


class SuggestionSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    scopes = serializers.ListField(child=serializers.CharField())
    endpoints = serializers.ListField(child=serializers.DictField())
    removes = serializers.ListField(child=serializers.DictField())
    observed = ObservedSerializer(many=True)


class ProposalEndpoint(KeyManagementEndpoint):
    def get_proposal(self) -> Proposal:
        api_key = self.get_object()
        proposal = (
            shadow.proposals_fresh(api_key).filter(pk=_uuid_or_none(self.kwargs["proposal_id"]))
        ).first()
        if proposal is None:
            raise exceptions.NotFound("Proposal not found.", code="not_found")
        return proposal


class ProposalListView(ProposalEndpoint):
    input_serializers = {"POST": ProposalChangesSerializer}
    pagination_class = None

    @extend_schema(
        summary="A key's shadow proposals, their figures exact",
        parameters=[KEY_ID],
        responses={200: ProposalSerializer(many=True), **ERRORS},
        tags=["api keys"],
    )
    def get(self, request, key_id):
        proposals = shadow.proposals_fresh(self.get_object())
        return Response(ProposalSerializer(proposals, many=True).data)

    @extend_schema(
        summary="Propose scopes, grants, IPs or a rate limit, judged in report-only mode",
        parameters=[KEY_ID],
        request=ProposalChangesSerializer,
        responses={201: ProposalSerializer, **ERRORS},
        tags=["api keys"],
    )
    def post(self, request, key_id):
        api_key = self.get_object()
        serializer = ProposalChangesSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        principal = self.caller()
        proposal = shadow.proposal_create(
            api_key=api_key,
            changes=dict(serializer.validated_data),
            actor=principal.user,
            creator=principal,
            request=request,
        )
        return Response(ProposalSerializer(proposal).data, status=status.HTTP_201_CREATED)


class ProposalDetailView(ProposalEndpoint):
    @extend_schema(
        summary="One shadow proposal, its figures exact",
        parameters=[KEY_ID, PROPOSAL_ID],
        responses={200: ProposalSerializer, **ERRORS},
        tags=["api keys"],
    )
    def get(self, request, key_id, proposal_id):
        return Response(ProposalSerializer(self.get_proposal()).data)

    @extend_schema(
        summary="Drop a shadow proposal",
        parameters=[KEY_ID, PROPOSAL_ID],
        responses={204: OpenApiResponse(description="Deleted."), **ERRORS},
        tags=["api keys"],
    )
    def delete(self, request, key_id, proposal_id):
        principal = self.caller()
        shadow.proposal_delete(
            proposal=self.get_proposal(), actor=principal.user, creator=principal, request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProposalApplyView(ProposalEndpoint):
    @extend_schema(
        summary="Make a proposal live: a PATCH of the key, under the escalation rule",
        parameters=[KEY_ID, PROPOSAL_ID],
        request=None,
        responses={200: ProposalSerializer, 409: OpenApiResponse(description="Applied."), **ERRORS},
        tags=["api keys"],
    )
    def post(self, request, key_id, proposal_id):
        principal = self.caller()
        proposal = shadow.proposal_apply(
            proposal=self.get_proposal(), actor=principal.user, creator=principal, request=request
        )
        return Response(ProposalSerializer(proposal).data)


class SuggestionView(KeyManagementEndpoint):
    @extend_schema(
        summary="The narrowest scopes and grants that admitted the key's last N days of traffic",
        parameters=[KEY_ID, SuggestionQuerySerializer],
        responses={200: SuggestionSerializer, **ERRORS},
        tags=["api keys"],
    )
    def get(self, request, key_id):
        query = SuggestionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        suggestion = shadow.suggestion_for(self.get_object(), days=query.validated_data["days"])
        return Response(SuggestionSerializer(suggestion).data)


def _uuid_or_none(value):
    import uuid

    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
