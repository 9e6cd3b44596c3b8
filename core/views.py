"""Site-wide views: liveness, and the JSON/HTML answers for 400, 404, 500 and rate limits."""

from functools import lru_cache

from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views import defaults
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import error_body
from core.middleware import is_api
from core.renderers import RenderedOnce


def see_other(url: str) -> HttpResponseRedirect:
    """A 303: after a POST the browser must GET the next page, never re-post."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


class SharedAuthenticators:
    """Authenticate with one instance of each authentication class per process, not per request.

    DRF builds every class in ``authentication_classes`` anew for each request — five, for
    most of our views — and the request it hands them to sits in reference cycles (view,
    request, response), so each set lives on until the cycle collector frees it. Ours keep no
    state between calls, which ``tests/core/test_views.py`` pins for every configured class;
    one set per class list is then the same behaviour, without building five objects and
    leaving them to the cycle collector on every API request.
    Every API view of the project has it through ``ApiView`` or ``GenericApiView`` (pinned
    by the same tests).
    """

    def get_authenticators(self):
        return authenticators_for(tuple(self.authentication_classes))


@lru_cache(maxsize=64)
def authenticators_for(classes: tuple[type, ...]) -> tuple:
    return tuple(authentication() for authentication in classes)


class ApiView(SharedAuthenticators, APIView):
    """DRF's ``APIView`` with shared authenticators: the base of every API view of ours."""


class GenericApiView(SharedAuthenticators, GenericAPIView):
    """DRF's ``GenericAPIView`` with shared authenticators, for the views that need it."""


HEALTHY = RenderedOnce(status="ok")


class HealthView(ApiView):
    """Liveness: answers while the process can serve; touches neither database nor cache."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []  # the load balancer's probe must never be rate limited

    @extend_schema(
        responses=inline_serializer("Health", {"status": serializers.CharField()}),
        auth=[],
    )
    def get(self, request):
        return Response(HEALTHY)


def rate_limited(request, exception=None):
    """django-ratelimit's RATELIMIT_VIEW: 429 (its default is 403), JSON under /api/."""
    retry_after = int(getattr(exception, "retry_after", 60) or 60)
    if is_api(request):
        response = JsonResponse(
            error_body("Rate limit exceeded", "rate_limit_error", retry_after=retry_after),
            status=429,
        )
    else:
        response = render(request, "429.html", {"retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def bad_request(request, exception=None):
    """Django's handler400 (a disallowed Host, an unreadable body outside DRF): JSON under /api/."""
    if is_api(request):
        return JsonResponse(error_body("Bad request.", "bad_request"), status=400)
    return defaults.bad_request(request, exception)


def not_found(request, exception=None):
    if is_api(request):
        return JsonResponse(error_body("Not found.", "not_found"), status=404)
    return render(request, "404.html", status=404)


def server_error(request):
    if is_api(request):
        return JsonResponse(error_body("Internal server error.", "server_error"), status=500)
    return render(request, "500.html", status=500)


def csrf_failure(request, reason=""):
    if is_api(request):
        return JsonResponse(
            error_body("CSRF token missing or incorrect.", "csrf_failed"), status=403
        )
    return render(request, "403_csrf.html", status=403)
