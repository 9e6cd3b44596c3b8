"""Browsers on other origins: the API answers the origins KEYWARD_CORS_ALLOWED_ORIGINS lists."""

import pytest

from tests.factories import UserFactory, issued_key

pytestmark = pytest.mark.django_db

APP = "https://app.example.com"


@pytest.fixture
def user_key():
    user = UserFactory()
    _, raw = issued_key(user=user, created_by=user, name="browser")
    return raw


def preflight(client, path="/api/v1/auth/verify", origin=APP):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-api-key, x-tenant-id",
    )


def test_no_origin_is_allowed_by_default(client):
    response = preflight(client)

    assert "Access-Control-Allow-Origin" not in response


def test_while_cors_is_off_an_api_answer_allows_no_origin(client):
    response = client.get("/api/v1/health", HTTP_ORIGIN=APP)

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_a_listed_origin_passes_the_preflight_with_the_key_and_tenant_headers(client, settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]

    response = preflight(client)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    allowed = response["Access-Control-Allow-Headers"]
    assert "x-api-key" in allowed and "x-tenant-id" in allowed
    assert "Access-Control-Allow-Credentials" not in response


def test_an_unlisted_origin_gets_no_cors_headers(client, settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]

    response = preflight(client, origin="https://evil.example")

    assert "Access-Control-Allow-Origin" not in response


def test_a_cross_origin_answer_exposes_the_rate_limit_headers(client, settings, user_key):
    settings.CORS_ALLOWED_ORIGINS = [APP]

    response = client.get("/api/v1/auth/verify", HTTP_ORIGIN=APP, HTTP_X_API_KEY=user_key)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert "X-RateLimit-Remaining" in response["Access-Control-Expose-Headers"]


def test_pages_never_answer_cross_origin(client, settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]

    response = preflight(client, path="/login")

    assert "Access-Control-Allow-Origin" not in response


def test_while_no_origin_is_allowed_an_api_answer_does_not_vary_by_origin(client):
    response = client.get("/api/v1/health", HTTP_ORIGIN=APP)

    assert "origin" not in response.get("Vary", "").lower()


def test_once_an_origin_is_allowed_every_api_answer_varies_by_origin(client, settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]

    response = client.get("/api/v1/health")

    assert "origin" in response["Vary"].lower()


def test_a_receiver_of_the_enabling_signal_keeps_cors_in_the_stack(client):
    from corsheaders.signals import check_request_enabled

    def allow_app(sender, request, **kwargs):
        return request.headers.get("origin") == APP

    check_request_enabled.connect(allow_app)
    try:
        response = client.get("/api/v1/health", HTTP_ORIGIN=APP)
    finally:
        check_request_enabled.disconnect(allow_app)

    assert response["Access-Control-Allow-Origin"] == APP
