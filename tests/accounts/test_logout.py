import pytest
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.authentication import ACCESS_COOKIE
from accounts.models import RefreshTokenFamily
from audit.models import AuditEvent
from tests.accounts.conftest import post_form
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/logout"


def form_login(client, user):
    response = post_form(
        client, "/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 303
    return response


def test_json_logout_with_refresh_token_gets_204_and_revokes_its_family(api_client, tokens):
    response = api_client.post(URL, {"refresh_token": tokens["refresh_token"]}, format="json")

    assert response.status_code == 204
    family = RefreshTokenFamily.objects.get()
    assert family.revoked_reason == RefreshTokenFamily.RevokedReason.LOGOUT
    assert not OutstandingToken.objects.filter(blacklistedtoken__isnull=True).exists()


def test_logout_revokes_tokens_rotated_from_the_same_login(api_client, tokens):
    rotated = api_client.post(
        "/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json"
    ).json()

    api_client.post(URL, {"refresh_token": tokens["refresh_token"]}, format="json")

    response = api_client.post(
        "/api/v1/auth/refresh", {"refresh_token": rotated["refresh_token"]}, format="json"
    )
    assert response.status_code == 401


def test_json_logout_without_anything_gets_204(api_client):
    response = api_client.post(URL, {}, format="json")

    assert response.status_code == 204


def test_logout_with_an_expired_refresh_token_gets_204(api_client, tokens, time_machine):
    time_machine.move_to("2099-01-01")

    response = api_client.post(URL, {"refresh_token": tokens["refresh_token"]}, format="json")

    assert response.status_code == 204


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
def test_logout_with_a_tampered_refresh_token_gets_401_invalid_token(api_client, token):
    response = api_client.post(URL, {"refresh_token": token}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_logout_with_an_access_token_as_refresh_token_gets_401(api_client, tokens):
    response = api_client.post(URL, {"refresh_token": tokens["access_token"]}, format="json")

    assert response.status_code == 401
    assert not RefreshTokenFamily.objects.filter(revoked_at__isnull=False).exists()


def test_form_logout_clears_the_session_and_redirects_303_to_login(client, user):
    form_login(client, user)

    response = post_form(client, URL, {"submit": "1"})

    assert response.status_code == 303
    assert response["Location"] == "/login"
    assert "_auth_user_id" not in client.session
    assert client.get("/keys").status_code == 302


def test_logout_deletes_the_access_token_cookie(client, user):
    form_login(client, user)

    response = post_form(client, URL, {"submit": "1"})

    cookie = response.cookies[ACCESS_COOKIE]
    assert cookie.value == ""
    assert cookie["max-age"] == 0


def test_json_logout_of_a_session_also_clears_it(client, user):
    form_login(client, user)

    response = client.post(URL, {}, content_type="application/json")

    assert response.status_code == 204
    assert "_auth_user_id" not in client.session
    assert response.cookies[ACCESS_COOKIE].value == ""


def test_logout_is_audited(client, user):
    form_login(client, user)

    post_form(client, URL, {"submit": "1"})

    event = AuditEvent.objects.get(event_type="logout")
    assert event.actor == user
