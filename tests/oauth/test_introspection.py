"""``POST /oauth2/introspect`` (RFC 7662, SPEC §11): what a token or key is, for its verifiers."""

from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from apikeys.models import ApiKey
from apikeys.services import api_key_create
from apikeys.usage import usage_flush
from tests.accounts.conftest import login_json
from tests.factories import MembershipFactory, ServiceClientFactory, TenantFactory, UserFactory
from tests.oauth.conftest import FORM, access_token_for, basic_header

URL = "/oauth2/introspect"


def introspect(token: str, **extra):
    return APIClient().post(URL, urlencode({"token": token}), content_type=FORM, **extra)


def as_client(service_client) -> dict:
    return {"HTTP_AUTHORIZATION": basic_header(service_client.client_id, service_client.raw_secret)}


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def member(tenant):
    return MembershipFactory(tenant=tenant).user


@pytest.fixture
def verifier(tenant):
    """A service client of the tenant: it may introspect its members' keys."""
    return ServiceClientFactory(name="gateway", scopes=["keys:verify"], tenant=tenant)


@pytest.fixture
def user_tokens(member):
    response = login_json(APIClient(), member)
    assert response.status_code == 200
    return response.json()


def test_a_users_access_token_is_active_with_its_user(verifier, member, user_tokens):
    response = introspect(user_tokens["access_token"], **as_client(verifier))

    assert response.status_code == 200
    body = response.json()
    assert body["active"] is True
    assert body["sub"] == str(member.pk)
    assert body["username"] == member.email
    assert body["token_type"] == "access_token"
    assert body["exp"] > body["iat"]
    assert response["Cache-Control"] == "no-store"


def test_a_refresh_token_is_active_as_a_refresh_token(verifier, member, user_tokens):
    body = introspect(user_tokens["refresh_token"], **as_client(verifier)).json()

    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["sub"] == str(member.pk)


def test_a_rotated_refresh_token_is_inactive_and_says_nothing_more(verifier, user_tokens):
    rotated = APIClient().post(
        "/api/v1/auth/refresh", {"refresh_token": user_tokens["refresh_token"]}, format="json"
    )
    assert rotated.status_code == 200

    body = introspect(user_tokens["refresh_token"], **as_client(verifier)).json()

    assert body == {"active": False}


def test_a_client_token_is_active_with_its_client_and_scope(verifier, tenant):
    billing = ServiceClientFactory(scopes=["agents:read", "probe:read"], tenant=tenant)
    token = access_token_for(billing, scope="agents:read")

    body = introspect(token, **as_client(verifier)).json()

    assert body["active"] is True
    assert body["client_id"] == str(billing.client_id)
    assert body["sub"] == str(billing.client_id)
    assert body["scope"] == "agents:read"
    assert body["tenant_id"] == str(tenant.pk)
    assert body["token_type"] == "access_token"


def test_an_api_key_is_active_and_counted_as_a_use(verifier, member, tenant):
    api_key, raw_key = api_key_create(user=member, name="ci", scopes=["agents:read"], tenant=tenant)

    body = introspect(raw_key, **as_client(verifier)).json()

    usage_flush()
    assert body["active"] is True
    assert body["token_type"] == "api_key"
    assert body["key_prefix"] == api_key.key_prefix
    assert body["scope"] == "agents:read"
    assert body["sub"] == str(member.pk)
    assert body["tenant_id"] == str(tenant.pk)
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_a_key_with_keys_verify_may_introspect(member, user_tokens):
    _, verifying_key = api_key_create(user=member, name="verifier", scopes=["keys:verify"])

    response = introspect(user_tokens["access_token"], HTTP_X_API_KEY=verifying_key)

    assert response.status_code == 200
    assert response.json()["active"] is True


def test_a_key_without_keys_verify_gets_403_insufficient_scope(member, user_tokens):
    _, raw_key = api_key_create(user=member, name="reader", scopes=["agents:read"])

    response = introspect(user_tokens["access_token"], HTTP_X_API_KEY=raw_key)

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_an_unauthenticated_caller_gets_401_with_the_challenge(user_tokens):
    response = introspect(user_tokens["access_token"])

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response["WWW-Authenticate"].startswith("Basic")


def test_a_wrong_client_secret_gets_401_invalid_client(verifier, user_tokens):
    headers = {"HTTP_AUTHORIZATION": basic_header(verifier.client_id, "wrong")}

    response = introspect(user_tokens["access_token"], **headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_form_client_credentials_are_accepted(verifier, user_tokens):
    body = urlencode(
        {
            "token": user_tokens["access_token"],
            "client_id": str(verifier.client_id),
            "client_secret": verifier.raw_secret,
        }
    )

    response = APIClient().post(URL, body, content_type=FORM)

    assert response.status_code == 200
    assert response.json()["active"] is True


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.", "kw_" + "x" * 40],
    ids=["text", "jwt-shaped", "unsigned-jwt", "key-shaped"],
)
def test_anything_else_is_inactive_and_says_nothing_more(verifier, token):
    response = introspect(token, **as_client(verifier))

    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_a_logged_out_access_token_is_inactive(verifier, user_tokens):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_tokens['access_token']}")
    assert client.post("/api/v1/auth/logout", {}, format="json").status_code in (200, 204)

    body = introspect(user_tokens["access_token"], **as_client(verifier)).json()

    assert body == {"active": False}


def test_a_key_of_someone_outside_the_clients_tenant_is_inactive(verifier):
    _, raw_key = api_key_create(user=UserFactory(), name="elsewhere")

    body = introspect(raw_key, **as_client(verifier)).json()

    usage_flush()
    assert body == {"active": False}
    assert ApiKey.objects.get().last_used_at is None


def test_a_missing_token_is_400_invalid_request(verifier):
    response = APIClient().post(URL, "", content_type=FORM, **as_client(verifier))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_an_unknown_api_key_as_the_caller_gets_401_invalid_client(user_tokens):
    response = introspect(user_tokens["access_token"], HTTP_X_API_KEY="kw_" + "x" * 40)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["code"] == "invalid_api_key"


def test_a_key_callers_request_is_counted_on_the_key_not_the_anonymous_bucket(
    member, user_tokens, settings
):
    settings.KEYWARD_ANON_RATE_PER_IP = "1/m"
    _, verifying_key = api_key_create(user=member, name="verifier", scopes=["keys:verify"])

    statuses = {
        introspect(user_tokens["access_token"], HTTP_X_API_KEY=verifying_key).status_code
        for _ in range(3)
    }

    assert statuses == {200}
