"""The rate-limit headers: draft-ietf-httpapi-ratelimit-headers-11's ``RateLimit-Policy`` and
``RateLimit`` (Structured Field Lists, read here with http-sfv as a client would read them) beside
the ``X-RateLimit-*`` trio.

They are set through Django's public header API (``metering.throttles.write_own_headers``), and
checked here through it and the WSGI output."""

import http_sfv
import pytest
import time_machine
from django.core.handlers.wsgi import WSGIHandler  # what gunicorn serves (config.wsgi)
from django.http import HttpResponse
from django.test import override_settings

from metering.meter import HEADER_NAMES, Meter, Reading, Window, take
from metering.throttles import write_own_headers
from tests.factories import UserFactory, issued_key
from tests.tenants.helpers import jwt_for
from tests.wsgi import served

POLICY = '"minute";q=60;w=60, "hour";q=1000;w=3600'
READING = Reading(True, 60, 59, 12, 0, POLICY, deciding='"minute"')
EXPECTED = {
    "X-RateLimit-Limit": "60",
    "X-RateLimit-Remaining": "59",
    "X-RateLimit-Reset": "12",
    "RateLimit-Policy": POLICY,
    "RateLimit": '"minute";r=59;t=12',
}


def parsed_list(value: str) -> list[tuple[str, dict]]:
    """A header as draft-11 reads it: a Structured Field List of String Items with parameters."""
    field = http_sfv.List()
    field.parse(value.encode("ascii"))  # raises ValueError on anything else
    assert all(isinstance(item.value, str) for item in field)
    return [(item.value, dict(item.params)) for item in field]


def test_the_draft_07_syntax_is_not_a_structured_field_list():
    # What Keyward sent before: a current-draft client could not read it at all.
    with pytest.raises(ValueError):
        parsed_list("limit=60, remaining=59, reset=12")


def test_the_policy_header_is_a_list_of_named_quotas_with_their_windows():
    assert parsed_list(READING.headers()["RateLimit-Policy"]) == [
        ("minute", {"q": 60, "w": 60}),
        ("hour", {"q": 1000, "w": 3600}),
    ]


def test_the_ratelimit_header_names_a_policy_with_its_remaining_quota_and_reset():
    assert parsed_list(READING.headers()["RateLimit"]) == [("minute", {"r": 59, "t": 12})]


@time_machine.travel("2026-12-07 10:00:00Z", tick=False)
def test_ratelimit_reports_the_policy_nearest_to_exhaustion():
    meter = Meter(bucket="key:nearest", windows=(Window(100, 60), Window(3, 3600)))
    take(meter)

    headers = take(meter).headers()

    policies = parsed_list(headers["RateLimit-Policy"])
    assert policies == [("minute", {"q": 100, "w": 60}), ("hour", {"q": 3, "w": 3600})]
    [(name, params)] = parsed_list(headers["RateLimit"])
    assert name == "hour"
    assert params["r"] == 1 == int(headers["X-RateLimit-Remaining"])
    assert params["t"] == int(headers["X-RateLimit-Reset"])


@time_machine.travel("2026-12-07 10:00:00Z", tick=False)
def test_an_anonymous_rate_in_other_units_names_its_window_by_its_length():
    headers = take(Meter(bucket="ip:192.0.2.9", windows=(Window(300, 600),))).headers()

    assert parsed_list(headers["RateLimit-Policy"]) == [("600s", {"q": 300, "w": 600})]
    assert parsed_list(headers["RateLimit"])[0][0] == "600s"


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
    sent_headers = dict(headers)
    assert sent_headers["X-RateLimit-Limit"] == "60"
    assert parsed_list(sent_headers["RateLimit-Policy"]) == [
        ("minute", {"q": 60, "w": 60}),
        ("hour", {"q": 1000, "w": 3600}),
    ]
    [(name, params)] = parsed_list(sent_headers["RateLimit"])
    assert (name, params["r"]) == ("minute", 59)
    assert params["t"] == int(sent_headers["X-RateLimit-Reset"]) >= 1


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
    [(name, params)] = parsed_list(dict(headers)["RateLimit"])
    assert (name, params["r"]) == ("minute", 0)
    assert params["t"] == int(dict(headers)["Retry-After"])
