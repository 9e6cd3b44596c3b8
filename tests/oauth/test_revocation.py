"""``POST /oauth2/revoke`` (RFC 7009, SPEC §11): a client ends its own tokens, a user a login."""

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from accounts.models import RefreshTokenFamily
from audit.models import AuditEvent
from oauth.models import RevokedClientToken
from tests.accounts.conftest import login_json
from tests.factories import ServiceClientFactory, UserFactory
from tests.oauth.conftest import FORM, access_token_for, basic_header, bearer

URL = "/oauth2/revoke"
PROBE = "/api/v1/auth/verify"


def revoke(token: str, **extra):
    return APIClient().post(URL, urlencode({"token": token}), content_type=FORM, **extra)


def as_client(service_client) -> dict:
    return {"HTTP_AUTHORIZATION": basic_header(service_client.client_id, service_client.raw_secret)}


@pytest.fixture
def user_tokens(db):
    response = login_json(APIClient(), UserFactory())
    assert response.status_code == 200
    return response.json()


def test_a_client_revokes_its_own_token_which_then_gets_401(service_client):
    token = access_token_for(service_client)
    assert bearer(token).get(PROBE).status_code == 200

    response = revoke(token, **as_client(service_client))

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert RevokedClientToken.objects.filter(client=service_client).count() == 1
    refused = bearer(token).get(PROBE)
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_token"
    assert AuditEvent.objects.filter(event_type="oauth.token_revoked").exists()


def test_a_clients_other_tokens_still_work(service_client):
    revoked, kept = access_token_for(service_client), access_token_for(service_client)

    revoke(revoked, **as_client(service_client))

    assert bearer(kept).get(PROBE).status_code == 200


def test_another_clients_token_is_left_alone_and_still_200(service_client):
    other = ServiceClientFactory()
    token = access_token_for(other)

    response = revoke(token, **as_client(service_client))

    assert response.status_code == 200
    assert not RevokedClientToken.objects.exists()
    assert bearer(token).get(PROBE).status_code == 200


def test_a_client_token_without_client_authentication_gets_401_invalid_client(service_client):
    token = access_token_for(service_client)

    response = revoke(token)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert bearer(token).get(PROBE).status_code == 200


def test_a_user_revokes_their_refresh_token_and_its_whole_login(user_tokens):
    response = revoke(user_tokens["refresh_token"])

    assert response.status_code == 200
    family = RefreshTokenFamily.objects.get()
    assert family.revoked_reason == RefreshTokenFamily.RevokedReason.LOGOUT
    # The login's access token ends with it (the family claim).
    assert bearer(user_tokens["access_token"]).get(PROBE).status_code == 401
    refreshed = APIClient().post(
        "/api/v1/auth/refresh", {"refresh_token": user_tokens["refresh_token"]}, format="json"
    )
    assert refreshed.status_code == 401


def test_a_user_revokes_an_access_token(user_tokens):
    response = revoke(user_tokens["access_token"])

    assert response.status_code == 200
    assert bearer(user_tokens["access_token"]).get(PROBE).status_code == 401


@pytest.mark.parametrize(
    "token", ["unknown", "a.b.c", "kw_" + "x" * 40], ids=["text", "jwt-shaped", "key-shaped"]
)
def test_an_unknown_token_is_200_and_changes_nothing(db, token):
    response = revoke(token)

    assert response.status_code == 200
    assert not RevokedClientToken.objects.exists()


def test_a_missing_token_is_400_invalid_request(db):
    response = APIClient().post(URL, "", content_type=FORM)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_wrong_client_secret_gets_401_invalid_client(service_client):
    token = access_token_for(service_client)
    headers = {"HTTP_AUTHORIZATION": basic_header(service_client.client_id, "wrong")}

    response = revoke(token, **headers)

    assert response.status_code == 401
    assert bearer(token).get(PROBE).status_code == 200


def test_pruneexpired_forgets_revocations_of_expired_client_tokens(service_client, time_machine):
    from io import StringIO

    from django.core.management import call_command

    time_machine.move_to(datetime.now(tz=UTC), tick=False)
    revoke(access_token_for(service_client), **as_client(service_client))
    assert RevokedClientToken.objects.count() == 1

    time_machine.shift(3600 + 1)  # past the token's lifetime
    call_command("pruneexpired", stdout=StringIO())

    assert not RevokedClientToken.objects.exists()
    event = AuditEvent.objects.filter(event_type="maintenance.pruned").get()
    assert event.data["client_token_revocations"] == 1


def test_pruneexpired_keeps_revocations_of_live_client_tokens(service_client):
    from io import StringIO

    from django.core.management import call_command

    revoke(access_token_for(service_client), **as_client(service_client))

    call_command("pruneexpired", stdout=StringIO())

    assert RevokedClientToken.objects.count() == 1
