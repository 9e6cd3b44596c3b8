"""RFC 6750 challenges (SPEC §11): what ``WWW-Authenticate`` says on a 401 and on a 403.

No credential: ``Bearer realm="keyward"`` alone (§3.1). A refused credential:
``error="invalid_token"`` with a description that never repeats the credential. A credential
whose scopes fall short: 403 with ``error="insufficient_scope"`` naming the scopes that would do.
"""

import base64

import pytest
import time_machine
from rest_framework.test import APIClient

from apikeys.services import api_key_create, api_key_revoke
from core.errors import bearer_challenge
from tests.factories import ServiceClientFactory, StaffUserFactory, UserFactory
from tests.oauth.conftest import access_token_for
from tests.tenants.helpers import jwt_for

pytestmark = pytest.mark.django_db

VERIFY = "/api/v1/auth/verify"
CHECK = "/api/v1/auth/check"
BARE = 'Bearer realm="keyward"'
UNKNOWN_KEY = "kw_QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"


def refused_token(description: str) -> str:
    return f'{BARE}, error="invalid_token", error_description="{description}"'


def insufficient_scope(scope: str) -> str:
    return f'{BARE}, error="insufficient_scope", scope="{scope}"'


def key(user=None, **kwargs) -> str:
    _, raw = api_key_create(user=user or UserFactory(), name="challenged", **kwargs)
    return raw


def with_headers(**headers) -> APIClient:
    client = APIClient()
    client.credentials(**headers)
    return client


# --- 401 -------------------------------------------------------------------------------------


def test_no_credential_gets_the_bare_challenge(api_client):
    response = api_client.get(VERIFY)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_required"
    assert response["WWW-Authenticate"] == BARE


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_AUTHORIZATION": f"Bearer {UNKNOWN_KEY}"},
        {"HTTP_X_API_KEY": UNKNOWN_KEY},
        {"HTTP_AUTHORIZATION": UNKNOWN_KEY},
        {
            "HTTP_AUTHORIZATION": "Basic "
            + base64.b64encode(f"apikey:{UNKNOWN_KEY}".encode()).decode()
        },
    ],
    ids=["bearer", "x-api-key", "bare", "basic"],
)
def test_an_unknown_key_gets_invalid_token_in_every_presentation(headers):
    response = with_headers(**headers).get(VERIFY)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"
    assert response["WWW-Authenticate"] == refused_token("Invalid API key.")


def test_a_revoked_key_gets_invalid_token_with_its_reason():
    user = UserFactory()
    api_key, raw = api_key_create(user=user, name="gone")
    api_key_revoke(api_key=api_key, actor=user)

    response = with_headers(HTTP_AUTHORIZATION=f"Bearer {raw}").get(VERIFY)

    assert response.json()["code"] == "api_key_disabled"
    assert response["WWW-Authenticate"] == refused_token(response.json()["detail"])
    assert raw not in response["WWW-Authenticate"]


def test_a_tampered_jwt_gets_invalid_token():
    token = jwt_for(UserFactory())
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    response = with_headers(HTTP_AUTHORIZATION=f"Bearer {tampered}").get(VERIFY)

    assert response.json()["code"] == "invalid_token"
    assert response["WWW-Authenticate"] == refused_token("Invalid token.")
    assert tampered not in response["WWW-Authenticate"]


def test_an_expired_jwt_gets_invalid_token_saying_it_expired():
    with time_machine.travel("2026-12-07 10:00:00Z", tick=False):
        token = jwt_for(UserFactory())
    with time_machine.travel("2026-12-08 10:00:00Z", tick=False):
        response = with_headers(HTTP_AUTHORIZATION=f"Bearer {token}").get(VERIFY)

    assert response.json()["code"] == "token_expired"
    assert response["WWW-Authenticate"] == refused_token("Token has expired.")


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Bearer    ", "Bearer \t", "bearer  "])
def test_an_empty_bearer_credential_gets_invalid_token_not_invalid_credentials(value):
    response = with_headers(HTTP_AUTHORIZATION=value).get(VERIFY)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert response["WWW-Authenticate"] == refused_token("Malformed Bearer Authorization header.")


def test_a_wrong_password_at_login_keeps_the_bare_challenge(api_client):
    UserFactory(email="ada@example.com")

    response = api_client.post(
        "/api/v1/auth/login", {"email": "ada@example.com", "password": "nope"}, format="json"
    )

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert response["WWW-Authenticate"] == BARE


def test_the_description_leaves_out_what_a_quoted_string_cannot_hold():
    challenge = bearer_challenge("invalid_token", description='Say "hi" \\ café\r\n.')

    assert challenge == f'{BARE}, error="invalid_token", error_description="Say hi  caf."'


# --- 403 -------------------------------------------------------------------------------------


def test_a_key_without_the_admin_scope_gets_insufficient_scope_admin():
    raw = key(StaffUserFactory(), scopes=["read:all"])

    response = with_headers(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/status")

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"
    assert response["WWW-Authenticate"] == insufficient_scope("admin")


def test_a_read_only_key_writing_gets_the_scopes_that_would_allow_it():
    raw = key(scopes=["read:all"])

    response = with_headers(HTTP_AUTHORIZATION=f"Bearer {raw}").post(
        "/api/v1/agents", {"name": "x"}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"
    assert response["WWW-Authenticate"] == insufficient_scope("write:all agents:write")


def test_a_client_token_without_the_write_scope_gets_insufficient_scope():
    token = access_token_for(ServiceClientFactory(scopes=["agents:read"]))

    response = with_headers(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        "/api/v1/agents", {"name": "x"}, format="json"
    )

    assert response.status_code == 403
    assert response["WWW-Authenticate"] == insufficient_scope("write:all agents:write")


def test_a_key_without_keys_verify_gets_insufficient_scope_keys_verify():
    raw = key(scopes=["read:all"])

    response = with_headers(HTTP_AUTHORIZATION=f"Bearer {raw}").post(
        "/api/v1/keys/verify", {"key": UNKNOWN_KEY}, format="json"
    )

    assert response.status_code == 403
    assert response["WWW-Authenticate"] == insufficient_scope("keys:verify")


def test_a_refusal_for_a_grant_not_a_scope_has_no_challenge():
    raw = key(endpoints=[{"path": "/api/v1/agents", "methods": ["GET"]}])

    response = with_headers(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/tenants")

    assert response.status_code == 403
    assert "WWW-Authenticate" not in response


def test_a_refusal_for_the_client_ip_has_no_challenge():
    raw = key(allowed_ips=["10.9.9.0/24"])

    response = with_headers(HTTP_AUTHORIZATION=f"Bearer {raw}").get(VERIFY)

    assert response.status_code == 403
    assert response.json()["code"] == "ip_not_allowed"
    assert "WWW-Authenticate" not in response


def test_a_person_who_is_not_staff_is_not_told_of_a_scope():
    # A person's JWT carries no scopes: what it lacks is the staff flag, not a scope.
    response = with_headers(HTTP_AUTHORIZATION=f"Bearer {jwt_for(UserFactory())}").get(
        "/api/v1/status"
    )

    assert response.status_code == 403
    assert "WWW-Authenticate" not in response


# --- auth/check answers nginx: its refusals keep their X-Auth-* headers ------------------------


def test_auth_check_401_carries_the_challenge_and_its_error_code_header():
    response = with_headers(
        HTTP_X_API_KEY=UNKNOWN_KEY,
        HTTP_X_ORIGINAL_URI="/api/v1/orders",
        HTTP_X_ORIGINAL_METHOD="GET",
    ).get(CHECK)

    assert response.status_code == 401
    assert response["X-Auth-Error-Code"] == "invalid_api_key"
    assert response["WWW-Authenticate"] == refused_token("Invalid API key.")


def test_auth_check_403_for_a_scope_carries_the_challenge_and_its_error_code_header():
    raw = key(scopes=["orders:read"])

    response = with_headers(
        HTTP_X_API_KEY=raw, HTTP_X_ORIGINAL_URI="/api/v1/orders/5", HTTP_X_ORIGINAL_METHOD="DELETE"
    ).get(CHECK)

    assert response.status_code == 403
    assert response["X-Auth-Error-Code"] == "insufficient_permissions"
    assert response["WWW-Authenticate"] == insufficient_scope("write:all orders:write app:access")
