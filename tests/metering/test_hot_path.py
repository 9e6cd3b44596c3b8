"""The hot path: what a warm authenticated request costs, and that the cache never lies.

A warm request by API key or JWT reads no table and writes none; on Redis it makes exactly one
round trip (limits, usage and the generation check in one script). A session adds the session
read. Whatever is cached, a change to the key or its owner is seen by the very next request.
"""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.test import APIClient

from apikeys.services import api_key_revoke
from metering import verified
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, UserFactory, issued_key
from tests.tenants.helpers import jwt_for

pytestmark = pytest.mark.django_db

VERIFY = "/api/v1/auth/verify"


def key_client(**fields):
    user = fields.pop("user", None) or UserFactory()
    api_key, raw = issued_key(user, created_by=user, name="hot", **fields)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api_key, client


def jwt_client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_for(user)}")
    return client


def session_client(user):
    client = Client()
    assert client.login(email=user.email, password=DEFAULT_PASSWORD)
    return client


def test_a_warm_key_request_makes_no_query(django_assert_num_queries):
    _, client = key_client()
    client.get(VERIFY)

    with django_assert_num_queries(0):
        assert client.get(VERIFY).status_code == 200


def test_a_warm_jwt_request_makes_no_query(django_assert_num_queries):
    client = jwt_client(UserFactory())
    client.get(VERIFY)

    with django_assert_num_queries(0):
        assert client.get(VERIFY).status_code == 200


def warm_session_client(user):
    """A session client past its first two requests: read and checked, then remembered."""
    client = session_client(user)
    client.get(VERIFY)
    client.get(VERIFY)
    return client


def test_a_warm_session_request_makes_no_query(django_assert_num_queries):
    client = warm_session_client(UserFactory())

    with django_assert_num_queries(0):
        assert client.get(VERIFY).status_code == 200


CHECK = "/api/v1/auth/check"


def auth_check(client, **headers):
    return client.get(
        CHECK, HTTP_X_ORIGINAL_METHOD="GET", HTTP_X_ORIGINAL_URI="/api/v1/agents", **headers
    )


def test_a_warm_auth_check_for_a_tenant_scoped_route_makes_no_query(django_assert_num_queries):
    user = UserFactory()
    tenant = MembershipFactory(user=user).tenant
    _, client = key_client(user=user)
    auth_check(client)

    with django_assert_num_queries(0):
        response = auth_check(client)

    assert response.status_code == 200
    assert response["X-Auth-Tenant-Id"] == str(tenant.pk)


def test_a_warm_auth_check_naming_a_tenant_makes_no_query(django_assert_num_queries):
    user = UserFactory()
    MembershipFactory(user=user)
    named = MembershipFactory(user=user).tenant
    _, client = key_client(user=user)
    auth_check(client, HTTP_X_TENANT_ID=str(named.pk))

    with django_assert_num_queries(0):
        response = auth_check(client, HTTP_X_TENANT_ID=str(named.pk))

    assert response["X-Auth-Tenant-Id"] == str(named.pk)


def test_leaving_a_tenant_is_seen_by_the_next_warm_auth_check():
    user = UserFactory()
    MembershipFactory(user=user)
    membership = MembershipFactory(user=user)
    _, client = key_client(user=user)
    assert auth_check(client, HTTP_X_TENANT_ID=str(membership.tenant_id)).status_code == 200

    membership.delete()

    response = auth_check(client, HTTP_X_TENANT_ID=str(membership.tenant_id))
    assert response.status_code == 403
    assert response.json()["code"] == "tenant_not_found"


@pytest.mark.redis
def test_a_warm_key_request_makes_one_redis_round_trip(redis_calls):
    _, client = key_client()
    client.get(VERIFY)
    redis_calls.clear()

    client.get(VERIFY)

    assert redis_calls == ["EVALSHA"]


@pytest.mark.redis
def test_a_warm_jwt_request_makes_one_redis_round_trip(redis_calls):
    client = jwt_client(UserFactory())
    client.get(VERIFY)
    redis_calls.clear()

    client.get(VERIFY)

    assert redis_calls == ["EVALSHA"]


@pytest.mark.redis
def test_a_warm_session_request_makes_one_redis_round_trip(redis_calls):
    client = warm_session_client(UserFactory())
    redis_calls.clear()

    client.get(VERIFY)

    assert redis_calls == ["EVALSHA"]


def test_a_revoked_key_is_refused_by_the_next_request_though_cached():
    api_key, client = key_client()
    client.get(VERIFY)

    api_key_revoke(api_key=api_key)

    assert client.get(VERIFY).json()["code"] == "api_key_disabled"


def test_a_narrowed_key_acts_narrowed_on_the_next_request():
    api_key, client = key_client(scopes=["read:all"])
    assert client.get("/api/v1/agents").status_code != 403
    api_key.scopes = ["tenants:read"]
    api_key.save()

    assert client.get("/api/v1/agents").status_code == 403


def test_a_deactivated_owner_stops_their_cached_keys_at_once():
    api_key, client = key_client()
    client.get(VERIFY)

    api_key.user.is_active = False
    api_key.user.save()

    assert client.get(VERIFY).status_code == 401


def test_a_deactivated_user_stops_their_cached_jwt_at_once():
    user = UserFactory()
    client = jwt_client(user)
    client.get(VERIFY)

    user.is_active = False
    user.save()

    assert client.get(VERIFY).json()["code"] == "invalid_token"


def test_a_password_change_ends_other_sessions_though_the_user_is_cached():
    user = UserFactory()
    client = session_client(user)
    client.get(VERIFY)

    user.set_password("a brand new passphrase 42")
    user.save()

    assert client.get(VERIFY).status_code == 401


def test_joining_a_second_tenant_drops_the_inferred_tenant_at_once():
    from tenants.services import tenant_create_personal
    from tests.factories import MembershipFactory

    user = UserFactory()
    tenant_create_personal(user=user)
    client = jwt_client(user)
    assert client.get(VERIFY).json()["tenant_id"] is not None

    MembershipFactory(user=user)

    assert client.get(VERIFY).json()["tenant_id"] is None


def test_a_remembered_session_ends_at_once_with_its_logout():
    client = warm_session_client(UserFactory())
    replay = Client()
    replay.cookies["sessionid"] = client.cookies["sessionid"].value

    assert (
        client.post("/api/v1/auth/logout", {}, content_type="application/json").status_code == 204
    )
    assert replay.get(VERIFY).status_code == 401


def test_a_remembered_session_is_forgotten_once_it_expires():
    client = warm_session_client(UserFactory())
    digest = verified.secret_digest(client.cookies["sessionid"].value)
    assert verified.known_session(digest) is not None
    # (Not a request: Redis keeps its own clock, so the stored session outlives fake time.)
    later = Session.objects.get().expire_date + timedelta(seconds=1)

    with time_machine.travel(later, tick=False):
        assert verified.known_session(digest) is None


def test_a_remembered_session_reports_when_it_expires():
    client = warm_session_client(UserFactory())

    expires_at = client.get(VERIFY).json()["expires_at"]

    assert expires_at == Session.objects.get().expire_date.isoformat().replace("+00:00", "Z")


def test_a_warm_key_request_answers_with_the_body_built_for_its_cached_key(monkeypatch):
    from accounts import selectors

    built = []
    original = selectors._described
    monkeypatch.setattr(
        selectors, "_described", lambda *args: built.append(args) or original(*args)
    )
    _, client = key_client()

    first, second = client.get(VERIFY), client.get(VERIFY)

    assert len(built) == 1
    assert first.content == second.content


def test_the_verify_body_of_a_cached_key_follows_a_change_to_the_key():
    api_key, client = key_client(scopes=["read:all"])
    assert client.get(VERIFY).json()["scopes"] == ["read:all"]

    api_key.scopes = ["tenants:read"]
    api_key.save()

    assert client.get(VERIFY).json()["scopes"] == ["tenants:read"]


def test_the_verify_body_of_a_cached_key_follows_a_change_to_its_owner():
    api_key, client = key_client()
    client.get(VERIFY)

    api_key.user.email = "renamed@example.com"
    api_key.user.save()

    assert client.get(VERIFY).json()["user"]["email"] == "renamed@example.com"


def test_the_verify_body_of_a_cached_key_follows_its_owner_into_a_tenant():
    api_key, client = key_client()
    assert client.get(VERIFY).json()["tenant_id"] is None

    membership = MembershipFactory(user=api_key.user)

    assert client.get(VERIFY).json()["tenant_id"] == str(membership.tenant_id)
