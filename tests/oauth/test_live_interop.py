"""Real clients against a live server (SPEC §11): PyJWT's ``PyJWKClient`` verifies tokens offline
from the published JWKS, through a key rotation; Authlib discovers the endpoints from the RFC
8414 metadata, gets a token, introspects and revokes."""

from io import StringIO

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts import signing
from apikeys.services import api_key_create
from tests.accounts.conftest import login_json
from tests.factories import MembershipFactory, ServiceClientFactory, TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(live_server, settings):
    """The live server, issuing tokens under its own URL with a configured key."""
    settings.KEYWARD_JWT_ISSUER = live_server.url
    settings.KEYWARD_JWT_PRIVATE_KEY = signing.private_pem(signing.generate_private_key("ES256"))
    return live_server.url


def login(user) -> dict:
    response = login_json(APIClient(), user)
    assert response.status_code == 200
    return response.json()


def verify_offline(jwks_client: jwt.PyJWKClient, token: str, issuer: str) -> dict:
    """What another service does: ten lines of PyJWT, no secret (docs/oauth.md)."""
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    return jwt.decode(
        token, signing_key.key, algorithms=["ES256", "RS256", "EdDSA"], audience="keyward",
        issuer=issuer,
    )  # fmt: skip


def rotate(settings) -> None:
    out = StringIO()
    call_command("rotatejwtkey", stdout=out)
    for line in out.getvalue().splitlines():
        if not line.startswith("#"):
            name, value = line.split("=", 1)
            setattr(settings, name, value.strip('"'))


def test_pyjwkclient_verifies_tokens_through_a_rotation(server, settings):
    user = MembershipFactory().user
    # PyJWKClient refetches the set when it meets an unknown kid, by default at most every 30 s
    # (docs/oauth.md, key rotation); without the wait here.
    jwks_client = jwt.PyJWKClient(f"{server}/.well-known/jwks.json", cooldown_duration=0)
    old_token = login(user)["access_token"]
    assert verify_offline(jwks_client, old_token, server)["sub"] == str(user.pk)

    rotate(settings)
    new_token = login(user)["access_token"]

    old_kid = jwt.get_unverified_header(old_token)["kid"]
    new_kid = jwt.get_unverified_header(new_token)["kid"]
    assert old_kid != new_kid
    assert verify_offline(jwks_client, new_token, server)["sub"] == str(user.pk)  # refetched
    assert verify_offline(jwks_client, old_token, server)["sub"] == str(user.pk)
    assert {key.key_id for key in jwks_client.get_signing_keys()} == {old_kid, new_kid}


def test_pyjwkclient_verifies_a_client_token(server):
    client = ServiceClientFactory(scopes=["agents:read"])
    session = OAuth2Session(str(client.client_id), client.raw_secret)
    token = session.fetch_token(f"{server}/oauth2/token", grant_type="client_credentials")

    jwks_client = jwt.PyJWKClient(f"{server}/.well-known/jwks.json")
    claims = verify_offline(jwks_client, token["access_token"], server)

    assert claims["client_id"] == str(client.client_id)
    assert jwt.get_unverified_header(token["access_token"])["typ"] == "at+jwt"


def validate_all_but_response_types(metadata: AuthorizationServerMetadata) -> None:
    """Authlib's RFC 8414 checks, but for ``response_types_supported``: it describes an
    authorization endpoint, which Keyward has none of, and §3.2 forbids an empty array."""
    assert "response_types_supported" not in metadata
    for key in AuthorizationServerMetadata.REGISTRY_KEYS:
        if key != "response_types_supported":
            getattr(metadata, f"validate_{key}")()


def test_authlib_discovers_the_endpoints_then_introspects_and_revokes(server, monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the live server speaks plain HTTP
    tenant = TenantFactory()
    member = MembershipFactory(tenant=tenant).user
    gateway = ServiceClientFactory(scopes=["keys:verify", "agents:read"], tenant=tenant)

    metadata = AuthorizationServerMetadata(
        requests.get(f"{server}/.well-known/oauth-authorization-server", timeout=5).json()
    )
    validate_all_but_response_types(metadata)
    assert metadata["issuer"] == server
    session = OAuth2Session(
        str(gateway.client_id), gateway.raw_secret, token_endpoint_auth_method="client_secret_basic"
    )
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    introspect = metadata["introspection_endpoint"]

    own = session.introspect_token(introspect, token=token["access_token"]).json()
    assert own["active"] is True
    assert own["client_id"] == str(gateway.client_id)
    refresh = login(member)["refresh_token"]
    assert session.introspect_token(introspect, token=refresh).json()["token_type"] == (
        "refresh_token"
    )
    _, raw_key = api_key_create(user=member, name="ci", tenant=tenant)
    key = session.introspect_token(introspect, token=raw_key).json()
    assert key["active"] is True
    assert key["token_type"] == "api_key"

    revoked = session.revoke_token(metadata["revocation_endpoint"], token=token["access_token"])
    assert revoked.status_code == 200
    after = session.introspect_token(introspect, token=token["access_token"]).json()
    assert after == {"active": False}
