from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView

from audit.selectors import audit_event_list
from audit.serializers import AuditEventFilterSerializer, AuditEventSerializer
from core.views import SharedAuthenticators


class AuditEventListView(SharedAuthenticators, ListAPIView):
    """The audit log, newest first. Needs the ``admin`` scope (or a staff user)."""

    admin_only = True
    serializer_class = AuditEventSerializer

    @extend_schema(parameters=[AuditEventFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = AuditEventFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return audit_event_list(**filters.validated_data)
