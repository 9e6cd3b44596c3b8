"""The project's WSGI handler sends the server exactly what Django's own handler sends."""

import io
import re
import sys

import pytest
import time_machine
from django.core.handlers.wsgi import WSGIHandler as DjangoWSGIHandler

from apikeys.services import api_key_create
from core.wsgi import WSGIHandler
from tests.conftest import _forget_everything as forget_everything
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _one_instant():
    """Both handlers answer at the same instant, so their rate-limit reset figures match."""
    with time_machine.travel("2026-12-03 12:00:00", tick=False):
        yield


def served(handler, path: str, **headers) -> tuple[str, list[tuple[str, str]], bytes]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        **headers,
    }
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer.update(status=status, headers=list(response_headers))

    body = handler(environ, start_response)
    content = b"".join(body)
    body.close()
    return answer["status"], answer["headers"], content


@pytest.mark.parametrize(
    "path",
    ["/api/v1/health", "/api/v1/auth/verify", "/api/v1/no-such-thing", "/login", "/static/x"],
)
def test_the_server_gets_what_djangos_handler_gives(path):
    ours = served(WSGIHandler(), path)
    forget_everything()  # the second answer's rate-limit counts start where the first's did
    djangos = served(DjangoWSGIHandler(), path)

    assert ours[0] == djangos[0]
    assert without_tokens(ours[1]) == without_tokens(djangos[1])  # names, values and order
    assert without_tokens(ours[2]) == without_tokens(djangos[2])


def without_tokens(served_part):
    """Each answer gets a fresh CSRF token; everything else must match."""
    return re.sub(r"[A-Za-z0-9]{32,}", "<token>", repr(served_part))


def test_a_key_request_gets_every_header_djangos_handler_gives():
    user = UserFactory()
    _, raw = api_key_create(user=user, created_by=user, name="wsgi")
    key = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    status, headers, _ = served(WSGIHandler(), "/api/v1/auth/verify", **key)
    forget_everything()
    _, djangos, _ = served(DjangoWSGIHandler(), "/api/v1/auth/verify", **key)

    assert status == "200 OK"
    assert headers == djangos
    assert "X-RateLimit-Remaining" in dict(headers)


def test_cookies_are_sent_as_djangos_handler_sends_them():
    _, headers, _ = served(WSGIHandler(), "/login")

    assert any(name == "Set-Cookie" and value.startswith(" csrftoken=") for name, value in headers)


def test_the_application_is_this_handler():
    from config.wsgi import application

    assert isinstance(application, WSGIHandler)
