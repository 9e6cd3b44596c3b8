"""``GET /.well-known/oauth-authorization-server`` (RFC 8414, SPEC §11): what a client discovers."""

from rest_framework.test import APIClient

URL = "/.well-known/oauth-authorization-server"


def test_metadata_names_the_issuer_and_every_endpoint_under_it(settings):
    settings.KEYWARD_JWT_ISSUER = "https://keyward.example.com"

    response = APIClient().get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["issuer"] == "https://keyward.example.com"
    assert body["token_endpoint"] == "https://keyward.example.com/oauth2/token"
    assert body["introspection_endpoint"] == "https://keyward.example.com/oauth2/introspect"
    assert body["revocation_endpoint"] == "https://keyward.example.com/oauth2/revoke"
    assert body["jwks_uri"] == "https://keyward.example.com/.well-known/jwks.json"
    assert response["Cache-Control"].startswith("public, max-age=")


def test_metadata_lists_the_grant_and_the_client_authentication_methods(db):
    body = APIClient().get(URL).json()

    assert body["grant_types_supported"] == ["client_credentials"]
    assert body["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert body["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert "none" in body["revocation_endpoint_auth_methods_supported"]
    assert "keys:verify" in body["scopes_supported"]


def test_metadata_has_no_empty_array(db):
    # RFC 8414 §3.2: claims with zero elements are omitted (so no response_types_supported).
    body = APIClient().get(URL).json()

    assert all(value != [] for value in body.values())
    assert "response_types_supported" not in body


def test_metadata_answers_get_only(db):
    assert APIClient().post(URL).status_code == 405
