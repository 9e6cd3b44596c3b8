"""Revoke, activate, rotate, delete, read and list (SPEC §3), checked in answers and storage."""

from datetime import timedelta

import pytest
import time_machine
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
from tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

KEY_FIELDS = [
    *("id", "name", "description", "key_prefix", "scopes", "key_type", "tenant_id"),
    *("endpoints", "key_manager", "allowed_ips", "rate_limit", "metadata", "is_active"),
    *("expires_at", "created_at", "created_by", "last_used_at", "last_used_ip"),
    *("request_count", "full_access"),
]


def assert_code(response, status, code):
    assert response.status_code == status, response.content
    assert response.json()["code"] == code


# --- revoke and activate --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put"])
def test_revoke_disables_a_warm_key_before_the_response_returns(person, user, method):
    api_key, raw = make_api_key(user)
    client = key_client(raw)
    assert client.get(INFO_URL).status_code == 200

    response = getattr(person, method)(key_url(api_key.pk, "revoke"))

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert ApiKey.objects.get(pk=api_key.pk).is_active is False
    assert_code(client.get(INFO_URL), 401, "api_key_disabled")


def test_revoke_is_reversible_by_activate(person, user):
    api_key, raw = make_api_key(user)
    person.post(key_url(api_key.pk, "revoke"))

    response = person.post(key_url(api_key.pk, "activate"))

    assert response.status_code == 200
    assert response.json()["is_active"] is True
    assert key_client(raw).get(INFO_URL).status_code == 200


def test_revoking_twice_is_harmless(person, user):
    api_key, _ = make_api_key(user)
    person.post(key_url(api_key.pk, "revoke"))

    assert person.post(key_url(api_key.pk, "revoke")).status_code == 200
    assert ApiKey.objects.get(pk=api_key.pk).is_active is False


def test_expired_key_cannot_be_activated(user):
    api_key, _ = make_api_key(user, expires_at=timezone.now() + timedelta(minutes=5))

    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        person = person_client(user)
        person.post(key_url(api_key.pk, "revoke"))
        response = person.post(key_url(api_key.pk, "activate"))

    assert_code(response, 400, "api_key_expired")
    assert ApiKey.objects.get(pk=api_key.pk).is_active is False


# --- rotate -----------------------------------------------------------------------------------


def rotate(client, api_key, grace=None):
    body = {} if grace is None else {"grace_period_seconds": grace}
    return client.post(key_url(api_key.pk, "rotate"), body, format="json")


def test_rotate_returns_a_new_key_once_with_the_same_settings(person, user):
    tenant = TenantFactory()
    MembershipFactory(user=user, tenant=tenant)
    api_key, _ = make_api_key(
        user,
        name="ci",
        scopes=["agents:read"],
        tenant=tenant,
        allowed_ips=["10.0.0.0/8"],
        metadata={"team": "ops"},
        rate_limit={"per_minute": 30},
    )

    response = rotate(person, api_key)

    assert response.status_code == 201
    body = response.json()
    assert body["key"].startswith("kw_") and body["key_prefix"] == body["key"][:12]
    assert body["id"] != str(api_key.pk) and body["rotated_from"] == str(api_key.pk)
    for field in ("name", "scopes", "tenant_id", "allowed_ips", "metadata", "rate_limit"):
        old = getattr(api_key, field if field != "tenant_id" else "tenant_id")
        assert body[field] == (str(old) if field == "tenant_id" else old)
    assert "key" not in person.get(key_url(body["id"])).json()


def test_rotate_without_grace_revokes_the_old_key_at_once(person, user):
    api_key, raw = make_api_key(user)
    key_client(raw).get(INFO_URL)

    new_raw = rotate(person, api_key, grace=0).json()["key"]

    assert_code(key_client(raw).get(INFO_URL), 401, "api_key_disabled")
    assert key_client(new_raw).get(INFO_URL).status_code == 200


def test_rotated_key_works_during_the_grace_period_and_not_after(person, user):
    api_key, raw = make_api_key(user)
    start = timezone.now()

    with time_machine.travel(start, tick=False):
        new_raw = rotate(person, api_key, grace=3600).json()["key"]
        assert key_client(raw).get(INFO_URL).status_code == 200

    with time_machine.travel(start + timedelta(seconds=3599), tick=False):
        assert key_client(raw).get(INFO_URL).status_code == 200

    with time_machine.travel(start + timedelta(seconds=3601), tick=False):
        assert_code(key_client(raw).get(INFO_URL), 401, "api_key_expired")
        assert key_client(new_raw).get(INFO_URL).status_code == 200


def test_a_key_rotated_without_grace_cannot_be_activated_again(person, user):
    api_key, raw = make_api_key(user)
    rotate(person, api_key, grace=0)

    response = person.post(key_url(api_key.pk, "activate"))

    assert_code(response, 409, "already_rotated")
    assert ApiKey.objects.get(pk=api_key.pk).is_active is False
    assert_code(key_client(raw).get(INFO_URL), 401, "api_key_disabled")


def test_a_rotated_keys_expiry_cannot_be_pushed_past_its_grace_period(person, user):
    api_key, _ = make_api_key(user)
    rotate(person, api_key, grace=600)
    grace_end = ApiKey.objects.get(pk=api_key.pk).expires_at

    for expires_at in (None, (grace_end + timedelta(days=1)).isoformat()):
        response = person.patch(key_url(api_key.pk), {"expires_at": expires_at}, format="json")
        assert_code(response, 400, "validation_error")
        assert "expires_at" in response.json()["errors"]
    assert ApiKey.objects.get(pk=api_key.pk).expires_at == grace_end


def test_a_rotated_keys_grace_period_may_be_shortened(person, user):
    api_key, _ = make_api_key(user)
    rotate(person, api_key, grace=600)
    sooner = timezone.now() + timedelta(seconds=60)

    response = person.patch(key_url(api_key.pk), {"expires_at": sooner.isoformat()}, format="json")

    assert response.status_code == 200
    assert ApiKey.objects.get(pk=api_key.pk).expires_at == sooner


def test_grace_period_never_pushes_an_earlier_expiry_back(person, user):
    expiry = timezone.now() + timedelta(minutes=10)
    api_key, _ = make_api_key(user, expires_at=expiry)

    rotate(person, api_key, grace=3600)

    assert ApiKey.objects.get(pk=api_key.pk).expires_at == expiry


def test_a_key_is_rotated_once_the_second_time_gets_409_already_rotated(person, user):
    api_key, _ = make_api_key(user)
    assert rotate(person, api_key, grace=600).status_code == 201

    assert_code(rotate(person, api_key, grace=600), 409, "already_rotated")
    assert ApiKey.objects.filter(rotated_from=api_key).count() == 1


@pytest.mark.parametrize("grace", [-1, 604801, "soon", None])
def test_rotate_refuses_a_grace_period_out_of_range(person, user, grace):
    api_key, _ = make_api_key(user)

    response = person.post(
        key_url(api_key.pk, "rotate"), {"grace_period_seconds": grace}, format="json"
    )

    assert_code(response, 400, "validation_error")
    assert not ApiKey.objects.filter(rotated_from=api_key).exists()


def test_rotate_accepts_the_longest_grace_period(person, user):
    api_key, _ = make_api_key(user)

    assert rotate(person, api_key, grace=604800).status_code == 201


def test_revoked_key_cannot_be_rotated(person, user):
    api_key, _ = make_api_key(user)
    person.post(key_url(api_key.pk, "revoke"))

    assert_code(rotate(person, api_key), 400, "validation_error")


# --- delete -----------------------------------------------------------------------------------


def test_delete_answers_204_then_the_key_is_gone_everywhere(person, user):
    api_key, raw = make_api_key(user)
    key_client(raw).get(INFO_URL)

    response = person.delete(key_url(api_key.pk))

    assert response.status_code == 204
    assert not ApiKey.objects.filter(pk=api_key.pk).exists()
    assert_code(person.get(key_url(api_key.pk)), 404, "not_found")
    assert_code(person.delete(key_url(api_key.pk)), 404, "not_found")
    assert_code(key_client(raw).get(INFO_URL), 401, "invalid_api_key")


# --- another user's key -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "action"),
    [
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "revoke"),
        ("put", "revoke"),
        ("post", "activate"),
        ("post", "rotate"),
        ("get", "usage"),
    ],
)
def test_another_users_key_answers_404_never_403(person, method, action):
    theirs, _ = make_api_key(UserFactory())

    response = getattr(person, method)(key_url(theirs.pk, action), {"name": "x"}, format="json")

    assert_code(response, 404, "not_found")
    assert ApiKey.objects.get(pk=theirs.pk).is_active is True


@pytest.mark.parametrize("key_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1"])
def test_unknown_or_malformed_key_id_answers_404(person, key_id):
    assert_code(person.get(key_url(key_id)), 404, "not_found")


def test_read_shows_the_key_object_without_secret_or_hash(person, user):
    api_key, raw = make_api_key(user)

    body = person.get(key_url(api_key.pk)).json()

    assert body["key_prefix"] == raw[:12]
    assert "key" not in body and "key_hash" not in body
    assert raw not in str(body) and api_key.key_hash not in str(body)
    assert set(KEY_FIELDS) <= set(body)


def test_create_returns_the_raw_key_once_and_stores_only_its_hash(person):
    response = person.post(KEYS_URL, {"name": "ci", "description": "d"}, format="json")

    assert response.status_code == 201
    raw = response.json()["key"]
    stored = ApiKey.objects.get(pk=response.json()["id"])
    assert stored.key_prefix == raw[:12]
    assert raw not in (stored.key_hash, stored.key_prefix)
    assert len(raw) >= 3 + 43


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "x" * 101}, {"name": "k", "key_type": "x"}]
)
def test_create_with_bad_fields_gets_400_validation_error(person, body):
    assert_code(person.post(KEYS_URL, body, format="json"), 400, "validation_error")


def test_create_without_a_credential_gets_401_authentication_required(db):
    from rest_framework.test import APIClient

    response = APIClient().post(KEYS_URL, {"name": "x"}, format="json")

    assert_code(response, 401, "authentication_required")
    assert response["WWW-Authenticate"]


# --- list -------------------------------------------------------------------------------------


def test_list_is_paginated_and_shows_only_own_keys(person, user):
    for _ in range(3):
        make_api_key(user)
    make_api_key(UserFactory())

    first = person.get(KEYS_URL, {"page_size": 2}).json()
    second = person.get(first["next"]).json()

    assert first["count"] == 3
    assert len(first["results"]) == 2 and len(second["results"]) == 1
    ids = {k["id"] for k in first["results"] + second["results"]}
    assert ids == {str(k.pk) for k in ApiKey.objects.filter(user=user)}


def test_list_filters_by_is_active_key_type_and_tenant(person, user):
    tenant = TenantFactory()
    MembershipFactory(user=user, tenant=tenant)
    revoked, _ = make_api_key(user)
    revoked.is_active = False
    revoked.save()
    production, _ = make_api_key(user, key_type="production")
    bound, _ = make_api_key(user, tenant=tenant)

    def ids(**params):
        return {k["id"] for k in person.get(KEYS_URL, params).json()["results"]}

    assert ids(is_active="false") == {str(revoked.pk)}
    assert ids(key_type="production") == {str(production.pk)}
    assert ids(tenant_id=str(tenant.pk)) == {str(bound.pk)}
    assert ids(is_active="true", key_type="development") == {str(bound.pk)}


@pytest.mark.parametrize(
    "params", [{"is_active": "maybe"}, {"key_type": "root"}, {"tenant_id": "x"}, {"page": "zz"}]
)
def test_list_with_malformed_filters_gets_4xx_with_a_code(person, params):
    response = person.get(KEYS_URL, params)

    assert response.status_code in (400, 404)
    assert response.json()["code"] in ("validation_error", "not_found")


def test_list_all_is_refused_without_the_admin_scope(person):
    assert_code(person.get(KEYS_URL, {"all": "true"}), 403, "insufficient_permissions")


def test_list_all_shows_every_users_keys_to_a_staff_admin_scoped_key(staff):
    _, raw = make_api_key(staff, key_type="admin", scopes=["admin"], key_manager=True)
    theirs, _ = make_api_key(UserFactory())

    response = key_client(raw).get(KEYS_URL, {"all": "true"})

    assert response.status_code == 200
    assert str(theirs.pk) in {k["id"] for k in response.json()["results"]}


def test_without_all_even_an_admin_lists_only_own_keys(staff):
    _, raw = make_api_key(staff, key_type="admin", scopes=["admin"], key_manager=True)
    theirs, _ = make_api_key(UserFactory())

    response = key_client(raw).get(KEYS_URL)

    assert str(theirs.pk) not in {k["id"] for k in response.json()["results"]}


def test_list_all_is_refused_to_an_admin_key_whose_owner_is_no_longer_staff(staff):
    _, raw = make_api_key(staff, key_type="admin", scopes=["admin"], key_manager=True)
    staff.is_staff = False
    staff.save()

    assert_code(key_client(raw).get(KEYS_URL, {"all": "true"}), 403, "insufficient_permissions")
