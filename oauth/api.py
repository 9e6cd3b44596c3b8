"""The token endpoint (RFC 6749 §4.4) and the service-client admin API (SPEC §5).

Views parse and serialise; the rules live in ``oauth.services``. The token endpoint answers
every error in RFC 6749 §5.2's shape plus SPEC §8's ``detail``/``code``, by itself, whatever the
global exception handler does.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.errors import RateLimitExceeded, ServiceUnavailable
from core.nostore import NO_STORE
from core.principal import principal_of
from core.views import ApiView, GenericApiView
from oauth import services
from oauth.protocol import BASIC_REALM, FORM_CONTENT_TYPE, OAuthError, token_request_parse
from oauth.ratelimits import token_rate_limit_client, token_rate_limit_ip
from oauth.selectors import service_client_get, service_client_list
from oauth.serializers import (
    ErrorSerializer,
    OAuthErrorSerializer,
    ServiceClientCreateSerializer,
    ServiceClientFilterSerializer,
    ServiceClientSerializer,
    ServiceClientUpdateSerializer,
    ServiceClientWithSecretSerializer,
    TokenRequestSerializer,
    TokenResponseSerializer,
)
from tenants.models import Tenant


def _oauth_error(description: str) -> OpenApiResponse:
    return OpenApiResponse(OAuthErrorSerializer, description=description)


class JSONOnlyNegotiation(BaseContentNegotiation):
    """The token endpoint answers JSON whatever ``Accept`` says (RFC 6749 §5.1)."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class OAuthEndpoint(ApiView):
    """An RFC 6749-family endpoint: reads its own form body, answers JSON and OAuth errors."""

    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = []  # ``oauth.protocol`` reads the body itself, strictly
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnlyNegotiation

    def handle_exception(self, exc):
        error = _as_oauth_error(exc)
        if error is None:
            return super().handle_exception(exc)
        body = error.body()
        headers = dict(NO_STORE)
        if error.status == status.HTTP_401_UNAUTHORIZED:
            headers["WWW-Authenticate"] = BASIC_REALM
        if isinstance(exc, RateLimitExceeded):
            body["retry_after"] = exc.retry_after
            headers["Retry-After"] = str(exc.retry_after)
        response = Response(body, status=error.status, headers=headers)
        response.exception = True
        return response


class TokenView(OAuthEndpoint):
    """``POST /oauth2/token``: the client-credentials grant."""

    @extend_schema(
        summary="Obtain an access token with client credentials (RFC 6749 §4.4)",
        description=(
            "Client authentication by HTTP Basic (`client_id:client_secret`, each "
            "form-urlencoded) or by the `client_id`/`client_secret` form fields, never both. "
            "Rate-limited per client IP and per client_id."
        ),
        request={FORM_CONTENT_TYPE: TokenRequestSerializer},
        responses={
            200: TokenResponseSerializer,
            400: _oauth_error(
                "`invalid_request`, `unsupported_grant_type` or `invalid_scope` (RFC 6749 §5.2)"
            ),
            401: _oauth_error("`invalid_client`, with `WWW-Authenticate: Basic`"),
            405: _oauth_error("Only POST"),
            429: _oauth_error("`rate_limit_error`, with `Retry-After`"),
            503: _oauth_error("`temporarily_unavailable`: the rate-limit cache is unreachable"),
        },
        examples=[
            OpenApiExample(
                "Token",
                value={
                    "access_token": "eyJhbGciOiJIUzI1NiIs...",
                    "token_type": "bearer",
                    "expires_in": 3600,
                    "scope": "agents:read",
                },
                response_only=True,
            )
        ],
        auth=[],
        tags=["oauth2"],
    )
    def post(self, request):
        http_request = request._request
        token_rate_limit_ip(http_request)
        try:
            token_request = token_request_parse(http_request)
        except OAuthError as exc:
            services.token_denied_record(request=http_request, error=exc)
            raise
        token_rate_limit_client(http_request, client_id=token_request.client_id)
        issued = services.client_credentials_token_issue(
            token_request=token_request, request=http_request
        )
        return Response(issued.as_response(), headers=NO_STORE)


def _as_oauth_error(exc) -> OAuthError | None:
    if isinstance(exc, OAuthError):
        return exc
    if isinstance(exc, RateLimitExceeded):
        return OAuthError("rate_limit_error", "Rate limit exceeded", status=429)
    if isinstance(exc, ServiceUnavailable):
        # Fail closed: without the cache no limit can be counted.
        return OAuthError(
            "temporarily_unavailable",
            "The token service is unavailable; try again shortly.",
            status=503,
            code="service_unavailable",
        )
    if isinstance(exc, exceptions.AuthenticationFailed | exceptions.NotAuthenticated):
        # An API key presented to introspection (``oauth.introspection_api``) that failed.
        code = exc.get_codes()
        return OAuthError(
            "invalid_client",
            str(exc.detail),
            status=401,
            code=code if isinstance(code, str) else "invalid_client",
        )
    if isinstance(exc, exceptions.APIException):  # 405 and the like
        return OAuthError("invalid_request", str(exc.detail), status=exc.status_code)
    return None


CLIENT_ID = OpenApiParameter("client_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="`validation_error`"),
    401: OpenApiResponse(ErrorSerializer, description="No or an invalid credential"),
    403: OpenApiResponse(
        ErrorSerializer,
        description="`insufficient_permissions` (needs the admin scope of a staff owner, or a "
        "staff session/JWT) or `tenant_mismatch`",
    ),
    404: OpenApiResponse(ErrorSerializer, description="`not_found`"),
}


class ServiceClientsEndpoint(GenericApiView):
    """Administrative: the ``admin`` scope of a staff-owned key, or a staff session/JWT.

    A tenant-bound caller sees and creates clients of its own tenant only.
    """

    admin_only = True
    serializer_class = ServiceClientSerializer
    # The browsable API builds its forms from these (``request.method`` is the form's method).
    input_serializers: dict = {}

    def get_serializer_class(self):
        return self.input_serializers.get(self.request.method, self.serializer_class)

    def bound_tenant_id(self):
        return principal_of(self.request).tenant_id

    def get_queryset(self):
        return service_client_list(tenant_id=self.bound_tenant_id())

    def get_object(self):
        client = service_client_get(
            client_id=self.kwargs["client_id"], tenant_id=self.bound_tenant_id()
        )
        if client is None:
            raise exceptions.NotFound("No service client has this id.", code="not_found")
        return client

    def actor(self):
        return principal_of(self.request).user


class ServiceClientListView(ServiceClientsEndpoint):
    input_serializers = {"POST": ServiceClientCreateSerializer}

    @extend_schema(
        summary="List service clients",
        parameters=[ServiceClientFilterSerializer],
        responses={200: ServiceClientSerializer(many=True), **ERRORS},
        tags=["service-clients"],
    )
    def get(self, request):
        filters = ServiceClientFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        clients = service_client_list(
            tenant_id=self.bound_tenant_id(), is_active=filters.validated_data["is_active"]
        )
        if "tenant_id" in filters.validated_data:
            clients = clients.filter(tenant_id=filters.validated_data["tenant_id"])
        page = self.paginate_queryset(clients)
        return self.get_paginated_response(ServiceClientSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a service client; its secret is in this answer and never again",
        request=ServiceClientCreateSerializer,
        responses={201: ServiceClientWithSecretSerializer, **ERRORS},
        tags=["service-clients"],
    )
    def post(self, request):
        serializer = ServiceClientCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tenant = data.get("tenant_id")
        bound = self.bound_tenant_id()
        if bound is not None:
            if tenant is not None and tenant.pk != bound:
                raise exceptions.PermissionDenied(
                    "A tenant-bound credential creates clients of its own tenant only.",
                    code="tenant_mismatch",
                )
            tenant = tenant or Tenant.objects.get(pk=bound)
        client, secret = services.service_client_create(
            name=data["name"],
            scopes=data["scopes"],
            tenant=tenant,
            created_by=self.actor(),
            request=request,
        )
        body = {**ServiceClientSerializer(client).data, "client_secret": secret}
        return Response(body, status=status.HTTP_201_CREATED, headers=NO_STORE)


class ServiceClientDetailView(ServiceClientsEndpoint):
    input_serializers = {"PATCH": ServiceClientUpdateSerializer}

    @extend_schema(
        summary="Read a service client",
        parameters=[CLIENT_ID],
        responses={200: ServiceClientSerializer, **ERRORS},
        tags=["service-clients"],
    )
    def get(self, request, client_id):
        return Response(ServiceClientSerializer(self.get_object()).data)

    @extend_schema(
        summary="Rename, change scopes, or (de)activate a service client",
        description="Narrowed scopes and deactivation apply to tokens already issued, at once.",
        parameters=[CLIENT_ID],
        request=ServiceClientUpdateSerializer,
        responses={200: ServiceClientSerializer, **ERRORS},
        tags=["service-clients"],
    )
    def patch(self, request, client_id):
        client = self.get_object()
        serializer = ServiceClientUpdateSerializer(data=request.data, context={"client": client})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        client = services.service_client_update(
            client=client,
            name=data.get("name"),
            scopes=data.get("scopes"),
            is_active=data.get("is_active"),
            request=request,
            actor=self.actor(),
        )
        return Response(ServiceClientSerializer(client).data)

    @extend_schema(
        summary="Delete a service client; its tokens stop working at once",
        parameters=[CLIENT_ID],
        responses={204: OpenApiResponse(description="Deleted."), **ERRORS},
        tags=["service-clients"],
    )
    def delete(self, request, client_id):
        services.service_client_delete(
            client=self.get_object(), request=request, actor=self.actor()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ServiceClientRotateSecretView(ServiceClientsEndpoint):
    @extend_schema(
        summary="Replace a client's secret; the new one is in this answer and never again",
        description="The old secret stops working at once; tokens already issued run out.",
        parameters=[CLIENT_ID],
        request=None,
        responses={200: ServiceClientWithSecretSerializer, **ERRORS},
        tags=["service-clients"],
    )
    def post(self, request, client_id):
        client, secret = services.service_client_rotate_secret(
            client=self.get_object(), request=request, actor=self.actor()
        )
        body = {**ServiceClientSerializer(client).data, "client_secret": secret}
        return Response(body, headers=NO_STORE)
