"""The webhooks API (SPEC §12): a user's own webhooks and a tenant's, with their delivery logs.

``/api/v1/user/webhooks`` is the caller's own (a person, or a key with ``webhooks:*`` or
``read:all``/``write:all``); ``/api/v1/tenants/{id}/webhooks`` is a tenant's, managed by its
owners and admins (scopes ``tenants:*``), read also by staff looking on. Another owner's webhook
is 404 ``not_found``. The secret is in the creating answer only.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from core.nostore import NO_STORE
from core.principal import principal_of
from core.views import GenericApiView
from notifications import services
from notifications.selectors import delivery_list, webhook_get, webhook_list
from notifications.serializers import (
    DeliverySerializer,
    WebhookCreatedSerializer,
    WebhookCreateSerializer,
    WebhookSerializer,
)
from tenants.resolution import tenant_access
from tenants.schema import error_response
from tenants.services import MANAGERS

WEBHOOK_ID = OpenApiParameter("webhook_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
TENANT_ID = OpenApiParameter("tenant_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
ERRORS = {
    400: error_response("`validation_error` (a URL that is not http(s), or private)"),
    401: error_response("No or an invalid credential"),
    403: error_response("`insufficient_permissions`"),
    404: error_response("`not_found` (or `tenant_not_found`)"),
}
NOT_FOUND = "Webhook not found."


class WebhooksEndpoint(GenericApiView):
    """The owner of the webhooks a view reaches: the caller, or the tenant in the path."""

    scope_resource = "webhooks"
    serializer_class = WebhookSerializer
    input_serializers: dict = {}

    def get_serializer_class(self):
        return self.input_serializers.get(self.request.method, self.serializer_class)

    def owner(self, *, write: bool = False) -> dict:
        principal = principal_of(self.request)
        if principal is None or principal.user is None:
            raise exceptions.PermissionDenied(
                "Service clients have no webhooks.", code="insufficient_permissions"
            )
        return {"user": principal.user}

    def get_queryset(self):
        return webhook_list(**self.owner())

    def get_object(self):
        webhook = webhook_get(webhook_id=self.kwargs["webhook_id"], **self.owner())
        if webhook is None:
            raise exceptions.NotFound(NOT_FOUND, code="not_found")
        return webhook

    def list_webhooks(self, request):
        page = self.paginate_queryset(webhook_list(**self.owner()))
        return self.get_paginated_response(WebhookSerializer(page, many=True).data)

    def create_webhook(self, request):
        owner = self.owner(write=True)
        serializer = WebhookCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook, secret = services.webhook_create(
            **serializer.validated_data,
            **owner,
            actor=principal_of(request).user,
            request=request,
        )
        webhook.secret = secret
        return Response(
            WebhookCreatedSerializer(webhook).data, status=status.HTTP_201_CREATED, headers=NO_STORE
        )

    def delete_webhook(self, request):
        self.owner(write=True)
        services.webhook_delete(
            webhook=self.get_object(), actor=principal_of(request).user, request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def list_deliveries(self, request):
        page = self.paginate_queryset(delivery_list(webhook=self.get_object()))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)


class TenantWebhooksEndpoint(WebhooksEndpoint):
    scope_resource = "tenants"

    def owner(self, *, write: bool = False) -> dict:
        access = tenant_access(self.request, self.kwargs["tenant_id"])
        looking_on = access.role is None  # staff without a role: read only
        if (not looking_on and access.role not in MANAGERS) or (write and looking_on):
            raise exceptions.PermissionDenied(
                "Only a tenant's owners and admins manage its webhooks.",
                code="insufficient_permissions",
            )
        return {"tenant": access.tenant}


class UserWebhookListView(WebhooksEndpoint):
    input_serializers = {"POST": WebhookCreateSerializer}

    @extend_schema(
        summary="List your webhooks",
        responses={200: WebhookSerializer(many=True), **ERRORS},
        tags=["webhooks"],
    )
    def get(self, request):
        return self.list_webhooks(request)

    @extend_schema(
        summary="Add a webhook; its signing secret is in this answer only",
        request=WebhookCreateSerializer,
        responses={201: WebhookCreatedSerializer, **ERRORS},
        tags=["webhooks"],
    )
    def post(self, request):
        return self.create_webhook(request)


class UserWebhookDetailView(WebhooksEndpoint):
    @extend_schema(
        summary="Delete one of your webhooks, with its delivery log",
        parameters=[WEBHOOK_ID],
        responses={204: OpenApiResponse(description="Deleted."), **ERRORS},
        tags=["webhooks"],
    )
    def delete(self, request, webhook_id):
        return self.delete_webhook(request)


class UserWebhookDeliveriesView(WebhooksEndpoint):
    serializer_class = DeliverySerializer

    @extend_schema(
        summary="The delivery log of one of your webhooks, newest first",
        parameters=[WEBHOOK_ID],
        responses={200: DeliverySerializer(many=True), **ERRORS},
        tags=["webhooks"],
    )
    def get(self, request, webhook_id):
        return self.list_deliveries(request)


class TenantWebhookListView(TenantWebhooksEndpoint):
    input_serializers = {"POST": WebhookCreateSerializer}

    @extend_schema(
        summary="List a tenant's webhooks (owners and admins)",
        parameters=[TENANT_ID],
        responses={200: WebhookSerializer(many=True), **ERRORS},
        tags=["webhooks"],
    )
    def get(self, request, tenant_id):
        return self.list_webhooks(request)

    @extend_schema(
        summary="Add a tenant webhook; its signing secret is in this answer only",
        parameters=[TENANT_ID],
        request=WebhookCreateSerializer,
        responses={201: WebhookCreatedSerializer, **ERRORS},
        tags=["webhooks"],
    )
    def post(self, request, tenant_id):
        return self.create_webhook(request)


class TenantWebhookDetailView(TenantWebhooksEndpoint):
    @extend_schema(
        summary="Delete a tenant webhook (owners and admins)",
        parameters=[TENANT_ID, WEBHOOK_ID],
        responses={204: OpenApiResponse(description="Deleted."), **ERRORS},
        tags=["webhooks"],
    )
    def delete(self, request, tenant_id, webhook_id):
        return self.delete_webhook(request)


class TenantWebhookDeliveriesView(TenantWebhooksEndpoint):
    serializer_class = DeliverySerializer

    @extend_schema(
        summary="The delivery log of a tenant webhook, newest first",
        parameters=[TENANT_ID, WEBHOOK_ID],
        responses={200: DeliverySerializer(many=True), **ERRORS},
        tags=["webhooks"],
    )
    def get(self, request, tenant_id, webhook_id):
        return self.list_deliveries(request)
