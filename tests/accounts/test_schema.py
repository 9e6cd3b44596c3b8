import pytest
import yaml

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(api_client):
    response = api_client.get("/api/v1/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_documents_the_auth_request_and_response_bodies(schema):
    paths = schema["paths"]
    login = paths["/api/v1/auth/login"]["post"]
    register = paths["/api/v1/auth/register"]["post"]

    # JSON only: the pages' form posts are accepted but undeclared, for generators (SPEC §11).
    assert set(login["requestBody"]["content"]) == {"application/json"}
    assert set(login["responses"]) >= {"200", "303", "400", "401", "429", "503"}
    assert set(register["responses"]) >= {"201", "303", "400", "429"}
    assert "refresh_token" in schema["components"]["schemas"]["TokenPair"]["properties"]
    assert "key_prefix" in schema["components"]["schemas"]["VerifyResponse"]["properties"]


def test_schema_marks_login_register_and_refresh_as_needing_no_credential(schema):
    for path in ("login", "register", "refresh"):
        operation = schema["paths"][f"/api/v1/auth/{path}"]["post"]
        assert operation.get("security") in ([], [{}], None)
