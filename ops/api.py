import logging

from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from apikeys.permissions import IsAuthenticatedAndAllowed
from core import __version__
from core.metrics import render_metrics
from core.negotiation import ContentNegotiation
from core.views import ApiView
from ops.permissions import LocalMetricsBypass

logger = logging.getLogger(__name__)


class OperatorView(ApiView):
    """Needs an ``admin``-scoped key (or a staff user), or the loopback bypass when enabled."""

    admin_only = True
    permission_classes = [LocalMetricsBypass | IsAuthenticatedAndAllowed]


STATUS_BODY = inline_serializer(
    "Status",
    {
        "status": serializers.ChoiceField(choices=["ok", "degraded"]),
        "version": serializers.CharField(),
        "database": serializers.ChoiceField(choices=["ok", "unavailable"]),
        "cache": serializers.ChoiceField(choices=["ok", "unavailable"]),
    },
)


class StatusView(OperatorView):
    @extend_schema(
        responses={
            200: STATUS_BODY,
            503: OpenApiResponse(STATUS_BODY, description="The database or the cache is down."),
        },
        description="Database and cache reachability. 503 when either is unreachable.",
    )
    def get(self, request):
        checks = {"database": _database_ok(), "cache": _cache_ok()}
        healthy = all(checks.values())
        body = {
            "status": "ok" if healthy else "degraded",
            "version": __version__,
            **{name: "ok" if ok else "unavailable" for name, ok in checks.items()},
        }
        return Response(body, status=200 if healthy else 503)


class AnyAccept(ContentNegotiation):
    """Never 406: a scraper's ``Accept`` names the exposition format, not a DRF renderer.

    What no renderer offers gets the first (JSON), which then carries only an error's body; the
    metrics themselves pick their format from ``Accept`` (``render_metrics``).
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type


class MetricsView(OperatorView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        responses={
            (200, "text/plain"): OpenApiTypes.STR,
            (200, "application/openmetrics-text"): OpenApiTypes.STR,
        },
        description="Prometheus text exposition, summed over every worker process; "
        "OpenMetrics when `Accept` asks for `application/openmetrics-text`.",
    )
    def get(self, request):
        payload, content_type = render_metrics(request.META.get("HTTP_ACCEPT", ""))
        return HttpResponse(payload, content_type=content_type)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any driver error means "unreachable" to an operator
        logger.warning("status: database unreachable", exc_info=True)
        return False
    return True


def _cache_ok() -> bool:
    try:
        cache.set("keyward:status:probe", 1, timeout=5)
        return cache.get("keyward:status:probe") == 1
    except Exception:
        logger.warning("status: cache unreachable", exc_info=True)
        return False
