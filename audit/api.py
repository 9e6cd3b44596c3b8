from drf_spectacular.utils import extend_schema
from rest_framework.mixins import ListModelMixin

from audit.selectors import audit_event_list
from audit.serializers import AuditEventFilterSerializer, AuditEventSerializer
from core.views import GenericApiView


class AuditEventListView(ListModelMixin, GenericApiView):
    """The audit log, newest first. Needs the ``admin`` scope (or a staff user)."""

    admin_only = True
    serializer_class = AuditEventSerializer

    @extend_schema(parameters=[AuditEventFilterSerializer])
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    def get_queryset(self):
        filters = AuditEventFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return audit_event_list(**filters.validated_data)
