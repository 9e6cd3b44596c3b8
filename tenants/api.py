"""The tenants API (SPEC §4, §9): tenants, their members and invitations, and the caller's own
invitations. Rules live in ``tenants.services``.

Every view names its tenant in the path and reaches it through ``tenant_access``: a tenant the
caller may not see is 404 ``tenant_not_found``, whatever the method. Scopes: ``tenants:read`` /
``tenants:write`` or ``read:all`` / ``write:all``.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from apikeys.permissions import IsAuthenticatedAndAllowed
from core.principal import AuthMethod, principal_of
from core.views import GenericApiView
from tenants import services
from tenants.resolution import TenantAccess, acts_as_admin, tenant_access
from tenants.schema import error_response
from tenants.selectors import (
    invitation_get_live,
    invitation_list_for_user,
    invitation_list_live,
    member_get,
    member_list,
    tenant_list_visible,
)
from tenants.serializers import (
    InvitationAnswerSerializer,
    InvitationSerializer,
    InvitedSerializer,
    MemberAddSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    TenantCreateSerializer,
    TenantListFilterSerializer,
    TenantSerializer,
    TenantUpdateSerializer,
    UserInvitationSerializer,
)

TENANT_ID = OpenApiParameter("tenant_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
USER_ID = OpenApiParameter("user_id", OpenApiTypes.INT, OpenApiParameter.PATH)
INVITATION_ID = OpenApiParameter("invitation_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
ERRORS = {
    400: error_response("`validation_error`"),
    401: error_response("No or an invalid credential"),
    403: error_response("`insufficient_permissions`: the scope or the caller's role"),
    404: error_response("`tenant_not_found`, or `not_found` for a member or an invitation"),
}
USER_INVITATION_ERRORS = {
    400: error_response("`validation_error`"),
    401: error_response("No or an invalid credential"),
    403: error_response("`insufficient_permissions`: only a person (session or JWT) answers"),
    404: error_response("`not_found`: no open invitation of yours has this id"),
}


def _with_role(access: TenantAccess):
    tenant = access.tenant
    tenant.role = access.role
    return tenant


class TenantsEndpoint(GenericApiView):
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
        summary="Invite someone by email (owner or admin; only an owner invites an owner)",
        description=(
            "Creates an invitation; the person becomes a member only when they accept it. The "
            "answer is the same whether or not the email has an account. Inviting an email "
            "whose invitation is still open renews that invitation (same id, 7 days from now)."
        ),
        parameters=[TENANT_ID],
        request=MemberAddSerializer,
        responses={202: InvitedSerializer, **ERRORS},
        tags=["tenants"],
    )
    def post(self, request, tenant_id):
        access = self.access()
        serializer = MemberAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = services.invitation_create(
            tenant=access.tenant,
            actor=principal_of(request).user,
            actor_role=access.role,
            request=request,
            **serializer.validated_data,
        )
        return Response(
            {"status": "invited", "invitation_id": str(invitation.pk)},
            status=status.HTTP_202_ACCEPTED,
        )


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


class InvitationListView(TenantsEndpoint):
    serializer_class = InvitationSerializer

    @extend_schema(
        summary="List a tenant's open invitations (owner or admin)",
        description="Pending invitations that have not expired, newest first.",
        parameters=[TENANT_ID],
        responses={200: InvitationSerializer(many=True), **ERRORS},
        tags=["tenants"],
    )
    def get(self, request, tenant_id):
        access = self.access()
        services.invitation_read_check(actor_role=access.role)
        page = self.paginate_queryset(invitation_list_live(tenant=access.tenant))
        return self.get_paginated_response(InvitationSerializer(page, many=True).data)


class InvitationDetailView(TenantsEndpoint):
    serializer_class = InvitationSerializer

    @extend_schema(
        summary="Read one open invitation (owner or admin)",
        description="An invitation that is not open in this tenant is 404 `not_found`.",
        parameters=[TENANT_ID, INVITATION_ID],
        responses={200: InvitationSerializer, **ERRORS},
        tags=["tenants"],
    )
    def get(self, request, tenant_id, invitation_id):
        access = self.access()
        services.invitation_read_check(actor_role=access.role)
        invitation = invitation_get_live(tenant=access.tenant, invitation_id=invitation_id)
        if invitation is None:
            raise exceptions.NotFound(services.NO_SUCH_INVITATION, code="not_found")
        return Response(InvitationSerializer(invitation).data)

    @extend_schema(
        summary="Cancel an open invitation (owner or admin)",
        description="The invitation closes; nobody's membership changes.",
        parameters=[TENANT_ID, INVITATION_ID],
        responses={204: OpenApiResponse(description="Cancelled."), **ERRORS},
        tags=["tenants"],
    )
    def delete(self, request, tenant_id, invitation_id):
        access = self.access()
        services.invitation_cancel(
            tenant=access.tenant,
            actor_role=access.role,
            invitation_id=invitation_id,
            request=request,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class IsPerson(BasePermission):
    """Only the person answers their invitations: a session or a user's JWT, not a key."""

    message = "Invitations are answered by the person invited: sign in, or use an access token."
    code = "insufficient_permissions"

    def has_permission(self, request, view):
        principal = principal_of(request)
        return principal is None or (
            principal.user is not None
            and principal.auth_method in (AuthMethod.SESSION, AuthMethod.JWT)
        )


class UserInvitationsEndpoint(GenericApiView):
    scope_resource = "invitations"
    permission_classes = [IsAuthenticatedAndAllowed, IsPerson]

    def get_queryset(self):
        return invitation_list_for_user(user=principal_of(self.request).user)


class UserInvitationListView(UserInvitationsEndpoint):
    serializer_class = UserInvitationSerializer

    @extend_schema(
        summary="List the open invitations to your email",
        description=(
            "Pending, unexpired invitations addressed to your account's email, oldest first. "
            "A session or a user's access token only: an API key gets 403."
        ),
        responses={200: UserInvitationSerializer(many=True), **USER_INVITATION_ERRORS},
        tags=["invitations"],
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(UserInvitationSerializer(page, many=True).data)


class UserInvitationAcceptView(UserInvitationsEndpoint):
    serializer_class = serializers.Serializer  # no body

    @extend_schema(
        summary="Accept an invitation: you become a member with its role",
        description=(
            "From then on a key or token not bound to a tenant must name one with X-Tenant-Id "
            "wherever you belong to more than one tenant."
        ),
        parameters=[INVITATION_ID],
        request=None,
        responses={200: InvitationAnswerSerializer, **USER_INVITATION_ERRORS},
        tags=["invitations"],
    )
    def post(self, request, invitation_id):
        invitation, membership = services.invitation_accept(
            user=principal_of(request).user, invitation_id=invitation_id, request=request
        )
        return Response(
            InvitationAnswerSerializer(
                {
                    "status": "accepted",
                    "invitation_id": invitation.pk,
                    "tenant": invitation.tenant,
                    "role": membership.role,
                }
            ).data
        )


class UserInvitationDeclineView(UserInvitationsEndpoint):
    serializer_class = serializers.Serializer  # no body

    @extend_schema(
        summary="Decline an invitation; nothing else changes",
        description="Someone else's, a closed or an expired invitation is 404 `not_found`.",
        parameters=[INVITATION_ID],
        request=None,
        responses={200: InvitationAnswerSerializer, **USER_INVITATION_ERRORS},
        tags=["invitations"],
    )
    def post(self, request, invitation_id):
        invitation = services.invitation_decline(
            user=principal_of(request).user, invitation_id=invitation_id, request=request
        )
        return Response(
            InvitationAnswerSerializer(
                {
                    "status": "declined",
                    "invitation_id": invitation.pk,
                    "tenant": invitation.tenant,
                    "role": None,
                }
            ).data
        )
