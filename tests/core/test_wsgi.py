"""The project's WSGI handler sends the server exactly what Django's own handler sends."""

import re

import pytest
import time_machine
from django.core.handlers.wsgi import WSGIHandler as DjangoWSGIHandler

from core.wsgi import WSGIHandler
from tests.conftest import forget_everything
from tests.factories import UserFactory, issued_key
from tests.wsgi import served

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _one_instant():
    """Both handlers answer at the same instant, so their rate-limit reset figures match."""
    with time_machine.travel("2026-12-03 12:00:00", tick=False):
        yield


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
    _, raw = issued_key(user=user, created_by=user, name="wsgi")
    key = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    status, headers, _ = served(WSGIHandler(), "/api/v1/auth/verify", **key)
    forget_everything()
    _, djangos, _ = served(DjangoWSGIHandler(), "/api/v1/auth/verify", **key)

    assert status == "200 OK"
    assert headers == djangos
    assert "X-RateLimit-Remaining" in dict(headers)


def test_the_application_is_this_handler():
    from config.wsgi import application

    assert isinstance(application, WSGIHandler)


def test_a_pages_cookie_reaches_the_server():
    _, headers, _ = served(WSGIHandler(), "/login")

    assert any(name == "Set-Cookie" and value.startswith(" csrftoken=") for name, value in headers)
