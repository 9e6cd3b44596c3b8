import time

from ops.metrics import AUTH_OUTCOMES, LATENCY, RATE_LIMIT_HITS, REQUESTS


class MetricsMiddleware:
    """Count every request by route and status, its latency, and its authentication outcome.

    Routes are the URL patterns (``api/v1/user/api-keys/<uuid:key_id>``), never raw paths, so
    the label set stays small whatever clients send.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "<unmatched>"
        REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        LATENCY.labels(route).observe(time.perf_counter() - started)
        self._count_auth(request, response)
        return response

    @staticmethod
    def _count_auth(request, response):
        code = _error_code(response)
        principal = getattr(request, "auth", None)
        method = getattr(principal, "auth_method", None)
        if response.status_code == 401:
            AUTH_OUTCOMES.labels(method or "none", code or "authentication_failed").inc()
        elif method is not None:
            AUTH_OUTCOMES.labels(method, "valid").inc()
        if response.status_code == 429:
            RATE_LIMIT_HITS.labels(getattr(request, "keyward_rate_bucket", "other")).inc()


def _error_code(response) -> str | None:
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        code = data.get("code")
        return str(code) if code is not None else None
    return None
