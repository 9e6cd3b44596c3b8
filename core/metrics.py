"""Prometheus metrics. Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` makes every worker write
its samples to a shared directory and ``render_metrics`` sums them (prometheus-client's
multiprocess mode); in one process the default registry is used directly.
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder

_multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _multiproc_dir:
    # prometheus-client opens its sample files there as soon as a metric is defined; a
    # directory named in the environment but not created yet must not stop the process.
    os.makedirs(_multiproc_dir, exist_ok=True)

REQUESTS = Counter(
    "keyward_http_requests_total",
    "HTTP requests by route, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "keyward_http_request_duration_seconds",
    "Time to answer a request, by route.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
AUTH_OUTCOMES = Counter(
    "keyward_auth_outcomes_total",
    "Authentication outcomes by method (api_key, jwt, session, client_credentials, password, "
    "refresh_token, none) and code (valid, or the SPEC error code).",
    ["method", "code"],
)
RATE_LIMIT_HITS = Counter(
    "keyward_rate_limit_hits_total",
    "Requests refused with 429, by route and the kind of bucket that refused them "
    "(api_key, user, service_client, ip, endpoint).",
    ["route", "bucket"],
)


def render_metrics(accept: str = "") -> tuple[bytes, str]:
    """The exposition ``accept`` asks for: OpenMetrics when named, else Prometheus text.

    prometheus-client's own ``choose_encoder`` reads the header, as its HTTP server does; an
    ``Accept`` it cannot read (a version that is not a number) gets the Prometheus text.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    try:
        encoder, content_type = choose_encoder(accept)
    except (TypeError, ValueError):
        encoder, content_type = generate_latest, CONTENT_TYPE_LATEST
    return encoder(registry), content_type


METER_UNAVAILABLE = Counter(
    "keyward_meter_unavailable_total",
    "Requests served without rate limiting because the shared cache could not be reached.",
)
CANARY_TOUCHES = Counter(
    "keyward_canary_touches_total",
    "Uses of canary keys, every one refused as an unknown key, by where the key was presented "
    "(request, keys_verify, introspect). The audit log says which key, from where.",
    ["channel"],
)
