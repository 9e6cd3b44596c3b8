"""The key lifecycle end to end through the public API: create, use, narrow, rotate, revoke."""

import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.tenants.helpers import jwt_for

pytestmark = pytest.mark.django_db


def client_with(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_key_lives_its_whole_life_through_the_api():
    user = UserFactory()
    person = client_with(jwt_for(user))

    created = person.post(
        "/api/v1/user/api-keys", {"name": "ci", "scopes": "agents:read read:all"}, format="json"
    )
    assert created.status_code == 201, created.json()
    raw, key_id = created.json()["key"], created.json()["id"]
    assert created.json()["scopes"] == ["agents:read", "read:all"]

    info = client_with(raw).get("/api/v1/api-keys/info")
    assert info.status_code == 200
    assert info["X-RateLimit-Limit"] == "60"
    assert info.json()["id"] == key_id

    narrowed = person.patch(f"/api/v1/user/api-keys/{key_id}", {"scopes": ["agents:read"]})
    assert narrowed.status_code == 200
    widened = person.patch(f"/api/v1/user/api-keys/{key_id}", {"scopes": ["write:all"]})
    assert widened.status_code == 400

    usage = person.get(f"/api/v1/user/api-keys/{key_id}/usage?days=3").json()
    assert usage["request_count"] == 1
    assert usage["daily"][-1]["count"] == 1

    rotated = person.post(f"/api/v1/user/api-keys/{key_id}/rotate", {"grace_period_seconds": 0})
    assert rotated.status_code == 201
    assert client_with(raw).get("/api/v1/api-keys/info").json()["code"] == "api_key_disabled"
    new_raw = rotated.json()["key"]
    assert client_with(new_raw).get("/api/v1/api-keys/info").status_code == 200

    revoked = person.post(f"/api/v1/user/api-keys/{rotated.json()['id']}/revoke")
    assert revoked.status_code == 200
    assert client_with(new_raw).get("/api/v1/api-keys/info").status_code == 401
