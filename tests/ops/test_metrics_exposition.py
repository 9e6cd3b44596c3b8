"""``/api/v1/metrics`` answers whatever a scraper accepts, and no label of the request metrics
takes values a client chooses (SPEC §11)."""

import pytest
from prometheus_client import REGISTRY

from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

REQUESTS = "keyward_http_requests_total"


@pytest.fixture
def staff_client(api_client):
    api_client.force_authenticate(StaffUserFactory())
    return api_client


def label_values(metric: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in REGISTRY.collect()
        if family.name == metric.removesuffix("_total")
        for sample in family.samples
        if label in sample.labels
    }


@pytest.mark.parametrize(
    "accept",
    [
        "text/plain",
        "text/plain; version=0.0.4",
        "application/json",
        "text/html",
        "application/xml;q=0.9, image/*",
        "text/plain; version=x.y",
    ],
)
def test_any_accept_gets_the_prometheus_text(staff_client, accept):
    response = staff_client.get("/api/v1/metrics", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert f"# TYPE {REQUESTS} counter" in response.content.decode()


@pytest.mark.parametrize(
    "accept",
    [
        "application/openmetrics-text",
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3",
    ],
)
def test_openmetrics_accept_gets_openmetrics(staff_client, accept):
    response = staff_client.get("/api/v1/metrics", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.content.decode().endswith("# EOF\n")


def test_an_unreadable_accept_still_gets_the_json_401(api_client):
    response = api_client.get("/api/v1/metrics", HTTP_ACCEPT="text/plain")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_required"


@pytest.mark.parametrize("method", ["XYZZY1", "XYZZY2", "PROPFIND", "get"])
def test_an_invented_method_is_counted_as_other(api_client, method):
    api_client.generic(method, "/api/v1/health")

    assert method not in label_values(REQUESTS, "method")
    assert "other" in label_values(REQUESTS, "method")


def test_the_method_label_stays_within_https_methods_whatever_clients_send(api_client):
    for n in range(20):
        api_client.generic(f"INVENTED{n}", "/api/v1/health")

    assert label_values(REQUESTS, "method") <= {
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "other"
    }  # fmt: skip


def test_invented_paths_are_one_unmatched_route_never_the_raw_path(api_client):
    for n in range(20):
        api_client.get(f"/api/v1/no-such-thing-{n}/x")
        api_client.get(f"/api/v1/user/api-keys/{n}-invented")

    routes = label_values(REQUESTS, "route") | label_values(
        "keyward_http_request_duration_seconds", "route"
    )
    assert "<unmatched>" in routes
    assert not any("no-such-thing" in route or "invented" in route for route in routes)
