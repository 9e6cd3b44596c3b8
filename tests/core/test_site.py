import pytest
from django.db import OperationalError

from apikeys import crypto

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

    def unreachable(raw_key):
        raise OperationalError("connection refused")

    monkeypatch.setattr("apikeys.authentication.api_key_get_for_authentication", unreachable)
    api_client.credentials(HTTP_X_API_KEY=crypto.generate_key())  # well formed: looked up

    response = api_client.get("/api/v1/auth/verify")

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
