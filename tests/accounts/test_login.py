from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth.hashers import MD5PasswordHasher
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.authentication import ACCESS_COOKIE
from accounts.models import RefreshTokenFamily
from audit.models import AuditEvent
from tests.accounts.conftest import login_json, post_form
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/login"


def test_json_login_gets_200_with_bearer_tokens_and_the_user(api_client, user):
    response = login_json(api_client, user)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.KEYWARD_ACCESS_TOKEN_LIFETIME == 7200
    assert body["user"] == {
        "id": user.pk,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
    }
    assert AccessToken(body["access_token"])["user_id"] == str(user.pk)
    assert response["Cache-Control"] == "no-store"


def test_json_login_access_token_lives_as_long_as_the_setting_says(api_client, user, settings):
    settings.KEYWARD_ACCESS_TOKEN_LIFETIME = 600

    body = login_json(api_client, user).json()

    access = AccessToken(body["access_token"])
    assert body["expires_in"] == 600
    assert access["exp"] - access["iat"] == 600


def test_json_login_starts_a_token_family_named_in_the_refresh_token(api_client, user):
    body = login_json(api_client, user).json()

    family = RefreshTokenFamily.objects.get(user=user)
    refresh = RefreshToken(body["refresh_token"])
    assert refresh["family"] == str(family.pk)
    assert family.issued_tokens.get().outstanding_token.jti == refresh["jti"]


def test_stored_outstanding_token_holds_no_token_text(api_client, user):
    body = login_json(api_client, user).json()

    outstanding = RefreshTokenFamily.objects.get(user=user).issued_tokens.get().outstanding_token
    assert outstanding.token == ""
    assert body["refresh_token"] not in str(outstanding.__dict__)


def test_login_email_is_case_insensitive(api_client, user):
    response = api_client.post(
        URL, {"email": user.email.upper(), "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200


def test_login_with_wrong_password_gets_401_invalid_credentials(api_client, user):
    response = login_json(api_client, user, password="wrong password")

    assert response.status_code == 401
    assert response.json() == {
        "detail": "Invalid email or password.",
        "code": "invalid_credentials",
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="keyward"'
    assert not RefreshTokenFamily.objects.exists()


def test_login_with_unknown_email_gets_401_invalid_credentials(api_client):
    response = api_client.post(
        URL, {"email": "nobody@example.com", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 401
    assert response.json() == {
        "detail": "Invalid email or password.",
        "code": "invalid_credentials",
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="keyward"'


def test_login_of_an_inactive_user_gets_the_same_401(api_client):
    user = UserFactory(is_active=False)

    response = login_json(api_client, user)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert not RefreshTokenFamily.objects.exists()


def _count_hashes(api_client, email, password):
    original = MD5PasswordHasher.encode
    with mock.patch.object(
        MD5PasswordHasher, "encode", autospec=True, side_effect=original
    ) as encode:
        response = api_client.post(URL, {"email": email, "password": password}, format="json")
    return response, encode.call_count


def test_login_with_unknown_email_runs_the_password_hasher_once(api_client):
    response, hashes = _count_hashes(api_client, "nobody@example.com", DEFAULT_PASSWORD)

    assert response.status_code == 401
    assert hashes == 1


def test_login_with_wrong_password_runs_the_password_hasher_once(api_client, user):
    response, hashes = _count_hashes(api_client, user.email, "wrong password")

    assert response.status_code == 401
    assert hashes == 1


def test_login_success_and_failure_are_audited_without_the_password(api_client, user):
    login_json(api_client, user, password="wrong password")
    login_json(api_client, user)

    failed = AuditEvent.objects.get(event_type="login.failed")
    succeeded = AuditEvent.objects.get(event_type="login.succeeded")
    assert failed.outcome == AuditEvent.Outcome.FAILURE
    assert failed.data == {"email": user.email, "via": "json"}
    assert failed.ip == "127.0.0.1"
    assert succeeded.actor == user
    for event in (failed, succeeded):
        assert "wrong password" not in str(event.data)
        assert DEFAULT_PASSWORD not in str(event.data)


def test_json_login_records_last_login(api_client, user):
    login_json(api_client, user)

    user.refresh_from_db()
    assert user.last_login is not None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "a@example.com"},
        {"password": "x"},
        {"email": ["a@example.com"], "password": "x"},
        {"email": "a@example.com", "password": None},
        {"email": "a@example.com", "password": "x" * 5000},
    ],
    ids=["empty", "no-password", "no-email", "email-list", "password-null", "password-huge"],
)
def test_malformed_login_body_gets_400_validation_error(api_client, body):
    response = api_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b"42"])
def test_non_object_login_json_gets_400_not_500(api_client, raw):
    response = api_client.post(URL, raw, content_type="application/json")

    assert response.status_code == 400


# --- form login -------------------------------------------------------------------------


def test_form_login_sets_a_session_and_redirects_303_to_the_app(client, user):
    response = post_form(client, URL, {"email": user.email, "password": DEFAULT_PASSWORD})

    assert response.status_code == 303
    assert response["Location"] == "/"
    assert int(client.session["_auth_user_id"]) == user.pk


def test_form_login_session_cookie_is_httponly_and_samesite_lax(client, user):
    response = post_form(client, URL, {"email": user.email, "password": DEFAULT_PASSWORD})

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


def test_form_login_sets_an_httponly_access_token_cookie(client, user):
    response = post_form(client, URL, {"email": user.email, "password": DEFAULT_PASSWORD})

    cookie = response.cookies[ACCESS_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == 7200
    assert not cookie["secure"]
    assert AccessToken(cookie.value)["user_id"] == str(user.pk)


def test_form_login_cookies_are_secure_under_https(client, user, settings):
    settings.KEYWARD_HTTPS = True
    settings.SESSION_COOKIE_SECURE = True

    response = post_form(
        client, URL, {"email": user.email, "password": DEFAULT_PASSWORD}, secure=True
    )

    assert response.cookies[ACCESS_COOKIE]["secure"]
    assert response.cookies[settings.SESSION_COOKIE_NAME]["secure"]


def test_form_login_follows_a_safe_next(client, user):
    response = post_form(
        client,
        URL,
        {"email": user.email, "password": DEFAULT_PASSWORD, "next": "/settings/api-keys"},
    )

    assert response.status_code == 303
    assert response["Location"] == "/settings/api-keys"


@pytest.mark.parametrize(
    "next_url", ["https://evil.example.com/", "//evil.example.com/", "javascript:alert(1)"]
)
def test_form_login_ignores_an_offsite_next(client, user, next_url):
    response = post_form(
        client, URL, {"email": user.email, "password": DEFAULT_PASSWORD, "next": next_url}
    )

    assert response["Location"] == "/"


def test_form_login_failure_re_renders_the_login_page_with_an_error(client, user):
    response = post_form(client, URL, {"email": user.email, "password": "wrong password"})

    assert response.status_code == 401
    assert response["Content-Type"].startswith("text/html")
    assert b"Invalid email or password." in response.content
    assert "_auth_user_id" not in client.session
    assert ACCESS_COOKIE not in response.cookies


def test_form_login_with_missing_fields_re_renders_the_page(client):
    response = post_form(client, URL, {"email": ""})

    assert response.status_code == 400
    assert b"This field is required." in response.content


def test_form_login_failure_is_audited_as_form(client, user):
    post_form(client, URL, {"email": user.email, "password": "wrong password"})

    assert AuditEvent.objects.get(event_type="login.failed").data["via"] == "form"
