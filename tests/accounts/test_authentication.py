"""Access tokens as Bearer header and as the HttpOnly cookie (accounts.authentication)."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.authentication import ACCESS_COOKIE

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/verify"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def cookie(token: str, *, enforce_csrf: bool = False) -> APIClient:
    client = APIClient(enforce_csrf_checks=enforce_csrf)
    client.cookies[ACCESS_COOKIE] = token
    return client


@pytest.fixture(params=["header", "cookie"])
def present(request):
    return bearer if request.param == "header" else cookie


def test_valid_access_token_authenticates(present, user, tokens):
    response = present(tokens["access_token"]).get(URL)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == user.pk


def test_expired_access_token_gets_401_token_expired(present, tokens):
    with time_machine.travel(timezone.now() + timedelta(seconds=7201), tick=False):
        response = present(tokens["access_token"]).get(URL)

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert response["WWW-Authenticate"]


def test_access_token_is_accepted_until_it_expires(present, tokens):
    with time_machine.travel(timezone.now() + timedelta(seconds=7100), tick=False):
        response = present(tokens["access_token"]).get(URL)

    assert response.status_code == 200


def test_tampered_access_token_gets_401_invalid_token(present, tokens):
    header, _, signature = tokens["access_token"].split(".")
    forged = AccessToken(tokens["access_token"])
    forged["user_id"] = "999"
    _, forged_payload, _ = str(forged).split(".")

    response = present(f"{header}.{forged_payload}.{signature}").get(URL)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_token_signed_with_another_key_gets_401_invalid_token(present, user, settings):
    import jwt

    token = jwt.encode(
        {"token_type": "access", "user_id": str(user.pk), "jti": "x", "exp": 4102444800},
        "another-signing-key-that-is-long-enough-for-hs256",
        algorithm="HS256",
    )

    response = present(token).get(URL)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_refresh_token_used_as_access_token_gets_401_invalid_token(present, tokens):
    response = present(tokens["refresh_token"]).get(URL)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_access_token_of_an_inactive_user_gets_401_invalid_token(present, user, tokens):
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = present(tokens["access_token"]).get(URL)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_access_token_of_a_deleted_user_gets_401_invalid_token(present, user, tokens):
    user.delete()

    response = present(tokens["access_token"]).get(URL)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_malformed_bearer_jwt_gets_401_not_500(tokens):
    response = bearer("eyJhbGciOiJIUzI1NiJ9.eyJ.x").get(URL)

    assert response.status_code == 401


def test_cookie_token_on_an_unsafe_request_needs_csrf(tokens):
    response = cookie(tokens["access_token"], enforce_csrf=True).post(URL, {}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_bearer_token_on_an_unsafe_request_needs_no_csrf(tokens):
    client = bearer(tokens["access_token"])
    client.handler.enforce_csrf_checks = True

    response = client.post(URL, {}, format="json")

    assert response.status_code == 405


def test_a_warm_verify_by_jwt_costs_no_query(tokens, django_assert_num_queries):
    client = bearer(tokens["access_token"])
    client.get(URL)  # reads the user and their sole tenant into the process cache

    with django_assert_num_queries(0):
        response = client.get(URL)

    assert response.status_code == 200


def test_a_token_verified_earlier_is_refused_once_it_expires(present, tokens):
    assert present(tokens["access_token"]).get(URL).status_code == 200

    with time_machine.travel(timezone.now() + timedelta(seconds=7201), tick=False):
        response = present(tokens["access_token"]).get(URL)

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_a_warm_token_is_decoded_once(present, tokens, monkeypatch):
    import jwt

    decoded = []
    original = jwt.PyJWT.decode_complete
    monkeypatch.setattr(
        jwt.PyJWT, "decode_complete", lambda *a, **k: decoded.append(1) or original(*a, **k)
    )
    client = present(tokens["access_token"])

    assert [client.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    assert len(decoded) == 1
