"""The tenants API (SPEC §4): tenants and their members. Rules live in ``tenants.services``.

Every view names its tenant in the path and reaches it through ``tenant_access``: a tenant the
caller may not see is 404 ``tenant_not_found``, whatever the method. Scopes: ``tenants:read`` /
``tenants:write`` or ``read:all`` / ``write:all``.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from core.principal import principal_of
from core.views import SharedAuthenticators
from tenants import services
from tenants.resolution import TenantAccess, acts_as_admin, tenant_access
from tenants.schema import error_response
from tenants.selectors import member_get, member_list, tenant_list_visible
from tenants.serializers import (
    MemberAddSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    TenantCreateSerializer,
    TenantListFilterSerializer,
    TenantSerializer,
    TenantUpdateSerializer,
)

TENANT_ID = OpenApiParameter("tenant_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
USER_ID = OpenApiParameter("user_id", OpenApiTypes.INT, OpenApiParameter.PATH)
ERRORS = {
    400: error_response("`validation_error`"),
    401: error_response("No or an invalid credential"),
    403: error_response("`insufficient_permissions`: the scope or the caller's role"),
    404: error_response("`tenant_not_found`, or `not_found` for a member"),
}


def _with_role(access: TenantAccess):
    tenant = access.tenant
    tenant.role = access.role
    return tenant


class TenantsEndpoint(SharedAuthenticators, GenericAPIView):
    scope_resource = "tenants"
    # The browsable API builds its forms from these (``request.method`` is the form's method).
    input_serializers: dict = {}

    def get_serializer_class(self):
        return self.input_serializers.get(self.request.method, self.serializer_class)

    def access(self) -> TenantAccess:
        return tenant_access(self.request, self.kwargs["tenant_id"])

    # DRF's OPTIONS metadata and browsable API ask for these; they go through access() too.
    def get_queryset(self):
        principal = principal_of(self.request)
        return tenant_list_visible(user=principal.user, bound_tenant_id=principal.tenant_id)

    def get_object(self):
        return _with_role(self.access())


class TenantListView(TenantsEndpoint):
    serializer_class = TenantSerializer
    input_serializers = {"POST": TenantCreateSerializer}

    @extend_schema(
        summary="List your tenants, with your role in each",
        parameters=[TenantListFilterSerializer],
        responses={200: TenantSerializer(many=True), **ERRORS},
        tags=["tenants"],
    )
    def get(self, request):
        """A tenant-bound key sees its own tenant only; ``?all=true`` is for staff admins."""
        filters = TenantListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        principal = principal_of(request)
        if filters.validated_data["all"] and (
            principal.tenant_id is not None or not acts_as_admin(request)
        ):
            raise exceptions.PermissionDenied(
                "Listing every tenant needs the admin scope.", code="insufficient_permissions"
            )
        tenants = tenant_list_visible(
            user=principal.user,
            bound_tenant_id=principal.tenant_id,
            all_tenants=filters.validated_data["all"],
        )
        page = self.paginate_queryset(tenants)
        return self.get_paginated_response(TenantSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a tenant; you become its owner",
        request=TenantCreateSerializer,
        responses={201: TenantSerializer, **ERRORS},
        tags=["tenants"],
    )
    def post(self, request):
        principal = principal_of(request)
        if principal.tenant_id is not None or principal.user is None:
            raise exceptions.PermissionDenied(
                "A tenant-bound credential cannot create tenants.",
                code="insufficient_permissions",
            )
        serializer = TenantCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tenant = services.tenant_create(
            name=serializer.validated_data["name"],
            slug=serializer.validated_data.get("slug"),
            owner=principal.user,
            request=request,
        )
        tenant.role = services.Role.OWNER
        return Response(TenantSerializer(tenant).data, status=status.HTTP_201_CREATED)


class TenantDetailView(TenantsEndpoint):
    serializer_class = TenantSerializer
    input_serializers = {"PUT": TenantCreateSerializer, "PATCH": TenantUpdateSerializer}

    @extend_schema(
        summary="Read a tenant",
        parameters=[TENANT_ID],
        responses={200: TenantSerializer, **ERRORS},
        tags=["tenants"],
    )
    def get(self, request, tenant_id):
        return Response(TenantSerializer(_with_role(self.access())).data)

    @extend_schema(
        summary="Rename a tenant or change its slug (owner)",
        parameters=[TENANT_ID],
        request=TenantUpdateSerializer,
        responses={200: TenantSerializer, **ERRORS},
        tags=["tenants"],
    )
    def patch(self, request, tenant_id):
        return self._update(request, TenantUpdateSerializer)

    @extend_schema(
        summary="Replace a tenant's name (and slug, if given) (owner)",
        parameters=[TENANT_ID],
        request=TenantCreateSerializer,
        responses={200: TenantSerializer, **ERRORS},
        tags=["tenants"],
    )
    def put(self, request, tenant_id):
        return self._update(request, TenantCreateSerializer)

    def _update(self, request, serializer_class):
        access = self.access()
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.tenant_update(
            tenant=access.tenant,
            actor_role=access.role,
            request=request,
            **serializer.validated_data,
        )
        return Response(TenantSerializer(_with_role(access)).data)

    @extend_schema(
        summary="Delete a tenant with its agents and tenant-bound keys (owner)",
        parameters=[TENANT_ID],
        responses={204: OpenApiResponse(description="Deleted."), **ERRORS},
        tags=["tenants"],
    )
    def delete(self, request, tenant_id):
        access = self.access()
        services.tenant_delete(tenant=access.tenant, actor_role=access.role, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListView(TenantsEndpoint):
    serializer_class = MemberSerializer
    input_serializers = {"POST": MemberAddSerializer}

    @extend_schema(
        summary="List a tenant's members",
        parameters=[TENANT_ID],
        responses={200: MemberSerializer(many=True), **ERRORS},
        tags=["tenants"],
    )
    def get(self, request, tenant_id):
        page = self.paginate_queryset(member_list(tenant=self.access().tenant))
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    @extend_schema(
        summary="Add an existing user by email (owner or admin; only an owner adds an owner)",
        parameters=[TENANT_ID],
        request=MemberAddSerializer,
        responses={201: MemberSerializer, **ERRORS},
        tags=["tenants"],
    )
    def post(self, request, tenant_id):
        access = self.access()
        serializer = MemberAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.member_add(
            tenant=access.tenant,
            actor_role=access.role,
            request=request,
            **serializer.validated_data,
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(TenantsEndpoint):
    serializer_class = MemberSerializer
    input_serializers = {"PUT": MemberRoleSerializer, "PATCH": MemberRoleSerializer}

    @extend_schema(
        summary="Read one member",
        parameters=[TENANT_ID, USER_ID],
        responses={200: MemberSerializer, **ERRORS},
        tags=["tenants"],
    )
    def get(self, request, tenant_id, user_id):
        membership = member_get(tenant=self.access().tenant, user_id=user_id)
        if membership is None:
            raise exceptions.NotFound("No such member of this tenant.", code="not_found")
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        summary="Change a member's role",
        parameters=[TENANT_ID, USER_ID],
        request=MemberRoleSerializer,
        responses={200: MemberSerializer, **ERRORS},
        tags=["tenants"],
    )
    def patch(self, request, tenant_id, user_id):
        access = self.access()
        serializer = MemberRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.member_role_change(
            tenant=access.tenant,
            actor_role=access.role,
            user_id=user_id,
            role=serializer.validated_data["role"],
            request=request,
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        summary="Change a member's role (the same as PATCH: the role is all there is)",
        parameters=[TENANT_ID, USER_ID],
        request=MemberRoleSerializer,
        responses={200: MemberSerializer, **ERRORS},
        tags=["tenants"],
    )
    def put(self, request, tenant_id, user_id):
        return self.patch(request, tenant_id, user_id)

    @extend_schema(
        summary="Remove a member (or leave the tenant yourself)",
        parameters=[TENANT_ID, USER_ID],
        responses={204: OpenApiResponse(description="Removed."), **ERRORS},
        tags=["tenants"],
    )
    def delete(self, request, tenant_id, user_id):
        access = self.access()
        services.member_remove(
            tenant=access.tenant,
            actor=principal_of(request).user,
            actor_role=access.role,
            user_id=user_id,
            request=request,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
