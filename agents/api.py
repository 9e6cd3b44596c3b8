"""The agents API: a demo tenant-scoped resource that makes tenant isolation observable.

Every view acts in ``tenant_for_request(request)`` and reaches agents only through
``agents.selectors``. Scopes: ``agents:read`` / ``agents:write`` or ``read:all`` / ``write:all``.
"""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from agents import services
from agents.authentication import with_body_token
from agents.runs import agent_run_events, sse_stream
from agents.selectors import agent_get, agent_list
from agents.serializers import AgentRunSerializer, AgentSerializer, AgentWriteSerializer
from core.principal import principal_of
from core.views import GenericApiView
from tenants.resolution import tenant_for_request
from tenants.schema import error_response, tenant_header_parameter

AGENT_ID = OpenApiParameter("agent_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
ERRORS = {
    400: error_response("`tenant_id_required` or `validation_error`"),
    401: error_response("No or an invalid credential"),
    403: error_response("`insufficient_permissions` or `tenant_mismatch`"),
    404: error_response("`tenant_not_found`, or `not_found` for an agent"),
}


class AgentsEndpoint(GenericApiView):
    scope_resource = "agents"
    tenant_scoped = True  # acts in tenant_for_request: auth/check and keys/verify say so too
    serializer_class = AgentSerializer
    # The browsable API builds its forms from these (``request.method`` is the form's method).
    input_serializers: dict = {
        "POST": AgentWriteSerializer,
        "PUT": AgentWriteSerializer,
        "PATCH": AgentWriteSerializer,
    }

    def get_serializer_class(self):
        return self.input_serializers.get(self.request.method, self.serializer_class)

    def tenant(self):
        return tenant_for_request(self.request)

    def agent(self):
        return agent_get(tenant=self.tenant(), agent_id=self.kwargs["agent_id"])

    # DRF's OPTIONS metadata and browsable API ask for these; they go through the selectors too.
    def get_queryset(self):
        return agent_list(tenant=self.tenant())

    def get_object(self):
        return self.agent()


class AgentListView(AgentsEndpoint):
    @extend_schema(
        summary="List the tenant's agents",
        parameters=[tenant_header_parameter()],
        responses={200: AgentSerializer(many=True), **ERRORS},
        tags=["agents"],
    )
    def get(self, request):
        page = self.paginate_queryset(agent_list(tenant=self.tenant()))
        return self.get_paginated_response(AgentSerializer(page, many=True).data)

    @extend_schema(
        summary="Create an agent in the tenant",
        parameters=[tenant_header_parameter()],
        request=AgentWriteSerializer,
        responses={201: AgentSerializer, **ERRORS},
        tags=["agents"],
    )
    def post(self, request):
        tenant = self.tenant()
        serializer = AgentWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent = services.agent_create(
            tenant=tenant,
            actor=principal_of(request).user,
            request=request,
            **serializer.validated_data,
        )
        return Response(AgentSerializer(agent).data, status=status.HTTP_201_CREATED)


class AgentDetailView(AgentsEndpoint):
    @extend_schema(
        summary="Read an agent",
        parameters=[AGENT_ID, tenant_header_parameter()],
        responses={200: AgentSerializer, **ERRORS},
        tags=["agents"],
    )
    def get(self, request, agent_id):
        return Response(AgentSerializer(self.agent()).data)

    @extend_schema(
        summary="Replace an agent's name and description",
        parameters=[AGENT_ID, tenant_header_parameter()],
        request=AgentWriteSerializer,
        responses={200: AgentSerializer, **ERRORS},
        tags=["agents"],
    )
    def put(self, request, agent_id):
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change an agent's name or description",
        parameters=[AGENT_ID, tenant_header_parameter()],
        request=AgentWriteSerializer(partial=True),
        responses={200: AgentSerializer, **ERRORS},
        tags=["agents"],
    )
    def patch(self, request, agent_id):
        return self._update(request, partial=True)

    @extend_schema(
        summary="Delete an agent",
        parameters=[AGENT_ID, tenant_header_parameter()],
        responses={204: OpenApiResponse(description="Deleted."), **ERRORS},
        tags=["agents"],
    )
    def delete(self, request, agent_id):
        services.agent_delete(agent=self.agent(), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request, *, partial: bool):
        agent = self.agent()
        serializer = AgentWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        if not partial:
            serializer.validated_data.setdefault("description", "")
        agent = services.agent_update(agent=agent, request=request, **serializer.validated_data)
        return Response(AgentSerializer(agent).data)


class AgentRunView(AgentsEndpoint):
    """Run an agent and watch it as Server-Sent Events.

    Besides the usual headers, the credential may arrive as ``token`` in the JSON body (an API
    key or an access JWT), because EventSource cannot send headers. It is a write: it needs
    ``agents:write`` or ``write:all`` like any POST.
    """

    input_serializers = {"POST": AgentRunSerializer}

    def get_authenticators(self):
        return with_body_token(super().get_authenticators())

    def perform_content_negotiation(self, request, force=False):
        # A client that asks for text/event-stream must still get its errors, as JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="Run an agent: a Server-Sent Events stream",
        parameters=[AGENT_ID, tenant_header_parameter()],
        request=AgentRunSerializer,
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR,
                description=(
                    "`data: {json}` events: `started`, `step` (1..3), `done`. Errors before "
                    "the stream starts are JSON `{detail, code}`."
                ),
                examples=[
                    OpenApiExample(
                        "events",
                        value='data: {"type":"started",...}\n\ndata: {"type":"step","step":1,'
                        '"of":3,...}\n\n...\n\ndata: {"type":"done",...}\n\n',
                    )
                ],
            ),
            **ERRORS,
        },
        tags=["agents"],
    )
    def post(self, request, agent_id):
        agent = self.agent()
        serializer = AgentRunSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        events = agent_run_events(agent=agent, input_text=serializer.validated_data["input"])
        response = StreamingHttpResponse(sse_stream(events), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        # nginx buffers proxied responses unless told not to; events must arrive as they go.
        response["X-Accel-Buffering"] = "no"
        return response
