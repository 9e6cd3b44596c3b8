import ipaddress

from django.conf import settings
from rest_framework.permissions import BasePermission

from core.client_ip import has_proxy_headers


class LocalMetricsBypass(BasePermission):
    """With ``KEYWARD_LOCAL_METRICS_ENABLED``, let in a scraper on this machine.

    Only the socket peer counts, and only when no proxy header is present: a request relayed by
    a local reverse proxy has a loopback peer too, and must not pass.
    """

    def has_permission(self, request, view):
        if not settings.KEYWARD_LOCAL_METRICS_ENABLED or has_proxy_headers(request):
            return False
        try:
            return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
        except ValueError:
            return False
