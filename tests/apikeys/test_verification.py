"""Verification for other services (SPEC §3): ``POST /keys/verify`` and ``GET /auth/check``."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys import crypto
from apikeys.models import ApiKey
from apikeys.serializers import KeyVerifyResponseSerializer
from apikeys.services import api_key_revoke, api_key_update
from apikeys.verification import UNKNOWN, Verdict
from tenants.models import Membership
from tests.apikeys.conftest import (
    CHECK_URL,
    VERIFY_URL,
    forged_key,
    key_client,
    key_url,
    make_api_key,
    person_client,
)
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.metering.test_limits_api import UNREACHABLE_REDIS

pytestmark = pytest.mark.django_db

VERDICT_FIELDS = {
    "valid",
    "code",
    "key_id",
    "key_prefix",
    "owner",
    "tenant_id",
    "scopes",
    "ratelimit",
    "credits",  # null for a key without credits (tests/apikeys/test_credits.py)
    "reason",
}


@pytest.fixture
def verifier(user):
    """A backend's client holding a key with the keys:verify scope."""
    _, raw = make_api_key(user, scopes=["keys:verify"])
    return key_client(raw)


def verify(client, raw_key, **body):
    response = client.post(VERIFY_URL, {"key": raw_key, **body}, format="json")
    assert response.status_code == 200, response.content
    assert set(response.json()) == VERDICT_FIELDS
    return response.json()


# --- keys/verify ------------------------------------------------------------------------------


def test_verify_answers_valid_with_the_keys_identity(verifier, user):
    api_key, raw = make_api_key(user, scopes=["agents:read"])

    verdict = verify(verifier, raw, method="GET", path="/api/v1/agents")

    assert verdict["valid"] is True and verdict["code"] == "valid"
    assert verdict["key_id"] == str(api_key.pk)
    assert verdict["key_prefix"] == raw[:12]
    assert verdict["owner"] == {"id": user.pk, "email": user.email}
    assert verdict["scopes"] == ["agents:read"]
    assert verdict["ratelimit"]["limit"] == 60 and verdict["ratelimit"]["remaining"] == 59
    assert "agents:read" in verdict["reason"]


def test_verify_explains_a_denial_by_the_scope_that_decided(verifier, user):
    _, raw = make_api_key(user, scopes=["agents:read"])

    verdict = verify(verifier, raw, method="POST", path="/api/v1/agents")

    assert (verdict["valid"], verdict["code"]) == (False, "insufficient_permissions")
    assert "agents:write" in verdict["reason"]


def test_verify_judges_a_non_keyward_path_by_its_resource(verifier, user):
    _, raw = make_api_key(user, scopes=["orders:read"])

    assert verify(verifier, raw, method="GET", path="/api/v2/orders/7")["valid"] is True
    assert verify(verifier, raw, method="GET", path="/api/v2/invoices/7")["valid"] is False


def test_verify_unknown_key_reads_invalid_api_key(verifier, user):
    _, raw = make_api_key(user)

    verdict = verify(verifier, forged_key(raw))

    assert (verdict["valid"], verdict["code"], verdict["key_id"]) == (
        False,
        "invalid_api_key",
        None,
    )


def test_verify_mistyped_key_reads_invalid_api_key(verifier):
    assert verify(verifier, "kw_not-a-key")["code"] == "invalid_api_key"


def test_verify_revoked_key_reads_api_key_disabled(verifier, user):
    api_key, raw = make_api_key(user)
    api_key_revoke(api_key=api_key)

    assert verify(verifier, raw)["code"] == "api_key_disabled"


def test_verify_expired_key_reads_api_key_expired(verifier, user):
    _, raw = make_api_key(user, expires_at=timezone.now() + timedelta(minutes=1))

    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=False):
        assert verify(verifier, raw)["code"] == "api_key_expired"


def test_verify_key_of_someone_sharing_no_tenant_reads_exactly_as_unknown(verifier):
    stranger = UserFactory()
    MembershipFactory(user=stranger)
    _, raw = make_api_key(stranger)

    theirs = verify(verifier, raw)
    unknown = verify(verifier, forged_key(raw))

    assert theirs == unknown


def test_verify_key_of_a_fellow_tenant_member_is_answered(verifier, user):
    tenant = TenantFactory()
    MembershipFactory(user=user, tenant=tenant)
    colleague = UserFactory()
    MembershipFactory(user=colleague, tenant=tenant)
    _, raw = make_api_key(colleague)

    assert verify(verifier, raw)["valid"] is True


def test_staff_admin_key_verifies_any_key(staff):
    _, admin_raw = make_api_key(staff, key_type="admin", scopes=["admin"])
    _, raw = make_api_key(UserFactory())

    assert verify(key_client(admin_raw), raw)["valid"] is True


def test_tenant_bound_verifier_reads_other_tenants_keys_as_unknown(user):
    mine, other = TenantFactory(), TenantFactory()
    MembershipFactory(user=user, tenant=mine)
    MembershipFactory(user=user, tenant=other)
    _, verifier_raw = make_api_key(user, scopes=["keys:verify"], tenant=mine)
    _, raw = make_api_key(user, tenant=other)

    assert verify(key_client(verifier_raw), raw)["code"] == "invalid_api_key"


def test_tenant_bound_verifier_reads_keys_of_people_outside_its_tenant_as_unknown(user):
    # The verifier's owner shares another tenant with the key's owner; the verifier is bound
    # to one they do not share, so it must not learn about that key.
    mine, shared = TenantFactory(), TenantFactory()
    MembershipFactory(user=user, tenant=mine)
    MembershipFactory(user=user, tenant=shared)
    colleague = UserFactory()
    MembershipFactory(user=colleague, tenant=shared)
    _, verifier_raw = make_api_key(user, scopes=["keys:verify"], tenant=mine)
    _, raw = make_api_key(colleague)

    verdict = verify(key_client(verifier_raw), raw)

    assert (verdict["valid"], verdict["code"]) == (False, "invalid_api_key")
    assert verdict["key_id"] is None


def test_tenant_bound_verifier_answers_for_its_tenant_members_unbound_keys(user):
    mine = TenantFactory()
    MembershipFactory(user=user, tenant=mine)
    colleague = UserFactory()
    MembershipFactory(user=colleague, tenant=mine)
    _, verifier_raw = make_api_key(user, scopes=["keys:verify"], tenant=mine)
    api_key, raw = make_api_key(colleague)

    verdict = verify(key_client(verifier_raw), raw, path="/api/v1/orders")

    assert verdict["key_id"] == str(api_key.pk)


def test_verify_names_tenant_mismatch_for_a_key_bound_elsewhere(verifier, user):
    bound, other = TenantFactory(), TenantFactory()
    MembershipFactory(user=user, tenant=bound)
    MembershipFactory(user=user, tenant=other)
    _, raw = make_api_key(user, tenant=bound)

    verdict = verify(verifier, raw, tenant_id=str(other.pk))

    assert (verdict["valid"], verdict["code"]) == (False, "tenant_mismatch")


def test_verify_without_a_path_judges_the_key_alone(verifier, user):
    _, raw = make_api_key(user, scopes=["agents:read"])

    verdict = verify(verifier, raw)

    assert (verdict["valid"], verdict["code"]) == (True, "valid")


def test_verify_without_a_path_still_applies_the_tenant_rule(verifier, user):
    bound = TenantFactory()
    MembershipFactory(user=user, tenant=bound)
    _, raw = make_api_key(user, scopes=["agents:read"], tenant=bound)

    verdict = verify(verifier, raw, tenant_id=str(TenantFactory().pk))

    assert (verdict["valid"], verdict["code"]) == (False, "tenant_mismatch")


def test_verify_for_a_tenant_scoped_route_needs_a_tenant_from_an_owner_in_several(verifier, user):
    MembershipFactory(user=user)  # a second tenant
    _, raw = make_api_key(user, scopes=["agents:read"])

    verdict = verify(verifier, raw, method="GET", path="/api/v1/agents")

    assert (verdict["valid"], verdict["code"]) == (False, "tenant_id_required")
    assert "X-Tenant-Id" in verdict["reason"]


def test_verify_for_a_tenant_scoped_route_infers_an_owners_only_tenant(verifier, user):
    _, raw = make_api_key(user, scopes=["agents:read"])

    verdict = verify(verifier, raw, method="GET", path="/api/v1/agents")

    assert (verdict["valid"], verdict["code"]) == (True, "valid")


def test_verify_names_tenant_not_found_for_a_tenant_the_owner_is_not_in(verifier, user):
    _, raw = make_api_key(user)

    verdict = verify(verifier, raw, tenant_id=str(TenantFactory().pk))

    assert (verdict["valid"], verdict["code"]) == (False, "tenant_not_found")


def test_verify_applies_allowed_ips_to_the_given_client_ip(verifier, user):
    _, raw = make_api_key(user, allowed_ips=["10.0.0.0/8"])

    assert verify(verifier, raw, ip="192.0.2.1")["code"] == "ip_not_allowed"
    assert verify(verifier, raw, ip="10.9.9.9")["valid"] is True


def test_verify_counts_as_a_use_of_the_key(verifier, person, user):
    api_key, raw = make_api_key(user)

    verify(verifier, raw)
    remaining = verify(verifier, raw)["ratelimit"]["remaining"]

    assert remaining == 58
    assert person.get(key_url(api_key.pk, "usage"), {"days": 1}).json()["request_count"] == 2


def test_verify_reports_rate_limit_error_when_the_key_is_over_its_limit(verifier, user):
    _, raw = make_api_key(user, rate_limit={"per_minute": 1})

    verify(verifier, raw)
    verdict = verify(verifier, raw)

    assert (verdict["valid"], verdict["code"]) == (False, "rate_limit_error")
    assert verdict["ratelimit"]["remaining"] == 0


def test_verify_needs_the_keys_verify_scope(user):
    _, caller = make_api_key(user, scopes=["read:all", "write:all"])
    _, raw = make_api_key(user)

    response = key_client(caller).post(VERIFY_URL, {"key": raw}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"


def test_verify_needs_a_credential(db):
    response = APIClient().post(VERIFY_URL, {"key": "kw_x"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_required"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"key": ""},
        {"key": ["a"]},
        {"key": "kw_x", "method": "FETCH"},
        # Over the length bound; a path that is no path is 400 invalid_path (test_paths.py).
        {"key": "k", "path": "/" + "a" * 2048},
    ],
)
def test_verify_with_a_malformed_body_gets_400_validation_error(verifier, body):
    response = verifier.post(VERIFY_URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


# --- auth/check -------------------------------------------------------------------------------


def check(client, method="GET", uri="/api/v1/agents", **headers):
    return client.get(CHECK_URL, HTTP_X_ORIGINAL_METHOD=method, HTTP_X_ORIGINAL_URI=uri, **headers)


@pytest.mark.parametrize("how", ["bearer", "x-api-key", "bare", "basic"])
def test_auth_check_allows_and_names_the_caller_in_headers(user, how):
    tenant = Membership.objects.get(user=user).tenant
    _, raw = make_api_key(user, scopes=["agents:read", "read:all"])

    response = check(key_client(raw, how))

    assert response.status_code == 200
    assert response["X-Auth-User-Id"] == str(user.pk)
    assert response["X-Auth-Tenant-Id"] == str(tenant.pk)
    assert response["X-Auth-Key-Prefix"] == raw[:12]
    assert response["X-Auth-Scopes"] == "agents:read read:all"


def test_auth_check_gives_the_bound_tenant_of_a_tenant_bound_key(user):
    tenant = TenantFactory()
    MembershipFactory(user=user, tenant=tenant)
    _, raw = make_api_key(user, tenant=tenant)

    assert check(key_client(raw))["X-Auth-Tenant-Id"] == str(tenant.pk)


def test_auth_check_forbids_what_the_original_request_may_not_do(user):
    _, raw = make_api_key(user, scopes=["agents:read"])

    response = check(key_client(raw), method="DELETE", uri="/api/v1/agents/5")

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"


def test_auth_check_without_a_credential_gets_401(db):
    response = check(APIClient())

    assert response.status_code == 401
    assert response["WWW-Authenticate"]


def test_auth_check_with_a_revoked_key_gets_401_api_key_disabled(user):
    api_key, raw = make_api_key(user)
    api_key_revoke(api_key=api_key)

    response = check(key_client(raw))

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_disabled"


def test_auth_check_with_a_key_from_a_foreign_ip_gets_403_ip_not_allowed(user):
    _, raw = make_api_key(user, allowed_ips=["10.0.0.0/8"])

    response = check(key_client(raw), REMOTE_ADDR="192.0.2.1")

    assert response.status_code == 403
    assert response.json()["code"] == "ip_not_allowed"


def test_auth_check_over_the_rate_limit_gets_429(user):
    _, raw = make_api_key(user, rate_limit={"per_minute": 1})
    client = key_client(raw)
    check(client)

    response = check(client)

    assert response.status_code == 429
    assert response.json()["code"] == "rate_limit_error"
    assert response["Retry-After"]


@pytest.mark.parametrize(
    ("scopes", "method", "uri", "status"),
    [
        (["orders:read"], "GET", "/api/v1/orders/5", 200),
        (["orders:read"], "GET", "/api/v2/orders?page=2", 200),
        (["orders:read"], "GET", "/orders/5", 200),
        (["orders:read"], "POST", "/api/v1/orders", 403),
        (["orders:write"], "POST", "/api/orders", 200),
        (["app:access"], "GET", "/api/v1/orders/5", 200),
        (["app:access"], "DELETE", "/dashboard", 200),
        (["invoices:read"], "GET", "/api/v1/orders/5", 403),
    ],
)
def test_auth_check_derives_the_resource_of_a_non_keyward_path(user, scopes, method, uri, status):
    _, raw = make_api_key(user, scopes=scopes)

    assert check(key_client(raw), method=method, uri=uri).status_code == status


def test_auth_check_applies_keywards_own_route_rules(user):
    _, raw = make_api_key(user, scopes=["app:access"])

    assert check(key_client(raw), uri="/api/v1/agents").status_code == 403


def test_auth_check_for_a_person_with_a_jwt(user):
    response = check(person_client(user))

    assert response.status_code == 200
    assert response["X-Auth-User-Id"] == str(user.pk)
    assert response["X-Auth-Key-Prefix"] == ""


def test_auth_check_with_an_overlong_original_uri_gets_403_validation_error(user):
    _, raw = make_api_key(user)

    response = check(key_client(raw), uri="/" + "a" * 3000)

    assert response.status_code == 403  # a proxy knows only 2xx, 401 and 403
    assert response.json()["code"] == "validation_error"


def test_auth_check_naming_a_tenant_the_caller_is_not_in_gets_403_tenant_not_found(user):
    _, raw = make_api_key(user)

    response = check(key_client(raw), HTTP_X_TENANT_ID=str(TenantFactory().pk))

    assert response.status_code == 403
    assert response.json()["code"] == "tenant_not_found"


def test_auth_check_for_a_tenant_scoped_route_with_no_tenant_named_gets_403_required(user):
    MembershipFactory(user=user)  # a second tenant: none is implied
    _, raw = make_api_key(user)

    response = check(key_client(raw), uri="/api/v1/agents")

    assert response.status_code == 403
    assert response.json()["code"] == "tenant_id_required"
    assert response["X-Auth-Error-Code"] == "tenant_id_required"


def test_auth_check_for_another_service_leaves_the_tenant_to_it(user):
    MembershipFactory(user=user)
    _, raw = make_api_key(user)

    response = check(key_client(raw), uri="/orders/5")

    assert response.status_code == 200
    assert response["X-Auth-Tenant-Id"] == ""


def test_auth_check_names_the_refusal_code_in_a_header_for_the_proxy(user):
    api_key, raw = make_api_key(user)
    api_key.is_active = False
    api_key.save()

    response = check(key_client(raw))

    assert response.status_code == 401
    assert response["X-Auth-Error-Code"] == "api_key_disabled"


# --- keys/verify judges a key it has seen from this process's verified records ----------------


def test_verify_of_a_key_revoked_since_it_was_last_verified_reads_api_key_disabled(verifier, user):
    api_key, raw = make_api_key(user)
    assert verify(verifier, raw)["valid"] is True  # its record is now cached in this process

    api_key_revoke(api_key=api_key, actor=user)

    assert verify(verifier, raw)["code"] == "api_key_disabled"


def test_verify_of_a_key_whose_allowlist_narrowed_since_reads_ip_not_allowed(verifier, user):
    api_key, raw = make_api_key(user)
    assert verify(verifier, raw, ip="192.0.2.1")["valid"] is True

    api_key_update(api_key=api_key, changes={"allowed_ips": ["10.0.0.0/8"]}, actor=user)

    assert verify(verifier, raw, ip="192.0.2.1")["code"] == "ip_not_allowed"


def test_a_refusal_from_a_cached_record_is_confirmed_before_it_is_answered(verifier, user):
    """A refusal decided before counting is checked against the shared generation: a key whose
    allowlist has since widened is not refused on the old copy."""
    api_key, raw = make_api_key(user, allowed_ips=["10.0.0.0/8"])
    assert verify(verifier, raw, ip="10.1.1.1")["valid"] is True  # cached, with its allowlist
    assert verify(verifier, raw, ip="192.0.2.1")["code"] == "ip_not_allowed"

    api_key_update(api_key=api_key, changes={"allowed_ips": []}, actor=user)

    assert verify(verifier, raw, ip="192.0.2.1")["valid"] is True


def test_verify_with_the_shared_cache_down_reads_the_key_and_records_its_use(user):
    api_key, raw = make_api_key(user)
    _, verifier_key = make_api_key(user, scopes=["keys:verify"])
    assert verify(key_client(verifier_key), raw)["valid"] is True  # both cached

    with override_settings(CACHES=UNREACHABLE_REDIS):
        answer = verify(key_client(verifier_key), raw)

    assert answer["valid"] is True
    assert answer["ratelimit"] is None  # nothing could be counted in the shared cache
    # The use went straight into the database (the counts buffered before live elsewhere).
    assert ApiKey.objects.get(pk=api_key.pk).request_count == 1


@pytest.mark.parametrize("full", [True, False], ids=["every-field", "unknown-key"])
def test_a_verdicts_answer_is_exactly_what_the_response_serializer_documents(user, full):
    """``keys/verify`` answers ``Verdict.as_dict()`` as it is; the serializer is its schema."""
    api_key, _ = make_api_key(user, scopes=["agents:read"])
    verdict = (
        Verdict(
            True,
            "valid",
            "Scope agents:read",
            api_key,
            TenantFactory().pk,
            {"limit": 60, "remaining": 59, "reset": 12},
            credits={"remaining": 5, "retry_after": None},
        )
        if full
        else Verdict(False, "invalid_api_key", UNKNOWN)
    )

    answer = verdict.as_dict()
    documented = KeyVerifyResponseSerializer(answer).data

    assert json.dumps(answer) == json.dumps(documented)


def test_verifying_invented_keys_costs_no_query_once_warm(user, django_assert_num_queries):
    _, verifier_key = make_api_key(user, scopes=["keys:verify"])
    client = key_client(verifier_key)
    assert verify(client, crypto.generate_key())["code"] == "invalid_api_key"  # reads the hashes

    with django_assert_num_queries(0):
        verdicts = [verify(client, crypto.generate_key()) for _ in range(20)]

    assert {verdict["code"] for verdict in verdicts} == {"invalid_api_key"}


def test_a_key_created_after_an_unknown_key_was_verified_is_found_at_once(verifier, user):
    assert verify(verifier, crypto.generate_key())["code"] == "invalid_api_key"

    _, raw = make_api_key(user)

    assert verify(verifier, raw)["valid"] is True


def test_a_verify_whose_counting_trip_timed_out_is_not_also_written_to_the_database(
    user, monkeypatch
):
    """A stalled Redis may still run the count it was sent: the use is not recorded twice."""
    from apikeys import verification
    from metering.meter import MeterUnavailable

    api_key, raw = make_api_key(user)
    _, verifier_key = make_api_key(user, scopes=["keys:verify"])
    assert verify(key_client(verifier_key), raw)["valid"] is True  # both cached

    def timed_out(*args, **kwargs):
        raise MeterUnavailable("timed out", maybe_counted=True)

    monkeypatch.setattr(verification, "take", timed_out)
    answer = verify(key_client(verifier_key), raw)

    assert answer["valid"] is True
    assert ApiKey.objects.get(pk=api_key.pk).request_count == 0
