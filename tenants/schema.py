"""OpenAPI pieces shared by tenant-scoped views: the tenant header and the error body."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers


def tenant_header_parameter() -> OpenApiParameter:
    """The ``X-Tenant-Id`` header as the schema shows it.

    Built when the views are imported, so the schema names the header configured at startup;
    resolution itself reads ``KEYWARD_TENANT_HEADER`` on every request.
    """
    return OpenApiParameter(
        name=settings.KEYWARD_TENANT_HEADER,
        type=OpenApiTypes.UUID,
        location=OpenApiParameter.HEADER,
        required=False,
        description=(
            "The tenant to act in, for a credential not bound to one. Needed when the caller "
            "belongs to more than one tenant (400 tenant_id_required otherwise); a tenant the "
            "caller is not a member of is 404 tenant_not_found; a tenant-bound key naming "
            "another tenant is 403 tenant_mismatch."
        ),
    )


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


ErrorSerializer = inline_serializer(
    "TenantError",
    {
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()), required=False
        ),
    },
)
