"""The API's URL list: flat, with the endpoints in front of every request tried first."""

from django.urls import URLPattern, resolve

from config.urls import api_v1


def test_api_routes_are_one_flat_list_without_a_resolver_level_per_app():
    assert all(isinstance(pattern, URLPattern) for pattern in api_v1)


def test_the_endpoints_any_api_request_may_call_are_tried_first():
    assert [str(pattern.pattern) for pattern in api_v1[:4]] == [
        "health",
        "auth/verify",
        "auth/check",
        "keys/verify",
    ]


def test_every_app_route_keeps_its_full_route_for_metrics_labels():
    assert resolve("/api/v1/auth/check").route == "api/v1/auth/check"
    assert resolve("/api/v1/user/api-keys/abc/usage").route == (
        "api/v1/user/api-keys/<str:key_id>/usage"
    )
