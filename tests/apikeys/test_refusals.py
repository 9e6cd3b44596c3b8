"""SPEC §9: a refused credential spends nobody else's budget, and is never ignored.

A key refused for its IP allowlist, its expiry or its tenant is counted in the client address's
anonymous bucket, never in the key's windows, usage or ``last_used_*``. An invalid
``Authorization`` beside a valid ``X-API-Key`` (or the other way round) is refused with the
invalid one's code.
"""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from prometheus_client import REGISTRY

from apikeys.selectors import api_key_fresh
from apikeys.services import api_key_activate, api_key_revoke
from tests.apikeys.conftest import INFO_URL, VERIFY_URL, forged_key, key_client, make_api_key
from tests.factories import MembershipFactory, TenantFactory
from tests.tenants.helpers import jwt_for

pytestmark = pytest.mark.django_db

OUTSIDE = "192.0.2.7"  # not in the allowlist below
INSIDE = "10.1.2.3"


@pytest.fixture
def anonymous_limit_of_three(settings):
    settings.KEYWARD_ANON_RATE_PER_IP = "3/m"


def allowlisted_key(user, **fields):
    return make_api_key(
        user, allowed_ips=["10.0.0.0/8"], rate_limit={"per_minute": 5, "per_hour": 100}, **fields
    )


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_requests_from_outside_the_allowlist_leave_the_owners_budget_whole(user, warm):
    _, raw = allowlisted_key(user)
    client = key_client(raw)
    if warm:
        assert client.get(INFO_URL, REMOTE_ADDR=INSIDE).status_code == 200

    refused = [client.get(INFO_URL, REMOTE_ADDR=OUTSIDE) for _ in range(8)]

    assert {r.status_code for r in refused} == {403}
    assert {r.json()["code"] for r in refused} == {"ip_not_allowed"}
    admitted = client.get(INFO_URL, REMOTE_ADDR=INSIDE)
    assert admitted.status_code == 200
    assert admitted["X-RateLimit-Remaining"] == str(5 - (2 if warm else 1))


def test_requests_from_outside_the_allowlist_leave_no_usage(user):
    api_key, raw = allowlisted_key(user)

    for _ in range(3):
        key_client(raw).get(INFO_URL, REMOTE_ADDR=OUTSIDE)

    api_key = api_key_fresh(api_key)
    assert api_key.request_count == 0
    assert api_key.last_used_ip is None
    assert api_key.last_used_at is None


@pytest.mark.usefixtures("anonymous_limit_of_three")
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_requests_from_outside_the_allowlist_count_in_the_addresss_anonymous_bucket(user, warm):
    _, raw = allowlisted_key(user)
    client = key_client(raw)
    if warm:
        client.get(INFO_URL, REMOTE_ADDR=INSIDE)

    codes = [client.get(INFO_URL, REMOTE_ADDR=OUTSIDE).status_code for _ in range(4)]

    assert codes == [403, 403, 403, 429]
    assert client.get(INFO_URL, REMOTE_ADDR=INSIDE).status_code == 200  # the key's own budget


def test_a_cached_key_that_expires_spends_nothing_of_its_own(user):
    api_key, raw = make_api_key(user, expires_at=timezone.now() + timedelta(hours=1))
    client = key_client(raw)
    assert client.get(INFO_URL, REMOTE_ADDR=INSIDE).status_code == 200

    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        response = client.get(INFO_URL, REMOTE_ADDR=OUTSIDE)

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_expired"
    api_key = api_key_fresh(api_key)
    assert api_key.request_count == 1
    assert api_key.last_used_ip == INSIDE


@pytest.mark.usefixtures("anonymous_limit_of_three")
def test_an_expired_key_counts_in_the_addresss_anonymous_bucket(user):
    _, raw = make_api_key(user, expires_at=timezone.now() + timedelta(hours=1))
    client = key_client(raw)
    client.get(INFO_URL)

    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        codes = [client.get(INFO_URL).status_code for _ in range(4)]

    assert codes == [401, 401, 401, 429]


def test_a_bound_key_naming_another_tenant_spends_nothing_of_its_own(user):
    tenant = MembershipFactory(user=user).tenant
    api_key, raw = make_api_key(user, tenant=tenant)
    other = TenantFactory()

    responses = [
        key_client(raw, HTTP_X_TENANT_ID=str(other.pk)).get("/api/v1/agents") for _ in range(3)
    ]

    assert {r.json()["code"] for r in responses} == {"tenant_mismatch"}
    assert {r.status_code for r in responses} == {403}
    assert api_key_fresh(api_key).request_count == 0


def test_a_widened_allowlist_is_honoured_though_the_refused_key_was_cached(user):
    api_key, raw = allowlisted_key(user)
    client = key_client(raw)
    client.get(INFO_URL, REMOTE_ADDR=INSIDE)

    api_key.allowed_ips = []
    api_key.save()

    assert client.get(INFO_URL, REMOTE_ADDR=OUTSIDE).status_code == 200


# --- Two credentials in headers ------------------------------------------------------------


def both(raw_key_header: str, authorization: str):
    return key_client(raw_key_header, "x-api-key", HTTP_AUTHORIZATION=authorization)


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("Bearer garbage", "invalid_api_key"),
        ("garbage", "invalid_api_key"),
        ("Bearer not.a.jwt", "invalid_token"),
        ("Basic Zm9vOmJhcg==", "invalid_credentials"),  # foo:bar
        ("Digest realm=x", "invalid_credentials"),
    ],
)
def test_an_invalid_authorization_beside_a_valid_key_header_is_refused_with_its_code(
    user, authorization, code
):
    api_key, raw = make_api_key(user)

    response = both(raw, authorization).get(INFO_URL)

    assert response.status_code == 401
    assert response.json()["code"] == code
    assert api_key_fresh(api_key).request_count == 0


def test_an_unknown_key_in_authorization_beside_a_valid_key_header_is_refused(user):
    _, raw = make_api_key(user)

    response = both(raw, f"Bearer {forged_key(raw)}").get(INFO_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


def test_a_revoked_key_in_authorization_beside_a_valid_key_header_is_refused(user):
    revoked, revoked_raw = make_api_key(user)
    revoked.is_active = False
    revoked.save()
    _, raw = make_api_key(user)

    response = both(raw, f"Bearer {revoked_raw}").get(INFO_URL)

    assert response.json()["code"] == "api_key_disabled"


@pytest.mark.parametrize("authorization", ["bearer-key", "jwt"])
def test_an_invalid_key_header_beside_a_valid_authorization_is_refused(user, authorization):
    _, raw = make_api_key(user)
    valid = f"Bearer {raw}" if authorization == "bearer-key" else f"Bearer {jwt_for(user)}"

    response = both(forged_key(raw), valid).get(INFO_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


@pytest.mark.parametrize("authorization", ["same-key", "jwt"])
def test_a_valid_key_header_beside_a_valid_authorization_acts_as_the_key(user, authorization):
    api_key, raw = make_api_key(user)
    valid = f"Bearer {raw}" if authorization == "same-key" else f"Bearer {jwt_for(user)}"

    response = both(raw, valid).get(INFO_URL)

    assert response.status_code == 200
    assert response.json()["id"] == str(api_key.pk)


def auth_outcomes(code: str) -> float:
    labels = {"method": "api_key", "code": code}
    return REGISTRY.get_sample_value("keyward_auth_outcomes_total", labels) or 0.0


def test_requests_from_outside_the_allowlist_are_counted_in_the_metrics(user):
    _, raw = allowlisted_key(user)
    before = auth_outcomes("ip_not_allowed")

    for _ in range(3):
        key_client(raw).get(INFO_URL, REMOTE_ADDR=OUTSIDE)

    assert auth_outcomes("ip_not_allowed") == before + 3


def test_invented_keys_are_counted_in_the_metrics(user):
    before = auth_outcomes("invalid_api_key")

    for _ in range(3):
        key_client(forged_key(make_api_key(user)[1])).get(INFO_URL)

    assert auth_outcomes("invalid_api_key") == before + 3


# --- keys/verify judges a key as a real request would --------------------------------------


@pytest.fixture
def verifier(user):
    _, raw = make_api_key(user, scopes=["keys:verify"])
    return key_client(raw)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"ip": OUTSIDE}, "ip_not_allowed"),
        ({"tenant_id": "other"}, "tenant_mismatch"),
    ],
    ids=["ip", "tenant"],
)
def test_a_verified_key_refused_for_its_ip_or_tenant_spends_nothing_of_its_own(
    verifier, user, body, code
):
    tenant = MembershipFactory(user=user).tenant
    api_key, raw = allowlisted_key(user, tenant=tenant)
    if body.get("tenant_id") == "other":
        body = {"tenant_id": str(TenantFactory().pk)}

    verdicts = [
        verifier.post(VERIFY_URL, {"key": raw, **body}, format="json").json() for _ in range(3)
    ]

    assert {(v["valid"], v["code"]) for v in verdicts} == {(False, code)}
    assert api_key_fresh(api_key).request_count == 0


def test_a_revoked_key_used_again_is_refused_without_a_query(
    user, django_assert_num_queries, django_capture_on_commit_callbacks
):
    api_key, raw = make_api_key(user)
    with django_capture_on_commit_callbacks(execute=True):  # the revocation settles
        api_key_revoke(api_key=api_key, actor=user)
    assert key_client(raw).get(INFO_URL).json()["code"] == "api_key_disabled"  # read, cached

    with django_assert_num_queries(0):
        response = key_client(raw).get(INFO_URL)

    assert response.json()["code"] == "api_key_disabled"


def test_a_revoked_key_activated_again_works_at_once_though_its_refusal_was_cached(user):
    api_key, raw = make_api_key(user)
    api_key_revoke(api_key=api_key, actor=user)
    assert key_client(raw).get(INFO_URL).status_code == 401

    api_key_activate(api_key=api_key, actor=user)

    assert key_client(raw).get(INFO_URL).status_code == 200


def test_a_key_whose_owner_is_deactivated_is_refused_as_unknown_though_cached(user):
    _, raw = make_api_key(user)
    assert key_client(raw).get(INFO_URL).status_code == 200

    user.is_active = False
    user.save()

    assert key_client(raw).get(INFO_URL).json()["code"] == "invalid_api_key"


def test_verifying_a_revoked_key_again_costs_no_query(
    user, django_assert_num_queries, django_capture_on_commit_callbacks
):
    api_key, raw = make_api_key(user)
    with django_capture_on_commit_callbacks(execute=True):  # the revocation settles
        api_key_revoke(api_key=api_key, actor=user)
    _, verifier_key = make_api_key(user, scopes=["keys:verify"])
    verifier = key_client(verifier_key)
    assert verifier.post(VERIFY_URL, {"key": raw}, format="json").json()["valid"] is False

    with django_assert_num_queries(0):
        verdict = verifier.post(VERIFY_URL, {"key": raw}, format="json").json()

    assert verdict["code"] == "api_key_disabled"
