"""The real URLs plus probe views with ``scope_resource = "probe"``, for the token tests."""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from core.principal import principal_of
from tenants.resolution import tenant_for_request


class ProbeView(APIView):
    scope_resource = "probe"

    def get(self, request):
        principal = principal_of(request)
        return Response(
            {
                "auth_method": principal.auth_method,
                "scopes": list(principal.scopes),
                "tenant_id": principal.tenant_id,
                "client_id": getattr(principal.service_client, "client_id", None),
                "user_is_authenticated": request.user.is_authenticated,
                "user_is_staff": request.user.is_staff,
            }
        )

    def post(self, request):
        return Response({"written": True}, status=201)


class ProbeTenantView(APIView):
    scope_resource = "probe"

    def get(self, request):
        return Response({"tenant": str(tenant_for_request(request).pk)})


class ProbeAdminView(APIView):
    admin_only = True

    def get(self, request):
        return Response({"admin": True})


urlpatterns = [
    path("api/v1/probe", ProbeView.as_view()),
    path("api/v1/probe/tenant", ProbeTenantView.as_view()),
    path("api/v1/probe/admin", ProbeAdminView.as_view()),
    path("", include("config.urls")),
]
