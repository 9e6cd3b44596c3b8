from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, UntypedToken

from accounts.models import RefreshTokenFamily
from audit.models import AuditEvent
from tests.accounts.conftest import login_json

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/refresh"


def refresh(client, token):
    return client.post(URL, {"refresh_token": token}, format="json")


def test_refresh_gets_200_with_a_new_pair(api_client, user, tokens):
    response = refresh(api_client, tokens["refresh_token"])

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 7200
    assert body["refresh_token"] != tokens["refresh_token"]
    assert AccessToken(body["access_token"])["user_id"] == str(user.pk)
    assert response["Cache-Control"] == "no-store"


def test_refresh_blacklists_the_old_token_and_keeps_the_family(api_client, tokens):
    body = refresh(api_client, tokens["refresh_token"]).json()

    old, new = UntypedToken(tokens["refresh_token"]), UntypedToken(body["refresh_token"])
    assert BlacklistedToken.objects.filter(token__jti=old["jti"]).exists()
    assert not BlacklistedToken.objects.filter(token__jti=new["jti"]).exists()
    assert new["family"] == old["family"]
    family = RefreshTokenFamily.objects.get(pk=old["family"])
    assert family.issued_tokens.count() == 2


def test_new_access_token_authenticates(api_client, tokens):
    body = refresh(api_client, tokens["refresh_token"]).json()

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert api_client.get("/api/v1/auth/verify").status_code == 200


def test_refresh_chain_keeps_working(api_client, tokens):
    token = tokens["refresh_token"]
    for _ in range(3):
        response = refresh(api_client, token)
        assert response.status_code == 200
        token = response.json()["refresh_token"]


def test_reused_refresh_token_gets_401_token_reused(api_client, tokens):
    refresh(api_client, tokens["refresh_token"])

    response = refresh(api_client, tokens["refresh_token"])

    assert response.status_code == 401
    assert response.json()["code"] == "token_reused"
    assert response["WWW-Authenticate"] == 'Bearer realm="keyward"'


def test_reuse_revokes_the_whole_family(api_client, tokens):
    newest = refresh(api_client, tokens["refresh_token"]).json()["refresh_token"]

    refresh(api_client, tokens["refresh_token"])

    family = RefreshTokenFamily.objects.get()
    assert family.revoked_reason == RefreshTokenFamily.RevokedReason.REUSE
    assert family.revoked_at is not None
    outstanding = OutstandingToken.objects.filter(keyward_issue__family=family)
    assert outstanding.count() == 2
    assert not outstanding.filter(blacklistedtoken__isnull=True).exists()
    assert BlacklistedToken.objects.filter(token__jti=UntypedToken(newest)["jti"]).exists()


def test_after_reuse_the_newest_token_of_the_family_gets_401(api_client, tokens):
    newest = refresh(api_client, tokens["refresh_token"]).json()["refresh_token"]
    refresh(api_client, tokens["refresh_token"])

    response = refresh(api_client, newest)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_second_reuse_after_revocation_still_gets_401_token_reused(api_client, tokens):
    refresh(api_client, tokens["refresh_token"])
    refresh(api_client, tokens["refresh_token"])

    response = refresh(api_client, tokens["refresh_token"])

    assert response.status_code == 401
    assert response.json()["code"] == "token_reused"


def test_reuse_leaves_other_logins_of_the_user_alone(api_client, user, tokens):
    other_login = login_json(api_client, user).json()
    refresh(api_client, tokens["refresh_token"])
    refresh(api_client, tokens["refresh_token"])

    response = refresh(api_client, other_login["refresh_token"])

    assert response.status_code == 200


def test_reuse_is_audited_without_the_token(api_client, user, tokens):
    refresh(api_client, tokens["refresh_token"])
    refresh(api_client, tokens["refresh_token"])

    event = AuditEvent.objects.get(event_type="token.reused")
    assert event.actor == user
    assert event.outcome == AuditEvent.Outcome.FAILURE
    assert tokens["refresh_token"] not in str(event.data)


def test_expired_refresh_token_gets_401_token_expired(api_client, tokens):
    with time_machine.travel(timezone.now() + timedelta(days=8), tick=False):
        response = refresh(api_client, tokens["refresh_token"])

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_refresh_token_is_valid_until_just_before_expiry(api_client, tokens):
    with time_machine.travel(timezone.now() + timedelta(days=6, hours=23), tick=False):
        response = refresh(api_client, tokens["refresh_token"])

    assert response.status_code == 200


def test_tampered_refresh_token_gets_401_invalid_token(api_client, tokens):
    header, payload, signature = tokens["refresh_token"].split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"

    response = refresh(api_client, tampered)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_access_token_used_as_refresh_token_gets_401_invalid_token(api_client, tokens):
    response = refresh(api_client, tokens["access_token"])

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_refresh_token_without_a_family_gets_401_invalid_token(api_client, user):
    foreign = RefreshToken.for_user(user)

    response = refresh(api_client, str(foreign))

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_refresh_token_of_an_inactive_user_gets_401_invalid_token(api_client, user, tokens):
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = refresh(api_client, tokens["refresh_token"])

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    # Refused, not rotated: no successor was minted (deactivation itself revoked the login).
    assert OutstandingToken.objects.count() == 1
    assert RefreshTokenFamily.objects.get().revoked_reason == "credentials"


def test_refresh_token_of_a_deleted_user_gets_401_invalid_token(api_client, user, tokens):
    user.delete()

    response = refresh(api_client, tokens["refresh_token"])

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_refresh_after_logout_gets_401(api_client, tokens):
    api_client.post(
        "/api/v1/auth/logout", {"refresh_token": tokens["refresh_token"]}, format="json"
    )

    response = refresh(api_client, tokens["refresh_token"])

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"refresh_token": ""},
        {"refresh_token": ["a"]},
        {"refresh_token": None},
        {"refresh_token": 12345},
        {"refresh": "x"},
    ],
    ids=["empty", "blank", "list", "null", "number", "simplejwt-field-name"],
)
def test_malformed_refresh_body_gets_400_validation_error(api_client, body):
    response = api_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "refresh_token" in response.json()["errors"]


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJ.eyJ.sig", "12345"])
def test_garbage_refresh_token_gets_401_invalid_token(api_client, token):
    response = api_client.post(URL, {"refresh_token": token}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_a_form_encoded_refresh_over_the_anonymous_limit_gets_the_json_429(api_client, settings):
    settings.KEYWARD_ANON_RATE_PER_IP = "1/m"
    form = "application/x-www-form-urlencoded"
    api_client.post(URL, "refresh_token=x", content_type=form)

    response = api_client.post(URL, "refresh_token=x", content_type=form)

    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "rate_limit_error"
