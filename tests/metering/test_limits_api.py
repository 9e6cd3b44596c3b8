"""Rate limits, usage and failed-authentication bursts, through the public API (SPEC §6).

Runs on the in-process cache and on Redis alike; the clock is frozen inside one window so the
counts are exact. The two-node proofs live in tests/multinode.
"""

import pytest
import time_machine
from django.test import override_settings
from rest_framework.test import APIClient

from apikeys.services import api_key_revoke
from audit.models import AuditEvent
from metering.verified import ChangeNotPropagated
from tests.factories import UserFactory, issued_key
from tests.tenants.helpers import jwt_for

pytestmark = pytest.mark.django_db

INFO = "/api/v1/api-keys/info"
# Early in a minute and an hour, so no window boundary (nor its jitter) falls inside a test.
FROZEN = "2026-05-01T10:00:01Z"
UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(FROZEN, tick=False):
        yield


def new_key(**fields):
    user = fields.pop("user", None) or UserFactory()
    return issued_key(user, created_by=user, name="limits", **fields)


def bearer(credential) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")
    return client


def test_a_development_key_is_admitted_sixty_times_a_minute_then_refused():
    _, raw = new_key(key_type="development")
    client = bearer(raw)

    statuses = [client.get(INFO).status_code for _ in range(61)]

    assert statuses[:60] == [200] * 60
    assert statuses[60] == 429


def test_the_refusal_carries_retry_after_and_the_contract_body():
    _, raw = new_key(rate_limit={"per_minute": 1})
    client = bearer(raw)
    client.get(INFO)

    refused = client.get(INFO)

    assert refused.status_code == 429
    body = refused.json()
    assert body["detail"] == "Rate limit exceeded"
    assert body["code"] == "rate_limit_error"
    assert body["retry_after"] >= 1
    assert refused["Retry-After"] == str(body["retry_after"])


def test_keyed_responses_carry_x_ratelimit_and_the_ietf_pair():
    _, raw = new_key(key_type="development")
    client = bearer(raw)

    first, second = client.get(INFO), client.get(INFO)

    assert first["X-RateLimit-Limit"] == "60"
    assert first["X-RateLimit-Remaining"] == "59"
    assert second["X-RateLimit-Remaining"] == "58"
    assert int(first["X-RateLimit-Reset"]) > 0
    assert first["RateLimit-Policy"] == '"minute";q=60;w=60, "hour";q=1000;w=3600'
    assert first["RateLimit"] == f'"minute";r=59;t={first["X-RateLimit-Reset"]}'


def test_a_keys_own_rate_limit_overrides_its_type():
    _, raw = new_key(key_type="production", rate_limit={"per_minute": 2})
    client = bearer(raw)

    assert [client.get(INFO).status_code for _ in range(3)] == [200, 200, 429]


@override_settings(KEYWARD_KEY_TYPE_RATE_LIMITS={"development": {"per_minute": 3}})
def test_the_type_defaults_come_from_settings():
    _, raw = new_key(key_type="development")
    client = bearer(raw)

    assert [client.get(INFO).status_code for _ in range(4)] == [200, 200, 200, 429]


@override_settings(KEYWARD_USER_RATE_LIMITS={"per_minute": 2, "per_hour": 100})
def test_a_user_by_jwt_is_counted_in_the_users_bucket():
    user = UserFactory()
    client = bearer(jwt_for(user))

    statuses = [client.get("/api/v1/auth/verify").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


@override_settings(KEYWARD_USER_RATE_LIMITS={"per_minute": 2, "per_hour": 100})
def test_jwt_and_session_share_the_users_bucket():
    user = UserFactory()
    session = APIClient()
    session.force_login(user)
    bearer(jwt_for(user)).get("/api/v1/auth/verify")
    session.get("/api/v1/auth/verify")

    assert session.get("/api/v1/auth/verify").status_code == 429


@override_settings(KEYWARD_ANON_RATE_PER_IP="3/m")
def test_refused_credentials_count_against_the_client_ip():
    client = bearer("kw_not-a-real-key")

    statuses = [client.get(INFO).status_code for _ in range(4)]

    assert statuses == [401, 401, 401, 429]


def test_usage_is_exact_at_once_through_the_usage_endpoint():
    api_key, raw = new_key()
    for _ in range(7):
        bearer(raw).get(INFO, REMOTE_ADDR="203.0.113.9")

    usage = bearer(jwt_for(api_key.user)).get(f"/api/v1/user/api-keys/{api_key.pk}/usage?days=2")

    body = usage.json()
    assert body["request_count"] == 7
    assert body["daily"] == [{"date": "2026-04-30", "count": 0}, {"date": "2026-05-01", "count": 7}]
    assert body["last_used_ip"] == "203.0.113.9"
    assert body["last_used_at"] == "2026-05-01T10:00:00Z"


def test_refused_requests_are_not_counted_as_usage():
    api_key, raw = new_key(rate_limit={"per_minute": 2})
    for _ in range(5):
        bearer(raw).get(INFO)

    usage = bearer(jwt_for(api_key.user)).get(f"/api/v1/user/api-keys/{api_key.pk}/usage")

    assert usage.json()["request_count"] == 2


def test_a_burst_of_refused_keys_is_audited_once_not_per_request():
    client = bearer("kw_" + "A" * 49)
    for _ in range(12):
        client.get(INFO)

    bursts = AuditEvent.objects.filter(event_type="api_key.auth_failed_burst")
    assert bursts.count() == 1
    assert bursts.get().data["failures"] == 10
    assert bursts.get().outcome == "failure"


def test_health_is_never_rate_limited():
    with override_settings(KEYWARD_ANON_RATE_PER_IP="1/m"):
        statuses = {APIClient().get("/api/v1/health").status_code for _ in range(3)}

    assert statuses == {200}


# --- the shared cache is down -----------------------------------------------------------


@pytest.fixture
def cache_down():
    with override_settings(CACHES=UNREACHABLE_REDIS):
        yield


def test_with_the_cache_down_a_key_is_still_served_without_limits(cache_down):
    _, raw = new_key(rate_limit={"per_minute": 1})
    client = bearer(raw)

    responses = [client.get(INFO) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert "X-RateLimit-Limit" not in responses[0]


def test_with_the_cache_down_usage_is_written_to_the_database(cache_down):
    api_key, raw = new_key()
    for _ in range(3):
        bearer(raw).get(INFO, REMOTE_ADDR="203.0.113.10")

    api_key.refresh_from_db()
    assert api_key.request_count == 3
    assert api_key.last_used_ip == "203.0.113.10"
    assert api_key.daily_usage.get().count == 3


def test_a_key_revoked_before_the_cache_went_down_is_refused_at_once():
    api_key, raw = new_key()
    bearer(raw).get(INFO)
    api_key_revoke(api_key=api_key)

    with override_settings(CACHES=UNREACHABLE_REDIS):
        response = bearer(raw).get(INFO)

    assert response.json()["code"] == "api_key_disabled"


def test_with_the_cache_down_a_revoke_is_not_made(cache_down):
    api_key, raw = new_key()

    with pytest.raises(ChangeNotPropagated):
        api_key_revoke(api_key=api_key)

    assert bearer(raw).get(INFO).status_code == 200


def test_with_the_cache_down_key_creation_fails_closed(cache_down):
    user = UserFactory()

    response = bearer(jwt_for(user)).post("/api/v1/user/api-keys", {"name": "x"}, format="json")

    assert response.status_code == 503
    assert not user.api_keys.exists()


def test_with_the_cache_down_bootstrap_fails_closed(cache_down):
    response = APIClient().post("/api/v1/api-keys/bootstrap", {"name": "first"}, format="json")

    assert response.status_code == 503


def test_with_the_cache_down_login_fails_closed(cache_down):
    user = UserFactory()

    response = APIClient().post(
        "/api/v1/auth/login", {"email": user.email, "password": "whatever"}, format="json"
    )

    assert response.status_code == 503
