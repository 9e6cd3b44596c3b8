"""The API's own docs as a newcomer meets them (issue 26, SPEC §13): ``/api/v1/`` is a browsable
root, placeholders such as ``<key>`` and ``<resource>`` survive HTML and Markdown, Swagger's
example bodies are real, and the browsable API fits a phone."""

import pytest
from rest_framework.test import APIClient

from apikeys.models import ApiKey
from tests.factories import MembershipFactory
from tests.tenants.helpers import client_for, jwt_for

pytestmark = pytest.mark.django_db

ROOT = "/api/v1/"


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        return (
            APIClient()
            .get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
            .json()
        )


# --- the root -------------------------------------------------------------------------------


def test_the_root_lists_the_resources_as_json_for_api_clients():
    response = APIClient().get(ROOT, HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    links = response.json()
    for label, path in {
        "api-keys": "/api/v1/user/api-keys",
        "tenants": "/api/v1/tenants",
        "agents": "/api/v1/agents",
        "login": "/api/v1/auth/login",
        "schema": "/api/v1/schema/",
        "docs": "/api/docs/",
    }.items():
        assert links[label] == f"http://testserver{path}"


def test_every_link_of_the_root_leads_somewhere():
    client = APIClient()
    for url in client.get(ROOT, HTTP_ACCEPT="application/json").json().values():
        assert client.get(url, HTTP_ACCEPT="application/json").status_code != 404, url


def test_the_root_is_a_browsable_page_for_a_browser():
    response = APIClient().get(ROOT, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "Keyward API" in html and "/api/v1/agents" in html


def test_the_root_is_not_an_operation_of_the_schema(schema):
    assert "/api/v1/" not in schema["paths"]


# --- phones ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [ROOT, "/api/v1/user/api-keys"])
def test_browsable_pages_set_a_viewport_for_phones(path):
    owner = MembershipFactory(role="owner").user
    client = APIClient()
    client.force_login(owner)

    html = client.get(path, HTTP_ACCEPT="text/html").content.decode()

    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


# --- placeholders ---------------------------------------------------------------------------


def test_security_schemes_keep_key_placeholders_in_code_spans(schema):
    schemes = schema["components"]["securitySchemes"]

    assert schemes["apiKeyBearer"]["description"] == "`Authorization: Bearer <key>`"
    assert schemes["apiKeyHeader"]["description"] == "`X-API-Key: <key>`"
    for scheme in schemes.values():
        description = scheme.get("description", "")
        # Every "<" of a description sits inside a code span, where Markdown shows it as text.
        outside_code = description.split("`")[::2]
        assert not any("<" in part for part in outside_code), description


def test_browsable_form_help_text_shows_the_resource_placeholder():
    owner = MembershipFactory(role="owner").user
    client = APIClient()
    client.force_login(owner)

    html = client.get("/api/v1/user/api-keys", HTTP_ACCEPT="text/html").content.decode()

    assert "&lt;resource&gt;:read / &lt;resource&gt;:write" in html
    assert "<resource>" not in html


# --- example bodies -------------------------------------------------------------------------


def test_metadata_is_declared_an_object(schema):
    metadata = schema["components"]["schemas"]["ApiKeyCreateRequest"]["properties"]["metadata"]

    assert metadata["type"] == "object"
    assert isinstance(metadata["example"], dict)


def test_the_create_example_is_a_real_key_with_a_real_path(schema):
    body = schema["paths"]["/api/v1/user/api-keys"]["post"]["requestBody"]["content"]
    [example] = body["application/json"]["examples"].values()

    assert example["value"]["endpoints"] == [{"path": "/api/v1/orders", "methods": ["GET"]}]
    assert isinstance(example["value"]["metadata"], dict)


def test_the_create_example_is_accepted_as_it_stands(schema):
    body = schema["paths"]["/api/v1/user/api-keys"]["post"]["requestBody"]["content"]
    [example] = body["application/json"]["examples"].values()
    owner = MembershipFactory(role="owner").user

    response = client_for(jwt_for(owner)).post(
        "/api/v1/user/api-keys", example["value"], format="json"
    )

    assert response.status_code == 201, response.json()
    api_key = ApiKey.objects.get()
    assert api_key.endpoints == [{"path": "/api/v1/orders", "methods": ["GET"]}]
    assert api_key.metadata == {"team": "billing", "ticket": "OPS-1234"}
