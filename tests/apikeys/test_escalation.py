"""No escalation, stated once, and an expired key stays expired (SPEC §9), through the HTTP API.

Issue 21's rows 2-4 are here as they were found: a grants-only key manager giving scopes it does
not hold, a narrow manager reviving and deleting its owner's full-access key, and an expired key
brought back to life by a PATCH of its expiry.
"""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from apikeys.models import ApiKey
from tests.apikeys.conftest import (
    INFO_URL,
    KEYS_URL,
    VERIFY_URL,
    key_client,
    key_url,
    make_api_key,
    person_client,
)

pytestmark = pytest.mark.django_db

KEY_API_POST = {"path": "/api/v1/user/api-keys", "methods": ["POST"]}
VERIFY_GRANT = {"path": "/api/v1/keys/verify", "methods": ["POST"]}
NARROW_MANAGER_SCOPES = ["agents:read", "keys:read", "keys:write"]


def assert_refused_on(response, field: str):
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["code"] == "insufficient_permissions"
    assert field in body["detail"]


def assert_code(response, status: int, code: str):
    assert response.status_code == status, response.content
    assert response.json()["code"] == code


# --- row 2: a key with grants and no scopes holds no scope, so it gives none ----------------


@pytest.fixture
def grants_only_manager(user):
    _, raw = make_api_key(user, key_manager=True, endpoints=[KEY_API_POST, VERIFY_GRANT])
    return key_client(raw)


def test_grants_only_key_manager_may_not_verify_keys_itself(grants_only_manager, user):
    _, other = make_api_key(user)

    response = grants_only_manager.post(VERIFY_URL, {"key": other}, format="json")

    assert_code(response, 403, "insufficient_permissions")


@pytest.mark.parametrize(
    "scopes",
    [["keys:verify"], ["read:all", "write:all"], ["agents:write"], ["app:access"]],
)
def test_grants_only_key_manager_cannot_give_a_scope(grants_only_manager, scopes):
    body = {"name": "child", "scopes": scopes, "endpoints": [VERIFY_GRANT]}

    response = grants_only_manager.post(KEYS_URL, body, format="json")

    assert_refused_on(response, "scopes")
    assert not ApiKey.objects.filter(name="child").exists()


def test_grants_only_key_manager_mints_a_grants_only_key_within_its_grants(grants_only_manager):
    body = {"name": "child", "endpoints": [VERIFY_GRANT]}

    response = grants_only_manager.post(KEYS_URL, body, format="json")

    assert response.status_code == 201, response.content
    assert ApiKey.objects.get(pk=response.json()["id"]).endpoints == [VERIFY_GRANT]


def test_full_access_key_manager_of_a_non_staff_owner_cannot_give_keys_verify(user):
    _, raw = make_api_key(user, key_manager=True)

    response = key_client(raw).post(KEYS_URL, {"name": "child", "scopes": ["keys:verify"]})

    assert_refused_on(response, "scopes")


def test_scoped_key_manager_cannot_give_a_grants_only_key_beyond_its_scopes(user):
    # The grants-only child may write to tenants inside its grant; the manager may not.
    everything = {"path": "/api/v1", "methods": ["*"]}
    _, raw = make_api_key(
        user, key_manager=True, scopes=["agents:read", "keys:write"], endpoints=[everything]
    )
    body = {"name": "child", "endpoints": [{"path": "/api/v1/tenants", "methods": ["POST"]}]}

    response = key_client(raw).post(KEYS_URL, body, format="json")

    assert_refused_on(response, "scopes")


# --- row 3: acting on a wider key is refused, whatever the action ---------------------------


@pytest.fixture
def narrow_manager(user):
    _, raw = make_api_key(user, key_manager=True, scopes=NARROW_MANAGER_SCOPES)
    return key_client(raw)


@pytest.fixture
def revoked_full_access_key(user):
    api_key, raw = make_api_key(user)
    ApiKey.objects.filter(pk=api_key.pk).update(is_active=False)
    return api_key, raw


def test_narrow_manager_cannot_activate_its_owners_revoked_full_access_key(
    narrow_manager, revoked_full_access_key
):
    api_key, raw = revoked_full_access_key

    response = narrow_manager.post(key_url(api_key.pk, "activate"))

    assert_refused_on(response, "scopes")
    assert ApiKey.objects.get(pk=api_key.pk).is_active is False
    assert_code(key_client(raw).get(INFO_URL), 401, "api_key_disabled")


def test_narrow_manager_cannot_delete_its_owners_full_access_key(
    narrow_manager, revoked_full_access_key
):
    api_key, _ = revoked_full_access_key

    response = narrow_manager.delete(key_url(api_key.pk))

    assert_refused_on(response, "scopes")
    assert ApiKey.objects.filter(pk=api_key.pk).exists()


def test_narrow_manager_cannot_revoke_its_owners_full_access_key(narrow_manager, user):
    api_key, raw = make_api_key(user)

    response = narrow_manager.post(key_url(api_key.pk, "revoke"))

    assert_refused_on(response, "scopes")
    assert ApiKey.objects.get(pk=api_key.pk).is_active is True
    assert key_client(raw).get(INFO_URL).status_code == 200


@pytest.mark.parametrize(
    ("method", "action", "body"),
    [("patch", "", {"name": "renamed"}), ("post", "rotate", {})],
)
def test_narrow_manager_cannot_change_or_rotate_a_wider_key(
    narrow_manager, revoked_full_access_key, method, action, body
):
    api_key, _ = revoked_full_access_key

    response = getattr(narrow_manager, method)(key_url(api_key.pk, action), body, format="json")

    assert_refused_on(response, "scopes")
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.name == api_key.name
    assert not ApiKey.objects.filter(rotated_from=api_key).exists()


def test_narrow_manager_activates_and_deletes_a_key_within_itself(narrow_manager, user):
    api_key, _ = make_api_key(user, scopes=["agents:read"])
    ApiKey.objects.filter(pk=api_key.pk).update(is_active=False)

    assert narrow_manager.post(key_url(api_key.pk, "activate")).status_code == 200
    assert ApiKey.objects.get(pk=api_key.pk).is_active is True
    assert narrow_manager.delete(key_url(api_key.pk)).status_code == 204
    assert not ApiKey.objects.filter(pk=api_key.pk).exists()


def test_key_manager_cannot_patch_a_key_to_a_rate_limit_above_its_own(user):
    _, raw = make_api_key(user, key_manager=True, rate_limit={"per_minute": 10})
    target, _ = make_api_key(user, rate_limit={"per_minute": 5})

    response = key_client(raw).patch(
        key_url(target.pk), {"rate_limit": {"per_minute": 50}}, format="json"
    )

    assert_refused_on(response, "rate_limit")
    assert ApiKey.objects.get(pk=target.pk).rate_limit == {"per_minute": 5}


def test_key_manager_cannot_extend_its_own_expiry(user):
    expiry = timezone.now() + timedelta(days=1)
    manager, raw = make_api_key(user, key_manager=True, expires_at=expiry)
    later = (expiry + timedelta(days=30)).isoformat()

    response = key_client(raw).patch(key_url(manager.pk), {"expires_at": later}, format="json")

    assert_refused_on(response, "expires_at")
    assert ApiKey.objects.get(pk=manager.pk).expires_at == expiry


# --- row 4: an expired key stays expired ----------------------------------------------------


@pytest.fixture
def expired_key(user):
    """A key that expired an hour ago, with the clock frozen after its expiry."""
    api_key, raw = make_api_key(user, expires_at=timezone.now() + timedelta(hours=1))
    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        yield api_key, raw


def test_patch_of_an_expired_keys_expiry_gets_400_api_key_expired(expired_key, user):
    api_key, raw = expired_key
    later = (timezone.now() + timedelta(days=30)).isoformat()

    response = person_client(user).patch(key_url(api_key.pk), {"expires_at": later}, format="json")

    assert_code(response, 400, "api_key_expired")
    assert ApiKey.objects.get(pk=api_key.pk).expires_at == api_key.expires_at
    assert_code(key_client(raw).get(INFO_URL), 401, "api_key_expired")


def test_patch_cannot_clear_an_expired_keys_expiry(expired_key, user):
    api_key, _ = expired_key

    response = person_client(user).patch(key_url(api_key.pk), {"expires_at": None}, format="json")

    assert_code(response, 400, "api_key_expired")
    assert ApiKey.objects.get(pk=api_key.pk).expires_at == api_key.expires_at


def test_expired_key_cannot_be_rotated(expired_key, user):
    api_key, _ = expired_key

    response = person_client(user).post(key_url(api_key.pk, "rotate"), {}, format="json")

    assert_code(response, 400, "api_key_expired")
    assert not ApiKey.objects.filter(rotated_from=api_key).exists()


def test_expired_key_cannot_be_activated(expired_key, user):
    api_key, _ = expired_key
    ApiKey.objects.filter(pk=api_key.pk).update(is_active=False)

    response = person_client(user).post(key_url(api_key.pk, "activate"))

    assert_code(response, 400, "api_key_expired")
    assert ApiKey.objects.get(pk=api_key.pk).is_active is False


def test_expired_key_can_be_read_and_deleted(expired_key, user):
    api_key, _ = expired_key
    person = person_client(user)

    assert person.get(key_url(api_key.pk)).status_code == 200
    assert person.delete(key_url(api_key.pk)).status_code == 204
    assert not ApiKey.objects.filter(pk=api_key.pk).exists()
