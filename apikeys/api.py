"""The key-management API and the verification endpoints (SPEC §3). Rules live in ``services``.

Key management (``/api/v1/user/api-keys``) is open to a person (session or JWT) for their own
keys, and to an API key only when it is a key manager (``not_key_manager`` otherwise). Scopes:
``keys:read``/``keys:write`` or ``read:all``/``write:all``. Staff acting with the ``admin``
scope may also see and manage other users' keys; for everyone else another user's key is 404.
"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from apikeys import bootstrap, services
from apikeys.limits import key_create_limit
from apikeys.models import ApiKey
from apikeys.permissions import HasPrincipal, WithinEndpointGrants
from apikeys.selectors import api_key_fresh, api_key_get, api_key_list, daily_usage
from apikeys.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeyListFilterSerializer,
    ApiKeySerializer,
    ApiKeyUpdateSerializer,
    BootstrapResponseSerializer,
    BootstrapSerializer,
    RotateSerializer,
    UsageQuerySerializer,
    UsageSerializer,
)
from apikeys.usage import usage_flush_quietly
from core.nostore import NO_STORE
from core.principal import Principal, principal_of
from core.views import ApiView, GenericApiView
from identity.limits import Limit, rate_limits_hit
from tenants.resolution import acts_as_admin
from tenants.schema import error_response

# What Swagger puts in the request body: a real key, not "string" everywhere (issue 26).
CREATE_EXAMPLE = OpenApiExample(
    "A key that reads one API's orders",
    value={
        "name": "orders sync",
        "description": "nightly export to the warehouse",
        "scopes": ["orders:read"],
        "endpoints": [{"path": "/api/v1/orders", "methods": ["GET"]}],
        "expires_at": "2030-01-01T00:00:00Z",
        "allowed_ips": ["203.0.113.0/24"],
        "rate_limit": {"per_minute": 60},
        "metadata": {"team": "billing", "ticket": "OPS-1234"},
    },
    request_only=True,
)
UPDATE_EXAMPLE = OpenApiExample(
    "Rename a key and narrow it",
    value={
        "name": "orders sync (EU)",
        "endpoints": [{"path": "/api/v1/orders", "methods": ["GET"]}],
        "metadata": {"team": "billing", "region": "eu"},
    },
    request_only=True,
)

KEY_ID = OpenApiParameter("key_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
ERRORS = {
    400: error_response("`validation_error`, or `api_key_expired` for an expired key"),
    401: error_response("No or an invalid credential"),
    403: error_response("`insufficient_permissions` or `not_key_manager`"),
    404: error_response("`not_found`: no such key among those you manage"),
    429: error_response("`rate_limit_error`"),
}
BOOTSTRAP_PER_IP = Limit(group="apikeys.bootstrap.ip", rate_setting="KEYWARD_BOOTSTRAP_RATE_PER_IP")


class KeyManagementEndpoint(GenericApiView):
    scope_resource = "keys"
    key_management = True
    serializer_class = ApiKeySerializer
    input_serializers: dict = {}

    def get_serializer_class(self):
        return self.input_serializers.get(self.request.method, self.serializer_class)

    def caller(self) -> Principal:
        principal = principal_of(self.request)
        if principal.user is None:
            raise exceptions.PermissionDenied(
                "Service clients have no keys; use a person's credential or a key manager.",
                code="insufficient_permissions",
            )
        return principal

    def get_queryset(self):
        principal = self.caller()
        return api_key_list(
            user=principal.user,
            all_users=acts_as_admin(self.request),
            bound_tenant_id=principal.tenant_id,
        )

    def get_object(self) -> ApiKey:
        principal = self.caller()
        api_key = api_key_get(
            key_id=self.kwargs["key_id"],
            user=principal.user,
            all_users=acts_as_admin(self.request),
            bound_tenant_id=principal.tenant_id,
        )
        if api_key is None:
            raise exceptions.NotFound("API key not found.", code="not_found")
        return api_key


class ApiKeyListView(KeyManagementEndpoint):
    input_serializers = {"POST": ApiKeyCreateSerializer}

    @extend_schema(
        summary="List your API keys",
        parameters=[ApiKeyListFilterSerializer],
        responses={200: ApiKeySerializer(many=True), **ERRORS},
        tags=["api keys"],
    )
    def get(self, request):
        """``?all=true`` lists every user's keys, for staff with the admin scope."""
        filters = ApiKeyListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        principal = self.caller()
        wanted = filters.validated_data
        if wanted["all"] and not acts_as_admin(request):
            raise exceptions.PermissionDenied(
                "Listing every user's keys needs the admin scope.", code="insufficient_permissions"
            )
        keys = api_key_list(
            user=principal.user,
            all_users=wanted["all"],
            bound_tenant_id=principal.tenant_id,
            is_active=wanted.get("is_active"),
            tenant_id=wanted.get("tenant_id"),
            key_type=wanted.get("key_type"),
        )
        page = self.paginate_queryset(keys)
        usage_flush_quietly(key_ids=[key.pk for key in page])
        page = list(api_key_list(user=None, all_users=True).filter(pk__in=[k.pk for k in page]))
        return self.get_paginated_response(ApiKeySerializer(page, many=True).data)

    @extend_schema(
        summary="Create an API key; the key itself is in this answer only",
        request=ApiKeyCreateSerializer,
        examples=[CREATE_EXAMPLE],
        responses={201: ApiKeyCreatedSerializer, **ERRORS},
        tags=["api keys"],
    )
    def post(self, request):
        principal = self.caller()
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rate_limits_hit(request, key_create_limit(principal.user))  # fails closed without a cache
        data = dict(serializer.validated_data)
        tenant_id = data.pop("tenant_id", None)
        tenant = None
        if tenant_id is not None:
            from tenants.models import Tenant
            from tenants.resolution import tenant_not_found

            tenant = Tenant.objects.filter(pk=tenant_id).first()
            if tenant is None:
                raise tenant_not_found()
        api_key, raw_key = services.api_key_create(
            user=principal.user,
            created_by=principal.user,
            creator=principal,
            tenant=tenant,
            request=request,
            **data,
        )
        api_key.key = raw_key
        return Response(
            ApiKeyCreatedSerializer(api_key).data, status=status.HTTP_201_CREATED, headers=NO_STORE
        )


class ApiKeyDetailView(KeyManagementEndpoint):
    input_serializers = {"PATCH": ApiKeyUpdateSerializer, "PUT": ApiKeyUpdateSerializer}

    @extend_schema(
        summary="Read one of your keys",
        parameters=[KEY_ID],
        responses={200: ApiKeySerializer, **ERRORS},
        tags=["api keys"],
    )
    def get(self, request, key_id):
        return Response(ApiKeySerializer(api_key_fresh(self.get_object())).data)

    @extend_schema(
        summary="Change a key: name, description, narrower scopes and grants, expiry, IPs, limits",
        parameters=[KEY_ID],
        request=ApiKeyUpdateSerializer,
        examples=[UPDATE_EXAMPLE],
        responses={200: ApiKeySerializer, **ERRORS},
        tags=["api keys"],
    )
    def patch(self, request, key_id):
        api_key = self.get_object()
        serializer = ApiKeyUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        principal = self.caller()
        api_key = services.api_key_update(
            api_key=api_key,
            changes=dict(serializer.validated_data),
            actor=principal.user,
            creator=principal,
            request=request,
        )
        return Response(ApiKeySerializer(api_key_fresh(api_key)).data)

    @extend_schema(
        summary="Delete a key for good",
        parameters=[KEY_ID],
        responses={204: OpenApiResponse(description="Deleted."), **ERRORS},
        tags=["api keys"],
    )
    def delete(self, request, key_id):
        principal = self.caller()
        services.api_key_delete(
            api_key=self.get_object(), actor=principal.user, creator=principal, request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyRevokeView(KeyManagementEndpoint):
    @extend_schema(
        summary="Revoke a key (reversible); refused on every node before this answers",
        parameters=[KEY_ID],
        request=None,
        responses={200: ApiKeySerializer, **ERRORS},
        tags=["api keys"],
    )
    def post(self, request, key_id):
        principal = self.caller()
        api_key = services.api_key_revoke(
            api_key=self.get_object(), actor=principal.user, creator=principal, request=request
        )
        return Response(ApiKeySerializer(api_key).data)

    @extend_schema(
        summary="Revoke a key (PUT form)",
        parameters=[KEY_ID],
        request=None,
        responses={200: ApiKeySerializer, **ERRORS},
        tags=["api keys"],
    )
    def put(self, request, key_id):
        return self.post(request, key_id)


class ApiKeyActivateView(KeyManagementEndpoint):
    @extend_schema(
        summary="Re-enable a revoked key (not an expired or a rotated one)",
        parameters=[KEY_ID],
        request=None,
        responses={200: ApiKeySerializer, 409: error_response("`already_rotated`"), **ERRORS},
        tags=["api keys"],
    )
    def post(self, request, key_id):
        principal = self.caller()
        api_key = services.api_key_activate(
            api_key=self.get_object(), actor=principal.user, creator=principal, request=request
        )
        return Response(ApiKeySerializer(api_key).data)


class ApiKeyRotateView(KeyManagementEndpoint):
    input_serializers = {"POST": RotateSerializer}

    @extend_schema(
        summary="Rotate: a new key with the same settings; the old one ends after the grace period",
        parameters=[KEY_ID],
        request=RotateSerializer,
        responses={
            201: ApiKeyCreatedSerializer,
            409: error_response("`already_rotated`"),
            **ERRORS,
        },
        tags=["api keys"],
    )
    def post(self, request, key_id):
        api_key = self.get_object()
        serializer = RotateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        principal = self.caller()
        successor, raw_key = services.api_key_rotate(
            api_key=api_key,
            grace_period_seconds=serializer.validated_data["grace_period_seconds"],
            end_grace_when_idle_seconds=serializer.validated_data["end_grace_when_idle_seconds"],
            actor=principal.user,
            creator=principal,
            request=request,
        )
        successor.key = raw_key
        return Response(
            ApiKeyCreatedSerializer(successor).data,
            status=status.HTTP_201_CREATED,
            headers=NO_STORE,
        )


class ApiKeyUsageView(KeyManagementEndpoint):
    @extend_schema(
        summary="Daily request counts of a key for the last N days (UTC), exact",
        parameters=[KEY_ID, UsageQuerySerializer],
        responses={200: UsageSerializer, **ERRORS},
        tags=["api keys"],
    )
    def get(self, request, key_id):
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        days = query.validated_data["days"]
        api_key = api_key_fresh(self.get_object())
        return Response(
            UsageSerializer(
                {
                    "key_id": api_key.pk,
                    "key_prefix": api_key.key_prefix,
                    "days": days,
                    "request_count": api_key.request_count,
                    "last_used_at": api_key.last_used_at,
                    "last_used_ip": api_key.last_used_ip,
                    "daily": daily_usage(api_key=api_key, days=days, today=timezone.now().date()),
                }
            ).data
        )


class ApiKeyInfoView(ApiView):
    """The calling key's own object: what a program learns about the key it holds.

    Any key may read itself, whatever its scopes; a key with endpoint grants only when they
    cover this path.
    """

    permission_classes = [HasPrincipal & WithinEndpointGrants]

    @extend_schema(
        summary="The calling API key's own object",
        responses={200: ApiKeySerializer, **ERRORS},
        tags=["api keys"],
    )
    def get(self, request):
        principal = principal_of(request)
        if principal.api_key is None:
            raise exceptions.PermissionDenied(
                "Only an API key has key info; this request is not authenticated by one.",
                code="insufficient_permissions",
            )
        return Response(ApiKeySerializer(api_key_fresh(principal.api_key)).data)


class BootstrapView(ApiView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []  # its own per-IP limit, which fails closed

    @extend_schema(
        summary="Issue the first key of an installation (once, ever)",
        request=BootstrapSerializer,
        responses={
            201: BootstrapResponseSerializer,
            403: error_response("`bootstrap_disabled`"),
            429: error_response("`rate_limit_error`"),
            503: error_response("The cache is down: bootstrap fails closed"),
        },
        auth=[],
        tags=["api keys"],
    )
    def post(self, request):
        serializer = BootstrapSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not bootstrap.bootstrap_available():
            raise bootstrap.bootstrap_disabled()  # spent: nothing to limit, 403 for everyone
        rate_limits_hit(request, BOOTSTRAP_PER_IP)
        api_key, raw_key = bootstrap.api_key_bootstrap(
            name=serializer.validated_data["name"],
            description=serializer.validated_data["description"],
            request=request,
        )
        body = {
            "api_key": raw_key,
            "id": api_key.pk,
            "name": api_key.name,
            "description": api_key.description,
            "message": "Bootstrap key created. Store it now: it is not shown again.",
            "note": "Bootstrap is now permanently disabled. Use this admin key to create "
            "scoped keys for your services, then revoke or narrow it.",
        }
        return Response(
            BootstrapResponseSerializer(body).data, status=status.HTTP_201_CREATED, headers=NO_STORE
        )
