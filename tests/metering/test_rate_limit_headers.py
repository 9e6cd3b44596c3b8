"""The rate-limit headers are written straight into Django's header map
(``metering.throttles.write_own_headers``): pinned here through Django's public API and the
WSGI output, so a Django upgrade that changed the map fails these tests instead of dropping
the headers."""

import pytest
from django.http import HttpResponse
from django.test import override_settings

from core.wsgi import WSGIHandler  # what gunicorn serves (config.wsgi)
from metering.meter import HEADER_NAMES, Reading
from metering.throttles import write_own_headers
from tests.factories import UserFactory, issued_key
from tests.tenants.helpers import jwt_for
from tests.wsgi import served

READING = Reading(True, 60, 59, 12, 0, "60;w=60, 1000;w=3600")
EXPECTED = {
    "X-RateLimit-Limit": "60",
    "X-RateLimit-Remaining": "59",
    "X-RateLimit-Reset": "12",
    "RateLimit-Policy": "60;w=60, 1000;w=3600",
    "RateLimit": "limit=60, remaining=59, reset=12",
}


def test_written_headers_read_back_through_the_public_api_in_any_case():
    response = HttpResponse()

    write_own_headers(response, READING.header_values())

    assert {name: response[name] for name in HEADER_NAMES} == EXPECTED
    assert response["x-ratelimit-remaining"] == "59"
    assert response.has_header("ratelimit-policy")
    assert EXPECTED.items() <= dict(response.items()).items()  # as the WSGI handler lists them


def test_written_headers_replace_ones_set_before_instead_of_repeating_them():
    response = HttpResponse()
    response["x-ratelimit-remaining"] = "1"

    write_own_headers(response, READING.header_values())

    names = [name for name, _ in response.items()]
    assert names.count("X-RateLimit-Remaining") == 1
    assert "x-ratelimit-remaining" not in names
    assert response["X-RateLimit-Remaining"] == "59"


def test_the_headers_written_are_the_readings_own_set():
    assert READING.headers() == EXPECTED


def wsgi_get(path: str, **headers) -> tuple[str, list[tuple[str, str]]]:
    status, sent, _ = served(WSGIHandler(), path, **headers)
    return status, sent


@pytest.mark.django_db(transaction=True)
def test_a_key_request_sends_each_header_once_over_wsgi():
    user = UserFactory()
    _, raw = issued_key(user=user, created_by=user, name="wsgi", key_type="development")

    status, headers = wsgi_get("/api/v1/auth/verify", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert status == "200 OK"
    sent = [name for name, _ in headers]
    for name in HEADER_NAMES:
        assert sent.count(name) == 1, name
    assert dict(headers)["X-RateLimit-Limit"] == "60"
    assert dict(headers)["RateLimit"].startswith("limit=60, remaining=59, reset=")


@pytest.mark.django_db(transaction=True)
@override_settings(KEYWARD_USER_RATE_LIMITS={"per_minute": 1})
def test_a_429_sends_each_header_once_over_wsgi():
    authorization = f"Bearer {jwt_for(UserFactory())}"
    wsgi_get("/api/v1/auth/verify", HTTP_AUTHORIZATION=authorization)

    status, headers = wsgi_get("/api/v1/auth/verify", HTTP_AUTHORIZATION=authorization)

    assert status.startswith("429")
    sent = [name for name, _ in headers]
    for name in HEADER_NAMES:
        assert sent.count(name) == 1, name
    assert dict(headers)["X-RateLimit-Remaining"] == "0"
