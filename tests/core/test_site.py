import pytest
from django.db import OperationalError

from apikeys import crypto
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_health_answers_ok_without_credentials(api_client):
    response = api_client.get("/api/v1/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_unknown_api_path_is_json_404_not_found(client):
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_unknown_page_is_html_404(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_schema_is_served(api_client):
    response = api_client.get("/api/v1/schema/")

    assert response.status_code == 200
    assert b"openapi" in response.content


def test_a_database_outage_is_a_503_with_a_code_not_a_500(api_client, monkeypatch):

    def unreachable(raw_key, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("apikeys.authentication.api_key_get_for_authentication", unreachable)
    api_client.credentials(HTTP_X_API_KEY=crypto.generate_key())  # well formed: looked up

    response = api_client.get("/api/v1/auth/verify")

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


def test_an_oversized_api_body_gets_413_json_not_an_html_400(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = {"email": "a@example.com", "password": "x" * 2048}

    response = api_client.post("/api/v1/auth/login", body, format="json")

    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is too large.",
        "code": "request_too_large",
    }


def test_an_oversized_api_form_post_gets_413_json(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024

    response = client.post(
        "/api/v1/auth/register",
        f"email=a%40example.com&password={'x' * 2048}",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_too_many_form_fields_under_api_gets_400_validation_error_json(client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10

    response = client.post(
        "/api/v1/auth/login",
        "&".join(f"f{n}=1" for n in range(20)),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_a_disallowed_host_under_api_gets_json_400(client):
    response = client.get("/api/v1/health", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request.", "code": "bad_request"}


def test_a_disallowed_host_on_a_page_gets_djangos_html_400(client):
    response = client.get("/login", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_a_multipart_api_form_post_without_a_boundary_gets_400_validation_error_json(client):
    response = client.post("/api/v1/auth/login", "garbage", content_type="multipart/form-data")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_an_unexpected_error_under_api_is_json_500_without_details(api_client, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("accounts.api.credential_describe", broken)
    api_client.raise_request_exception = False
    api_client.force_authenticate(UserFactory())

    response = api_client.get("/api/v1/auth/verify")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}


def test_json_nested_past_the_recursion_limit_gets_400_validation_error(api_client):
    body = "[" * 100_000 + "]" * 100_000

    response = api_client.post("/api/v1/auth/register", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_favicon_ico_redirects_to_the_sites_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == "/static/favicon.svg"


@pytest.mark.parametrize(
    "body",
    [
        '{"email": "\\ud800", "password": "x"}',
        '{"email": "a@example.com", "password": "x", "\\udfff": 1}',
        '{"email": "a@example.com", "password": ["\\ud800"]}',
    ],
)
def test_a_json_string_with_a_lone_surrogate_gets_400_validation_error(api_client, body):
    response = api_client.post("/api/v1/auth/login", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
