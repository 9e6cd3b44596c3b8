import base64
from urllib.parse import quote_plus, urlencode

import pytest
from rest_framework.test import APIClient

from tests.factories import ServiceClientFactory

TOKEN_URL = "/oauth2/token"
FORM = "application/x-www-form-urlencoded"


def basic_header(client_id, client_secret) -> str:
    """RFC 6749 §2.3.1: each part form-urlencoded, then joined and base64-encoded."""
    pair = f"{quote_plus(str(client_id))}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def post_token(client: APIClient, body, **extra):
    """POST ``body`` (a dict, a list of pairs, or raw text) url-encoded to the token endpoint."""
    data = body if isinstance(body, (str, bytes)) else urlencode(body)
    extra.setdefault("content_type", FORM)
    return client.post(TOKEN_URL, data, **extra)


def token_by_basic(client: APIClient, service_client, **params):
    return post_token(
        client,
        {"grant_type": "client_credentials", **params},
        HTTP_AUTHORIZATION=basic_header(service_client.client_id, service_client.raw_secret),
    )


def access_token_for(service_client, **params) -> str:
    response = token_by_basic(APIClient(), service_client, **params)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def service_client(db):
    return ServiceClientFactory(name="billing", scopes=["probe:read", "agents:read"])
