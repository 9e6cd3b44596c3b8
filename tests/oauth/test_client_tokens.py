"""A client's access token on the API: scopes, tenant, expiry, tampering, revocation."""

import base64
import json
from datetime import timedelta

import jwt as pyjwt
import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from oauth.authentication import ServiceClientUser
from oauth.services import service_client_delete, service_client_update
from tests.factories import MembershipFactory, ServiceClientFactory, TenantFactory, UserFactory
from tests.oauth.conftest import access_token_for, bearer
from tests.tenants.helpers import jwt_for, make_key

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.oauth.urls")]

PROBE = "/api/v1/probe"


def test_token_with_the_read_scope_reads(service_client):
    response = bearer(access_token_for(service_client)).get(PROBE)

    assert response.status_code == 200
    assert response.json() == {
        "auth_method": "client_credentials",
        "scopes": ["probe:read", "agents:read"],
        "tenant_id": None,
        "client_id": str(service_client.client_id),
        "user_is_authenticated": True,
        "user_is_staff": False,
    }


def test_token_without_the_write_scope_gets_403_insufficient_permissions(service_client):
    response = bearer(access_token_for(service_client)).post(PROBE)

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"
    assert "probe:write" in response.json()["detail"]


def test_token_with_the_write_scope_writes():
    client = ServiceClientFactory(scopes=["probe:write"])

    response = bearer(access_token_for(client)).post(PROBE)

    assert response.status_code == 201


def test_token_holds_only_the_scope_it_was_granted(service_client):
    token = access_token_for(service_client, scope="agents:read")

    response = bearer(token).get(PROBE)

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"


def test_tenant_bound_client_acts_in_its_tenant():
    tenant = TenantFactory()
    client = ServiceClientFactory(scopes=["probe:read"], tenant=tenant)
    api = bearer(access_token_for(client))

    assert api.get(PROBE).json()["tenant_id"] == str(tenant.pk)
    assert api.get(f"{PROBE}/tenant").json() == {"tenant": str(tenant.pk)}


def test_tenant_bound_client_naming_another_tenant_gets_403_tenant_mismatch():
    client = ServiceClientFactory(scopes=["probe:read"], tenant=TenantFactory())
    api = bearer(access_token_for(client))

    response = api.get(f"{PROBE}/tenant", HTTP_X_TENANT_ID=str(TenantFactory().pk))

    assert response.status_code == 403
    assert response.json()["code"] == "tenant_mismatch"


def test_unbound_client_reaches_no_tenant(service_client):
    response = bearer(access_token_for(service_client)).get(
        f"{PROBE}/tenant", HTTP_X_TENANT_ID=str(TenantFactory().pk)
    )

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"


def test_admin_scope_of_a_client_never_opens_admin_endpoints():
    client = ServiceClientFactory(scopes=["admin", "probe:read"])
    api = bearer(access_token_for(client))

    probe_admin = api.get(f"{PROBE}/admin")
    service_clients = api.get("/api/v1/service-clients")

    assert probe_admin.status_code == service_clients.status_code == 403
    assert probe_admin.json()["code"] == "insufficient_permissions"
    assert "staff" in probe_admin.json()["detail"]


def test_admin_scope_of_a_client_is_not_read_all():
    client = ServiceClientFactory(scopes=["admin"])

    response = bearer(access_token_for(client)).get(PROBE)

    assert response.status_code == 403


def test_expired_token_gets_401_token_expired(service_client):
    token = access_token_for(service_client)

    with time_machine.travel(timezone.now() + timedelta(seconds=3601)):
        response = bearer(token).get(PROBE)

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_token_still_valid_just_before_expiry(service_client):
    token = access_token_for(service_client)

    with time_machine.travel(timezone.now() + timedelta(seconds=3590)):
        response = bearer(token).get(PROBE)

    assert response.status_code == 200


def _tamper(token: str, **changes) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    "changes",
    [{"scope": "probe:read probe:write"}, {"exp": 4102444800}, {"tenant_id": None}, {}],
    ids=["widened scope", "later expiry", "tenant", "signature only"],
)
def test_tampered_token_gets_401_invalid_token(service_client, changes):
    token = access_token_for(service_client)
    if changes:
        tampered = _tamper(token, **changes)
    else:
        tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    response = bearer(tampered).get(PROBE)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


@pytest.mark.parametrize(
    ("key", "algorithm"),
    [("another-signing-key-of-at-least-32-bytes", "HS256"), (None, "none")],
    ids=["another key", "alg none"],
)
def test_forged_token_gets_401_invalid_token(service_client, key, algorithm):
    genuine = pyjwt.decode(access_token_for(service_client), options={"verify_signature": False})
    forged = pyjwt.encode(genuine, key, algorithm=algorithm)

    response = bearer(forged).get(PROBE)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_deactivated_client_gets_401_at_once(service_client):
    api = bearer(access_token_for(service_client))
    assert api.get(PROBE).status_code == 200

    service_client_update(client=service_client, is_active=False)
    response = api.get(PROBE)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_deleted_client_gets_401_at_once(service_client):
    api = bearer(access_token_for(service_client))

    service_client_delete(client=service_client)
    response = api.get(PROBE)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_narrowing_a_clients_scopes_narrows_the_tokens_it_holds(service_client):
    api = bearer(access_token_for(service_client))

    service_client_update(client=service_client, scopes=["agents:read"])
    response = api.get(PROBE)

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"


def test_a_token_left_with_no_scope_its_client_holds_gets_401(service_client):
    api = bearer(access_token_for(service_client, scope="probe:read"))

    service_client_update(client=service_client, scopes=["other:read"])
    response = api.get(PROBE)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_rotating_the_secret_keeps_issued_tokens_and_stops_the_old_secret(service_client):
    from oauth.services import service_client_rotate_secret

    old_secret = service_client.raw_secret
    api = bearer(access_token_for(service_client))

    _, new_secret = service_client_rotate_secret(client=service_client)

    assert api.get(PROBE).status_code == 200
    service_client.raw_secret = old_secret
    from tests.oauth.conftest import token_by_basic

    assert token_by_basic(APIClient(), service_client).status_code == 401
    service_client.raw_secret = new_secret
    assert token_by_basic(APIClient(), service_client).status_code == 200


def test_authenticating_a_client_token_is_one_query(service_client, django_assert_num_queries):
    api = bearer(access_token_for(service_client))

    with django_assert_num_queries(1):
        response = api.get(PROBE)

    assert response.status_code == 200


def test_user_jwt_still_works_for_users():
    user = UserFactory()

    response = bearer(jwt_for(user)).get(PROBE)

    assert response.status_code == 200
    assert response.json()["auth_method"] == "jwt"


def test_client_token_is_refused_where_a_user_jwt_is_expected(service_client):
    """The access-token cookie takes user JWTs only: a client's token there is invalid_token."""
    api = APIClient()
    api.cookies["access_token"] = access_token_for(service_client)

    response = api.get(PROBE)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_client_token_is_refused_as_a_refresh_token(service_client):
    response = APIClient().post(
        "/api/v1/auth/refresh",
        {"refresh_token": access_token_for(service_client)},
        format="json",
    )

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_api_keys_still_work_beside_client_tokens():
    user = UserFactory()
    raw_key = make_key(user, scopes=["probe:read"])

    response = bearer(raw_key).get(PROBE)

    assert response.status_code == 200
    assert response.json()["auth_method"] == "api_key"


def test_verify_describes_a_client_token():
    tenant = TenantFactory()
    MembershipFactory(tenant=tenant)
    client = ServiceClientFactory(scopes=["agents:read"], tenant=tenant)

    response = bearer(access_token_for(client)).get("/api/v1/auth/verify")

    assert response.status_code == 200
    body = response.json()
    assert body["auth_method"] == "client_credentials"
    assert body["user"] is None
    assert body["tenant_id"] == str(tenant.pk)
    assert body["scopes"] == ["agents:read"]
    assert body["expires_at"]
    assert body["client_id"] == str(client.client_id)


def test_auth_check_names_the_client_of_a_client_token():
    tenant = TenantFactory()
    client = ServiceClientFactory(scopes=["agents:read"], tenant=tenant)

    response = bearer(access_token_for(client)).get(
        "/api/v1/auth/check", HTTP_X_ORIGINAL_METHOD="GET", HTTP_X_ORIGINAL_URI="/api/v1/agents"
    )

    assert response.status_code == 200
    assert response["X-Auth-Client-Id"] == str(client.client_id)
    assert response["X-Auth-User-Id"] == ""
    assert response["X-Auth-Tenant-Id"] == str(tenant.pk)


def test_service_client_user_is_authenticated_and_nobody(service_client):
    user = ServiceClientUser(service_client)

    assert user.is_authenticated and user.is_active and not user.is_anonymous
    assert not user.is_staff and not user.is_superuser
    assert user.pk is None and user.id is None and user.email == ""
    assert not user.has_perm("oauth.view_serviceclient")


def test_browsable_api_renders_for_a_service_client(service_client):
    response = bearer(access_token_for(service_client)).get(PROBE, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert b"probe:read" in response.content
