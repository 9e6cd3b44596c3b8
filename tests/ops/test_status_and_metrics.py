from unittest import mock

import pytest

from tests.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(api_client):
    api_client.force_authenticate(StaffUserFactory())
    return api_client


def test_status_reports_database_cache_and_version(staff_client):
    response = staff_client.get("/api/v1/status")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["cache"] == "ok"
    assert body["version"]


def test_status_is_503_when_the_cache_is_unreachable(staff_client):
    with mock.patch("ops.api.cache.set", side_effect=ConnectionError("down")):
        response = staff_client.get("/api/v1/status")

    assert response.status_code == 503
    assert response.json()["cache"] == "unavailable"


@pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/metrics"])
def test_operator_endpoints_need_a_credential(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_required"
    assert "WWW-Authenticate" in response


@pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/metrics"])
def test_operator_endpoints_refuse_non_staff(api_client, path):
    api_client.force_authenticate(UserFactory())

    response = api_client.get(path)

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"


def test_metrics_count_requests_and_auth_outcomes_in_prometheus_text(staff_client, api_client):
    api_client.get("/api/v1/health")
    api_client.get("/api/v1/status")  # 401, counted as an auth outcome

    response = staff_client.get("/api/v1/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'keyward_http_requests_total{method="GET",route="api/v1/health",status="200"}' in text
    assert 'keyward_auth_outcomes_total{code="authentication_required",method="none"}' in text
    assert "keyward_http_request_duration_seconds_bucket" in text


def test_loopback_scraper_is_let_in_when_local_metrics_are_enabled(api_client, settings):
    settings.KEYWARD_LOCAL_METRICS_ENABLED = True

    response = api_client.get("/api/v1/metrics", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 200


def test_loopback_bypass_is_off_by_default(api_client):
    response = api_client.get("/api/v1/metrics", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 401


@pytest.mark.parametrize(
    "header", ["HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED", "HTTP_VIA"]
)
def test_request_relayed_by_a_local_proxy_does_not_pass_the_bypass(api_client, settings, header):
    settings.KEYWARD_LOCAL_METRICS_ENABLED = True

    response = api_client.get("/api/v1/metrics", REMOTE_ADDR="127.0.0.1", **{header: "1.2.3.4"})

    assert response.status_code == 401


def test_remote_peer_does_not_pass_the_bypass(api_client, settings):
    settings.KEYWARD_LOCAL_METRICS_ENABLED = True

    response = api_client.get("/api/v1/status", REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 401
