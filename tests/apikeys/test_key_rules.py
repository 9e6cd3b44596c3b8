"""The rules every key obeys (SPEC §3): types, admin scope, expiry, IPs, limits, scopes, grants."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from apikeys.models import ApiKey
from apikeys.services import api_key_create
from core.domain_errors import Invalid
from tests.apikeys.conftest import CHECK_URL, INFO_URL, KEYS_URL, key_client, make_api_key
from tests.factories import MembershipFactory, StaffUserFactory, TenantFactory

pytestmark = pytest.mark.django_db


def create(client, **body):
    body.setdefault("name", "k")
    return client.post(KEYS_URL, body, format="json")


def assert_invalid(response, field):
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    errors = response.json()["errors"]
    # A nested or list field's errors are named by their path: "endpoints.0.path" (SPEC §11).
    assert [name for name in errors if name == field or name.startswith(f"{field}.")], errors


# --- key types ------------------------------------------------------------------------------


def test_restricted_key_without_scopes_or_grants_is_refused(person):
    assert_invalid(create(person, key_type="restricted"), "scopes")
    assert not ApiKey.objects.exists()


def test_restricted_key_with_scopes_is_never_full_access(person):
    response = create(person, key_type="restricted", scopes=["agents:read"])

    assert response.status_code == 201
    assert response.json()["full_access"] is False


def test_restricted_key_cannot_be_patched_into_full_access(person):
    key_id = create(person, key_type="restricted", scopes=["agents:read"]).json()["id"]

    response = person.patch(f"{KEYS_URL}/{key_id}", {"scopes": []}, format="json")

    assert_invalid(response, "scopes")
    assert ApiKey.objects.get(pk=key_id).scopes == ["agents:read"]


def test_only_staff_create_admin_keys(person):
    assert_invalid(create(person, key_type="admin"), "key_type")


def test_staff_creates_an_admin_key(staff_person):
    response = create(staff_person, key_type="admin", scopes=["admin"])

    assert response.status_code == 201
    assert response.json()["key_type"] == "admin"


@pytest.mark.parametrize("key_type", ["development", "production", "restricted"])
def test_admin_scope_is_refused_on_every_other_key_type(staff_person, key_type):
    assert_invalid(create(staff_person, key_type=key_type, scopes=["admin"]), "scopes")


def test_admin_scope_acts_while_the_owner_is_staff_and_stops_the_moment_they_are_not(staff):
    _, raw = make_api_key(staff, key_type="admin", scopes=["admin"], key_manager=True)
    client = key_client(raw)
    assert client.get(KEYS_URL, {"all": "true"}).status_code == 200  # warms every cache

    staff.is_staff = False
    staff.save()
    response = client.get(KEYS_URL, {"all": "true"})

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"


@pytest.mark.parametrize(
    ("key_type", "per_minute", "per_hour"),
    [("development", "60", "1000"), ("production", "600", "10000"), ("restricted", "60", None)],
)
def test_key_types_have_their_default_rate_limits(user, key_type, per_minute, per_hour):
    scopes = ["read:all"] if key_type == "restricted" else []
    _, raw = make_api_key(user, key_type=key_type, scopes=scopes)

    response = key_client(raw).get(INFO_URL)

    assert response["X-RateLimit-Limit"] == per_minute
    assert (f'"hour";q={per_hour};w=3600' in response["RateLimit-Policy"]) == (per_hour is not None)


# --- expiry -----------------------------------------------------------------------------------


def test_expires_at_in_the_past_is_refused(person):
    past = (timezone.now() - timedelta(minutes=1)).isoformat()

    assert_invalid(create(person, expires_at=past), "expires_at")


def test_key_works_until_expires_at_then_gets_401_api_key_expired(user):
    _, raw = make_api_key(user, expires_at=timezone.now() + timedelta(hours=1))
    client = key_client(raw)
    assert client.get(INFO_URL).status_code == 200

    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1), tick=False):
        response = client.get(INFO_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_expired"


# --- allowed_ips ------------------------------------------------------------------------------


def test_key_with_allowed_ips_is_refused_from_elsewhere_with_403_ip_not_allowed(user):
    _, raw = make_api_key(user, allowed_ips=["10.0.0.0/8"])

    response = key_client(raw).get(INFO_URL, REMOTE_ADDR="192.0.2.7")

    assert response.status_code == 403
    assert response.json()["code"] == "ip_not_allowed"


def test_key_with_allowed_ips_works_from_inside_the_cidr(user):
    _, raw = make_api_key(user, allowed_ips=["10.0.0.0/8", "2001:db8::/32"])

    assert key_client(raw).get(INFO_URL, REMOTE_ADDR="10.20.30.40").status_code == 200
    assert key_client(raw).get(INFO_URL, REMOTE_ADDR="2001:db8::1").status_code == 200


def test_allowed_ips_are_enforced_on_scoped_endpoints_too(user):
    _, raw = make_api_key(user, scopes=["agents:read"], allowed_ips=["10.0.0.0/8"])

    response = key_client(raw).get("/api/v1/agents", REMOTE_ADDR="192.0.2.7")

    assert response.status_code == 403
    assert response.json()["code"] == "ip_not_allowed"


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (["10.0.0.0/33"], "allowed_ips.0"),  # a list's errors are named by index (SPEC §11)
        (["10.0.0.0/8", "not-an-ip"], "allowed_ips.1"),
        ("10.0.0.0/8", "allowed_ips"),
        ([""], "allowed_ips.0"),
    ],
)
def test_allowed_ips_must_be_a_list_of_cidrs(person, value, field):
    assert_invalid(create(person, allowed_ips=value), field)


def test_allowed_ips_are_stored_as_normalised_cidrs(person):
    response = create(person, allowed_ips=["10.1.2.3/8", "192.0.2.1"])

    assert response.json()["allowed_ips"] == ["10.0.0.0/8", "192.0.2.1/32"]


# --- metadata ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [{"team": "a\x00b"}, {"a\x00b": 1}, {"teams": [{"name": "\x00"}]}],
    ids=["value", "key", "nested"],
)
def test_metadata_with_a_null_character_gets_400_validation_error(person, metadata):
    # PostgreSQL's jsonb cannot store \u0000: unchecked, the insert failed with a 500.
    assert_invalid(create(person, metadata=metadata), "metadata")
    assert not ApiKey.objects.exists()


def test_metadata_nested_too_deeply_gets_400_validation_error(person):
    body = '{"name": "k", "metadata": {"a": ' + "[" * 100 + "]" * 100 + "}}"

    response = person.post(KEYS_URL, body, content_type="application/json")

    assert_invalid(response, "metadata")
    assert not ApiKey.objects.exists()


# --- rate limits ------------------------------------------------------------------------------


def test_user_cannot_raise_a_rate_limit_above_the_type_default(person):
    assert_invalid(create(person, rate_limit={"per_minute": 61}), "rate_limit")


def test_user_cannot_lift_a_defaulted_window(person):
    assert_invalid(create(person, rate_limit={"per_hour": None}), "rate_limit")


@pytest.mark.parametrize("rate_limit", [{"per_day": 5}, {"per_minute": 5, "burst": 1}])
def test_a_rate_limit_window_that_does_not_exist_gets_400(person, rate_limit):
    assert_invalid(create(person, rate_limit=rate_limit), "rate_limit")
    assert not ApiKey.objects.exists()


def test_user_may_lower_a_rate_limit_and_it_is_enforced(person):
    raw = create(person, rate_limit={"per_minute": 2}).json()["key"]
    client = key_client(raw)

    statuses = [client.get(INFO_URL).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_rate_limit_shows_only_the_windows_the_key_sets(person):
    response = create(person, rate_limit={"per_minute": 30})

    assert response.json()["rate_limit"] == {"per_minute": 30}
    assert key_client(response.json()["key"]).get(INFO_URL)["RateLimit-Policy"] == (
        '"minute";q=30;w=60, "hour";q=1000;w=3600'
    )


def test_staff_may_raise_a_rate_limit_above_the_default(staff_person):
    response = create(staff_person, rate_limit={"per_minute": 120, "per_hour": 5000})

    assert response.status_code == 201
    used = key_client(response.json()["key"]).get(INFO_URL)
    assert used["RateLimit-Policy"] == '"minute";q=120;w=60, "hour";q=5000;w=3600'


# --- scopes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scopes",
    [
        ["agents:read", "read:all"],
        "agents:read read:all",
        "agents:read,read:all",
        " read:all ,  agents:read ",
        ["read:all", "agents:read", "read:all"],
    ],
)
def test_scopes_are_taken_as_a_list_or_a_space_or_comma_separated_string(person, scopes):
    response = create(person, scopes=scopes)

    assert response.status_code == 201
    assert response.json()["scopes"] == ["agents:read", "read:all"]
    assert ApiKey.objects.get(pk=response.json()["id"]).scopes == ["agents:read", "read:all"]


@pytest.mark.parametrize("scopes", ["superuser", "agents:delete", "Agents:read", [1, 2], {"a": 1}])
def test_unknown_or_malformed_scopes_are_refused(person, scopes):
    assert_invalid(create(person, scopes=scopes), "scopes")


def test_key_with_no_scopes_and_no_grants_is_flagged_full_access(person):
    assert create(person).json()["full_access"] is True


def test_resource_scope_allows_its_resource_and_not_others(user):
    _, raw = make_api_key(user, scopes=["agents:read"])
    client = key_client(raw)

    assert client.get("/api/v1/agents").status_code == 200
    refused = client.get("/api/v1/tenants")
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_permissions"


def test_read_scope_does_not_allow_writes(user):
    _, raw = make_api_key(user, scopes=["read:all"])

    response = key_client(raw).post("/api/v1/agents", {"name": "x"}, format="json")

    assert response.status_code == 403
    assert "write" in response.json()["detail"]


# --- endpoint grants ----------------------------------------------------------------------------


def check(raw, method, uri):
    return key_client(raw).get(CHECK_URL, HTTP_X_ORIGINAL_METHOD=method, HTTP_X_ORIGINAL_URI=uri)


@pytest.mark.parametrize(
    ("uri", "status"),
    [
        ("/api/v1/agents", 200),
        ("/api/v1/agents/", 200),
        ("/api/v1/agents/5", 200),
        ("/api/v1/agents/5/run", 200),
        ("/api/v1/agentsx", 403),
        ("/api/v1/agent", 403),
        ("/api/v1/tenants", 403),
    ],
)
def test_endpoint_grant_matches_its_path_and_what_lies_below_it(user, uri, status):
    _, raw = make_api_key(user, endpoints=[{"path": "/api/v1/agents", "methods": ["GET"]}])

    assert check(raw, "GET", uri).status_code == status


def test_endpoint_grant_limits_the_methods(user):
    _, raw = make_api_key(user, endpoints=[{"path": "/api/v1/agents", "methods": ["GET"]}])

    response = check(raw, "DELETE", "/api/v1/agents/5")

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"


def test_endpoint_grant_is_enforced_on_keyward_endpoints(user):
    _, raw = make_api_key(user, endpoints=[{"path": "/api/v1/agents", "methods": ["GET"]}])
    client = key_client(raw)

    assert client.get("/api/v1/agents").status_code == 200
    assert client.post("/api/v1/agents", {"name": "x"}, format="json").status_code == 403
    assert client.get("/api/v1/tenants").status_code == 403


def test_a_key_with_grants_reads_its_own_info_only_when_a_grant_covers_it(user):
    _, outside = make_api_key(user, endpoints=[{"path": "/api/v1/agents", "methods": ["GET"]}])
    _, inside = make_api_key(user, endpoints=[{"path": INFO_URL, "methods": ["GET"]}])

    refused = key_client(outside).get(INFO_URL)

    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_permissions"
    assert key_client(inside).get(INFO_URL).status_code == 200


def test_scopes_and_grants_both_apply(user):
    _, raw = make_api_key(
        user,
        scopes=["agents:read"],
        endpoints=[{"path": "/api/v1/agents", "methods": ["GET", "POST"]}],
    )

    response = key_client(raw).post("/api/v1/agents", {"name": "x"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"


@pytest.mark.parametrize(
    "endpoints",
    [
        [{"path": "api/v1/agents", "methods": ["GET"]}],
        [{"path": "/api/v1/agents", "methods": []}],
        [{"path": "/api/v1/agents", "methods": ["FETCH"]}],
        [{"methods": ["GET"]}],
        ["/api/v1/agents"],
        {"path": "/api/v1/agents"},
    ],
)
def test_malformed_endpoint_grants_are_refused(person, endpoints):
    assert_invalid(create(person, endpoints=endpoints), "endpoints")


# --- tenants ----------------------------------------------------------------------------------


def test_key_for_a_tenant_the_owner_is_not_a_member_of_gets_404_tenant_not_found(person):
    response = create(person, tenant_id=str(TenantFactory().pk))

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"


def test_key_for_an_unknown_tenant_gets_404_tenant_not_found(person):
    response = create(person, tenant_id="00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"


def test_tenant_bound_key_naming_another_tenant_gets_403_tenant_mismatch(user):
    bound, other = TenantFactory(), TenantFactory()
    MembershipFactory(user=user, tenant=bound)
    MembershipFactory(user=user, tenant=other)
    _, raw = make_api_key(user, tenant=bound)

    response = key_client(raw, HTTP_X_TENANT_ID=str(other.pk)).get("/api/v1/agents")

    assert response.status_code == 403
    assert response.json()["code"] == "tenant_mismatch"


def test_admin_key_for_a_non_staff_owner_is_refused_even_when_staff_asks(user):
    with pytest.raises(Invalid):
        api_key_create(user=user, name="k", key_type="admin", created_by=StaffUserFactory())
