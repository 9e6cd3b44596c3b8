import base64
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from tests.accounts.conftest import post_form
from tests.factories import DEFAULT_PASSWORD, ApiKeyFactory, MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/verify"


def test_verify_without_a_credential_gets_401_authentication_required(api_client):
    response = api_client.get(URL)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_required"
    assert "WWW-Authenticate" in response


def test_verify_with_a_bearer_jwt_describes_the_user(api_client, user, tokens):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")

    response = api_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    expected_exp = AccessToken(tokens["access_token"])["exp"]
    assert body == {
        "valid": True,
        "auth_method": "jwt",
        "user": {"id": user.pk, "email": user.email},
        "tenant_id": None,
        "scopes": [],
        "expires_at": body["expires_at"],
    }
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == expected_exp


def test_verify_infers_the_tenant_of_a_user_with_exactly_one(api_client, user, tokens):
    membership = MembershipFactory(user=user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")

    response = api_client.get(URL)

    assert response.json()["tenant_id"] == str(membership.tenant_id)


def test_verify_names_no_tenant_for_a_user_with_several(api_client, user, tokens):
    MembershipFactory(user=user)
    MembershipFactory(user=user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")

    response = api_client.get(URL)

    assert response.json()["tenant_id"] is None


@pytest.mark.parametrize(
    "present",
    [
        lambda key: {"HTTP_X_API_KEY": key},
        lambda key: {"HTTP_AUTHORIZATION": f"Bearer {key}"},
        lambda key: {"HTTP_AUTHORIZATION": key},
        lambda key: {
            "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"apikey:{key}".encode()).decode()
        },
    ],
    ids=["x-api-key", "bearer", "bare", "basic"],
)
def test_verify_with_an_api_key_describes_the_key(api_client, user, present):
    tenant = TenantFactory()
    MembershipFactory(user=user, tenant=tenant)
    expires = timezone.now() + timedelta(days=30)
    api_key = ApiKeyFactory(user=user, scopes=["agents:read"], tenant=tenant, expires_at=expires)
    raw_key = api_key.raw_key

    response = api_client.get(URL, **present(raw_key))

    assert response.status_code == 200
    body = response.json()
    assert body["auth_method"] == "api_key"
    assert body["user"] == {"id": user.pk, "email": user.email}
    assert body["tenant_id"] == str(tenant.pk)
    assert body["scopes"] == ["agents:read"]
    assert body["key_prefix"] == api_key.key_prefix
    assert datetime.fromisoformat(body["expires_at"]) == expires


def test_verify_key_with_an_ip_allowlist_from_elsewhere_gets_403(api_client, user):
    raw_key = ApiKeyFactory(user=user, allowed_ips=["10.0.0.0/8"]).raw_key

    response = api_client.get(URL, HTTP_X_API_KEY=raw_key)

    assert response.status_code == 403
    assert response.json()["code"] == "ip_not_allowed"


def test_verify_with_a_revoked_key_gets_401(api_client, user):
    raw_key = ApiKeyFactory(user=user, is_active=False).raw_key

    response = api_client.get(URL, HTTP_X_API_KEY=raw_key)

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_disabled"


def test_verify_with_the_access_token_cookie(client, user):
    post_form(client, "/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD})
    client.cookies.pop("sessionid")

    response = client.get(URL)

    assert response.status_code == 200
    assert response.json()["auth_method"] == "jwt"


def test_verify_with_a_session(client, user):
    client.force_login(user)

    response = client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["auth_method"] == "session"
    assert body["user"]["email"] == user.email
    assert body["expires_at"] is not None
    assert "key_prefix" not in body


def test_browsable_api_renders_verify_after_a_form_login(client, user):
    post_form(client, "/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD})

    response = client.get(URL, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert user.email.encode() in response.content


def test_verify_after_a_form_login_names_the_session_not_the_access_cookie(client, user):
    post_form(client, "/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD})
    assert "access_token" in client.cookies  # both cookies ride along, as in a browser

    response = client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["auth_method"] == "session"
    assert body["user"] == {"id": user.pk, "email": user.email}


def test_verify_with_the_access_cookie_after_the_session_ended(client, user):
    post_form(client, "/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD})
    client.session.flush()  # the session expired server-side; the browser still sends its cookie

    response = client.get(URL)

    assert response.status_code == 200
    assert response.json()["auth_method"] == "jwt"
