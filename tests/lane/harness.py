"""Driving the WSGI lane and Django's handler with the same request, as a WSGI server would.

``answer`` calls a WSGI application with an environ built like gunicorn's and returns what the
server is given; ``Lane`` is built over a stand-in for Django that records whether the lane
stood aside. ``same_answer`` sends one request to both and asserts the same status, headers,
body and metrics. ``route_test_clients_through_lane`` sends every Django test client request
through the lane first (``pytest --through-lane``), so the endpoints' own tests judge the
lane's answers with their own assertions.
"""

import io
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from prometheus_client import REGISTRY

from config.lane import Lane
from tests.conftest import forget_everything


@dataclass
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    by_lane: bool


def environ_for(method: str, path: str, *, body: bytes = b"", **meta) -> dict:
    """A gunicorn-like environ; ``meta`` holds CONTENT_TYPE, HTTP_* and other entries."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    environ.update(meta)
    return environ


@contextmanager
def _test_transaction_kept():
    """As Django's test client does: the request signals must not close the connection that
    holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


class _Django:
    """Django's handler, noting each request the lane passed on to it."""

    def __init__(self):
        self.handler = WSGIHandler()
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.handler(environ, start_response)


def lane_over_django(**options) -> Lane:
    return Lane(_Django(), **options)


def answer(app, environ: dict) -> Answer:
    got = {}

    def start_response(status, headers, exc_info=None):
        got.update(status=status, headers=list(headers))

    behind = getattr(app, "application", None)
    calls_before = getattr(behind, "calls", 0)
    with _test_transaction_kept():
        body = app(environ, start_response)
        try:
            content = b"".join(body)
        finally:
            body.close()
    by_lane = isinstance(app, Lane) and getattr(behind, "calls", 0) == calls_before
    return Answer(got["status"], got["headers"], content, by_lane)


# --- the same answer from both -------------------------------------------------------------

METRICS = (
    "keyward_http_requests_total",
    "keyward_auth_outcomes_total",
    "keyward_rate_limit_hits_total",
    "keyward_http_request_duration_seconds_count",
)
_RESET = re.compile(r"(?<=t=)\d+")
_BODY_RESET = re.compile(rb'"reset":\d+')  # keys/verify's verdict carries the key's window
_BODY_RESET_VALUE = re.compile(rb'"reset":(\d+)')


def metrics_now() -> dict:
    """The samples of the metrics both lanes must add alike."""
    samples = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name in METRICS:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = sample.value
    return samples


def metrics_added(before: dict, after: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def _measured(app, environ_of) -> tuple[Answer, dict]:
    before = metrics_now()
    got = answer(app, environ_of())
    return got, metrics_added(before, metrics_now())


_BODY_RETRY = re.compile(rb'"retry_after":\d+')


def comparable(got: Answer):
    headers = []
    for name, value in got.headers:
        if name in ("X-RateLimit-Reset", "Retry-After"):  # seconds: the two runs straddle one
            value = "<reset>"
        elif name == "RateLimit":
            value = _RESET.sub("<reset>", value)
        headers.append((name, value))
    body = _BODY_RESET.sub(b'"reset":<reset>', got.body)
    return got.status, headers, _BODY_RETRY.sub(b'"retry_after":<reset>', body)


def _resets(got: Answer) -> list[int]:
    in_body = [int(v) for v in _BODY_RESET_VALUE.findall(got.body)]
    return [int(v) for n, v in got.headers if n == "X-RateLimit-Reset"] + in_body


def same_answer(environ_of, *, by_lane=True, lane_options=None) -> Answer:
    """The request ``environ_of()`` builds, to Django and then to the lane: the same answer."""
    django_answer, django_metrics = _measured(WSGIHandler(), environ_of)
    forget_everything()
    lane = lane_over_django(**(lane_options or {}))
    lane_answer, lane_metrics = _measured(lane, environ_of)

    assert lane_answer.by_lane is by_lane
    assert comparable(lane_answer) == comparable(django_answer)
    for ours, theirs in zip(_resets(lane_answer), _resets(django_answer), strict=True):
        assert (ours - theirs) % 60 in (0, 1, 59)  # a second may tick, or a minute begin
    assert lane_metrics == django_metrics
    return lane_answer


# --- pytest --through-lane ------------------------------------------------------------------

served = {"lane": 0, "django": 0}


def route_test_clients_through_lane(monkeypatch) -> None:
    """Make Django's (and DRF's) test client ask the lane first, as config.wsgi composes it.

    The lane's answer is the real response object, so a test reads it as it reads Django's
    (``.json()``, ``.data``, headers). Requests the lane stands aside for go to the test
    client's own handler, unchanged.
    """
    from django.test.client import ClientHandler

    through_django = ClientHandler.__call__

    def call(handler, environ):
        lane = Lane(None)  # per request: a test may have overridden the settings it reads
        if getattr(handler, "_force_user", None) is not None:  # DRF's force_authenticate
            served["django"] += 1
            return through_django(handler, environ)
        stood_aside = []
        lane.application = lambda environ, start_response: stood_aside.append(True)
        with _test_transaction_kept():
            response = lane(environ, lambda status, headers, exc_info=None: None)
            if not stood_aside:
                response.close()  # request_finished, as the server would send it
        if stood_aside:
            served["django"] += 1
            return through_django(handler, environ)
        served["lane"] += 1
        from django.core.handlers.wsgi import WSGIRequest

        response.wsgi_request = WSGIRequest(environ)
        return response

    monkeypatch.setattr(ClientHandler, "__call__", call)
