"""Key managers and no escalation (SPEC §3): a key never mints or shapes a key wider than itself.

PATCH narrows only, and the type, tenant and key_manager of a key are frozen.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from tests.apikeys.conftest import (
    INFO_URL,
    KEYS_URL,
    key_client,
    key_url,
    make_api_key,
    person_client,
)
from tests.factories import MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db

KEY_API = {"path": "/api/v1/user/api-keys", "methods": ["GET", "POST", "PATCH"]}


def create(client, **body):
    body.setdefault("name", "minted")
    return client.post(KEYS_URL, body, format="json")


def assert_wider(response):
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "insufficient_permissions"


@pytest.mark.parametrize(
    ("method", "action"),
    [("get", ""), ("post", ""), ("get", "own"), ("patch", "own"), ("post", "own/revoke")],
)
def test_key_without_key_manager_gets_403_not_key_manager(user, method, action):
    api_key, raw = make_api_key(user)
    url = key_url(api_key.pk, action.removeprefix("own").lstrip("/")) if action else KEYS_URL

    response = getattr(key_client(raw), method)(url, {"name": "x"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "not_key_manager"


def test_key_manager_with_full_access_creates_a_key_for_its_owner(user):
    _, raw = make_api_key(user, key_manager=True)

    response = create(key_client(raw), scopes=["agents:read"])

    assert response.status_code == 201
    minted = ApiKey.objects.get(pk=response.json()["id"])
    assert minted.user == user
    assert minted.created_by == user


def test_key_manager_cannot_create_a_key_with_wider_scopes(user):
    _, raw = make_api_key(user, key_manager=True, scopes=["keys:read", "keys:write", "agents:read"])

    assert_wider(create(key_client(raw), scopes=["agents:write"]))
    assert_wider(create(key_client(raw), scopes=["read:all"]))


def test_key_manager_creates_a_key_within_its_scopes(user):
    _, raw = make_api_key(user, key_manager=True, scopes=["keys:read", "keys:write", "read:all"])

    response = create(key_client(raw), scopes=["agents:read"])

    assert response.status_code == 201


def test_scoped_key_manager_cannot_create_a_full_access_key(user):
    _, raw = make_api_key(user, key_manager=True, scopes=["keys:read", "keys:write"])

    assert_wider(create(key_client(raw)))


def test_key_manager_cannot_create_a_key_with_wider_grants(user):
    grants = [KEY_API, {"path": "/api/v1/agents", "methods": ["GET"]}]
    _, raw = make_api_key(user, key_manager=True, endpoints=grants)
    client = key_client(raw)

    assert_wider(create(client, endpoints=[{"path": "/api/v1/agents", "methods": ["POST"]}]))
    assert_wider(create(client, endpoints=[{"path": "/api/v1/tenants", "methods": ["GET"]}]))
    assert_wider(create(client, endpoints=[{"path": "/api/v1", "methods": ["GET"]}]))
    narrower = [{"path": "/api/v1/agents/5", "methods": ["GET"]}]
    assert create(client, endpoints=narrower).status_code == 201


def test_key_manager_cannot_create_a_key_for_another_tenant(user):
    bound, other = TenantFactory(), TenantFactory()
    MembershipFactory(user=user, tenant=bound)
    MembershipFactory(user=user, tenant=other)
    _, raw = make_api_key(user, key_manager=True, tenant=bound)

    assert_wider(create(key_client(raw), tenant_id=str(other.pk)))


def test_tenant_bound_key_manager_mints_keys_bound_to_its_tenant(user):
    bound = TenantFactory()
    MembershipFactory(user=user, tenant=bound)
    _, raw = make_api_key(user, key_manager=True, tenant=bound)

    response = create(key_client(raw))

    assert response.status_code == 201
    assert response.json()["tenant_id"] == str(bound.pk)


def test_key_manager_cannot_create_a_key_of_a_wider_type(user):
    _, raw = make_api_key(user, key_manager=True, key_type="development")

    assert_wider(create(key_client(raw), key_type="production"))


def test_admin_key_manager_of_a_staff_owner_may_create_narrower_types(staff):
    _, raw = make_api_key(staff, key_manager=True, key_type="admin", scopes=["admin"])

    response = create(key_client(raw), key_type="production", scopes=["agents:read"])

    assert response.status_code == 201


def test_key_manager_cannot_create_a_key_that_outlives_it(user):
    expiry = timezone.now() + timedelta(days=1)
    _, raw = make_api_key(user, key_manager=True, expires_at=expiry)
    later = (expiry + timedelta(days=1)).isoformat()

    assert_wider(create(key_client(raw), expires_at=later))


def test_key_from_an_expiring_key_manager_inherits_its_expiry(user):
    expiry = timezone.now() + timedelta(days=1)
    _, raw = make_api_key(user, key_manager=True, expires_at=expiry)

    response = create(key_client(raw))

    assert response.status_code == 201
    assert ApiKey.objects.get(pk=response.json()["id"]).expires_at == expiry


def test_key_manager_cannot_widen_allowed_ips(user):
    _, raw = make_api_key(user, key_manager=True, allowed_ips=["10.0.0.0/8"])
    client = key_client(raw, REMOTE_ADDR="10.0.0.1")

    assert_wider(create(client, allowed_ips=["192.168.0.0/16"]))
    assert_wider(create(client, allowed_ips=["0.0.0.0/0"]))
    inherited = create(client)
    assert inherited.status_code == 201
    assert inherited.json()["allowed_ips"] == ["10.0.0.0/8"]
    assert create(client, allowed_ips=["10.1.0.0/16"]).status_code == 201


def test_key_manager_cannot_mint_a_key_manager_of_wider_reach(user):
    _, raw = make_api_key(user, key_manager=True, scopes=["keys:read", "keys:write"])

    assert_wider(create(key_client(raw), key_manager=True, scopes=["keys:write", "read:all"]))


def test_key_manager_cannot_patch_another_key_wider_than_itself(user):
    target, _ = make_api_key(user, allowed_ips=["10.0.0.0/8"], scopes=["agents:read"])
    _, raw = make_api_key(
        user, key_manager=True, scopes=["keys:read", "keys:write"], allowed_ips=["10.1.0.0/16"]
    )
    client = key_client(raw, REMOTE_ADDR="10.1.0.1")

    response = client.patch(key_url(target.pk), {"name": "renamed"}, format="json")

    assert_wider(response)
    assert ApiKey.objects.get(pk=target.pk).name == "test key"


def test_person_manages_their_keys_without_being_a_key_manager(person, user):
    api_key, _ = make_api_key(user)

    assert person.get(key_url(api_key.pk)).status_code == 200


# --- PATCH narrows only -----------------------------------------------------------------------


def patch(client, api_key, **body):
    return client.patch(key_url(api_key.pk), body, format="json")


def test_patch_narrows_scopes(person, user):
    api_key, _ = make_api_key(user, scopes=["agents:read", "read:all"])

    response = patch(person, api_key, scopes="agents:read")

    assert response.status_code == 200
    assert ApiKey.objects.get(pk=api_key.pk).scopes == ["agents:read"]


def test_patch_cannot_add_a_scope(person, user):
    api_key, _ = make_api_key(user, scopes=["agents:read"])

    response = patch(person, api_key, scopes=["agents:read", "agents:write"])

    assert response.status_code == 400
    assert "scopes" in response.json()["errors"]
    assert ApiKey.objects.get(pk=api_key.pk).scopes == ["agents:read"]


def test_patch_narrows_a_full_access_key_to_scopes(person, user):
    api_key, raw = make_api_key(user)

    assert patch(person, api_key, scopes=["agents:read"]).status_code == 200
    assert key_client(raw).get("/api/v1/tenants").status_code == 403


def test_patch_narrows_endpoint_grants(person, user):
    api_key, _ = make_api_key(user, endpoints=[{"path": "/api/v1/agents", "methods": ["*"]}])

    response = patch(person, api_key, endpoints=[{"path": "/api/v1/agents/5", "methods": ["GET"]}])

    assert response.status_code == 200


def test_patch_cannot_widen_endpoint_grants(person, user):
    api_key, _ = make_api_key(user, endpoints=[{"path": "/api/v1/agents", "methods": ["GET"]}])

    response = patch(person, api_key, endpoints=[{"path": "/api/v1", "methods": ["GET"]}])

    assert response.status_code == 400
    assert "endpoints" in response.json()["errors"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("key_type", "production"),
        ("tenant_id", "00000000-0000-0000-0000-000000000000"),
        ("tenant_id", None),
        ("key_manager", True),
        ("key", "kw_whatever"),
        ("key_prefix", "kw_abc"),
    ],
)
def test_patch_cannot_change_frozen_fields(person, user, field, value):
    api_key, _ = make_api_key(user)

    response = patch(person, api_key, **{field: value})

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["errors"]
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert (stored.key_type, stored.tenant_id, stored.key_manager, stored.key_hash) == (
        api_key.key_type,
        api_key.tenant_id,
        api_key.key_manager,
        api_key.key_hash,
    )


def test_patch_of_is_active_gets_400_and_leaves_the_key_working(person, user):
    # Silently ignored, a 200 would tell the caller a key they meant to disable was revoked.
    api_key, raw = make_api_key(user)

    response = patch(person, api_key, is_active=False)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "is_active" in response.json()["errors"]
    assert ApiKey.objects.get(pk=api_key.pk).is_active is True
    assert key_client(raw).get(INFO_URL).status_code == 200


def test_patch_changes_name_description_metadata_and_limits(person, user):
    api_key, _ = make_api_key(user)

    response = patch(
        person,
        api_key,
        name="renamed",
        description="for CI",
        metadata={"team": "ops"},
        rate_limit={"per_minute": 10},
    )

    assert response.status_code == 200
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert (stored.name, stored.description, stored.metadata, stored.rate_limit) == (
        "renamed",
        "for CI",
        {"team": "ops"},
        {"per_minute": 10},
    )


def test_patch_cannot_move_expiry_into_the_past(person, user):
    api_key, _ = make_api_key(user)
    past = (timezone.now() - timedelta(seconds=1)).isoformat()

    response = patch(person, api_key, expires_at=past)

    assert response.status_code == 400
    assert "expires_at" in response.json()["errors"]


def test_narrowing_by_patch_takes_effect_on_the_next_request(person, user):
    api_key, raw = make_api_key(user, scopes=["agents:read", "tenants:read"])
    client = key_client(raw)
    assert client.get("/api/v1/tenants").status_code == 200

    patch(person, api_key, scopes=["agents:read"])

    assert client.get("/api/v1/tenants").status_code == 403


def test_scoped_key_manager_cannot_rotate_a_wider_key_to_obtain_it(user):
    wider, _ = make_api_key(user)
    _, raw = make_api_key(user, key_manager=True, scopes=["keys:read", "keys:write"])

    response = key_client(raw).post(key_url(wider.pk, "rotate"), {}, format="json")

    assert_wider(response)
    assert not ApiKey.objects.filter(rotated_from=wider).exists()
    assert ApiKey.objects.get(pk=wider.pk).is_active is True


def test_key_manager_rotates_a_key_within_itself(user):
    narrower, _ = make_api_key(user, scopes=["agents:read"])
    _, raw = make_api_key(user, key_manager=True, scopes=["keys:read", "keys:write", "read:all"])

    response = key_client(raw).post(key_url(narrower.pk, "rotate"), {}, format="json")

    assert response.status_code == 201
    successor = ApiKey.objects.get(rotated_from=narrower)
    assert str(successor.pk) == response.json()["id"]
    assert successor.scopes == ["agents:read"]
    assert ApiKey.objects.get(pk=narrower.pk).is_active is False  # no grace: retired at once


def test_renaming_a_key_is_not_refused_over_an_expiry_nobody_touched(user):
    api_key, _ = make_api_key(user)
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(days=1))

    response = person_client(user).patch(key_url(api_key.pk), {"name": "renamed"}, format="json")

    assert response.status_code == 200
    assert response.json()["name"] == "renamed"
    assert ApiKey.objects.get(pk=api_key.pk).name == "renamed"


def test_an_owner_may_rename_a_key_whose_limit_staff_raised(user, staff):
    api_key, _ = make_api_key(user, created_by=staff, rate_limit={"per_minute": 5000})

    response = person_client(user).patch(key_url(api_key.pk), {"name": "renamed"}, format="json")

    assert response.status_code == 200
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert (stored.name, stored.rate_limit) == ("renamed", {"per_minute": 5000})
