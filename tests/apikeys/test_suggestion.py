"""Least-privilege suggestion (SPEC §12): the narrowest scopes and grants the traffic needed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import ApiKeyRoute
from metering import backends
from tests.apikeys.conftest import (
    CHECK_URL,
    INFO_URL,
    key_client,
    key_url,
    make_api_key,
    person_client,
)

pytestmark = pytest.mark.django_db


def check(client, path, method="GET"):
    return client.get(CHECK_URL, HTTP_X_ORIGINAL_METHOD=method, HTTP_X_ORIGINAL_URI=path)


def suggest(owner, api_key, **params):
    response = person_client(owner).get(key_url(api_key.pk, "suggestion"), params)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_full_access_key_is_narrowed_to_the_scopes_and_grants_its_traffic_used(user):
    api_key, raw = make_api_key(user)
    client = key_client(raw)
    check(client, "/api/v1/orders/7")
    check(client, "/api/v1/widgets", method="POST")

    body = suggest(user, api_key)

    assert body["days"] == 30
    assert body["observed"] == [
        {"method": "GET", "path": "/api/v1/orders/7"},
        {"method": "POST", "path": "/api/v1/widgets"},
    ]
    assert body["scopes"] == ["orders:read", "widgets:write"]
    assert body["endpoints"] == [
        {"path": "/api/v1/orders/7", "methods": ["GET"]},
        {"path": "/api/v1/widgets", "methods": ["POST"]},
    ]
    assert {"field": "scopes", "value": "full access of the owner"} in body["removes"]


def test_keywards_own_routes_are_observed_as_their_url_pattern(user):
    api_key, raw = make_api_key(user, key_manager=True)
    other, _ = make_api_key(user)
    key_client(raw).get(key_url(other.pk, "usage"))

    body = suggest(user, api_key)

    assert body["observed"] == [
        {"method": "GET", "path": "/api/v1/user/api-keys/<str:key_id>/usage"}
    ]
    assert body["scopes"] == ["keys:read"]
    assert body["endpoints"] == [{"path": "/api/v1/user/api-keys", "methods": ["GET"]}]


def test_a_scoped_key_keeps_only_the_scopes_its_traffic_needed(user):
    api_key, raw = make_api_key(user, scopes=["read:all", "orders:read", "widgets:write"])
    check(key_client(raw), "/api/v1/orders/7")

    body = suggest(user, api_key)

    assert body["scopes"] == ["orders:read"]
    removed = [r["value"] for r in body["removes"] if r["field"] == "scopes"]
    assert removed == ["read:all", "widgets:write"]


def test_wide_scopes_make_the_resource_ones_redundant(user):
    api_key, raw = make_api_key(user)
    client = key_client(raw)
    client.get(INFO_URL)
    check(client, "/api/v1/orders/7")

    assert suggest(user, api_key)["scopes"] == ["read:all"]


def test_traffic_older_than_the_days_asked_is_left_out(user):
    api_key, _ = make_api_key(user)
    ApiKeyRoute.objects.create(
        api_key=api_key,
        date=timezone.now().date() - timedelta(days=40),
        method="GET",
        path="/api/v1/orders",
    )

    assert suggest(user, api_key)["observed"] == []
    assert suggest(user, api_key, days=60)["observed"] == [
        {"method": "GET", "path": "/api/v1/orders"}
    ]


def test_with_no_traffic_the_suggestion_is_the_key_as_it_is(user):
    api_key, _ = make_api_key(user, scopes=["orders:read"])

    body = suggest(user, api_key)

    assert (body["scopes"], body["endpoints"], body["removes"]) == (["orders:read"], [], [])


@pytest.mark.parametrize("days", ["0", "366", "soon"])
def test_days_out_of_bounds_gets_400(user, days):
    api_key, _ = make_api_key(user)

    response = person_client(user).get(key_url(api_key.pk, "suggestion"), {"days": days})

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_a_suggestion_is_a_valid_proposal(user):
    api_key, raw = make_api_key(user)
    check(key_client(raw), "/api/v1/orders/7")
    body = suggest(user, api_key)

    response = person_client(user).post(
        key_url(api_key.pk, "proposals"),
        {"scopes": body["scopes"], "endpoints": body["endpoints"]},
        format="json",
    )

    assert response.status_code == 201, response.content


def test_at_most_200_routes_are_kept_per_key_and_day(user):
    api_key, _ = make_api_key(user)
    backend = backends.active()
    now = timezone.now().timestamp()
    for n in range(205):
        shadow = backends.Shadow("GET", f"/x/{n}", f"GET /x/{n}")
        backend.count(
            (), usage_key_id=str(api_key.pk), generation_of=None, ip=None, now=now, shadow=shadow
        )

    assert len(suggest(user, api_key, days=1)["observed"]) == 200


def test_pruneexpired_drops_routes_no_suggestion_can_reach(user):
    import io

    from django.core.management import call_command

    api_key, _ = make_api_key(user)
    today = timezone.now().date()
    for age in (364, 365):  # days=365 reaches back to 364 days ago
        ApiKeyRoute.objects.create(
            api_key=api_key, date=today - timedelta(days=age), method="GET", path=f"/x/{age}"
        )

    call_command("pruneexpired", stdout=io.StringIO())

    assert list(ApiKeyRoute.objects.values_list("path", flat=True)) == ["/x/364"]
