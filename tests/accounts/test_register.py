import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from tenants.models import Membership
from tests.accounts.conftest import post_form
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/register"
PASSWORD = "analytical engine 1843"


def payload(**overrides):
    data = {
        "email": "ada@example.com",
        "password": PASSWORD,
        "confirm_password": PASSWORD,
        "first_name": "Ada",
        "last_name": "Lovelace",
    }
    data.update(overrides)
    return data


def test_json_register_gets_201_with_the_user(api_client):
    response = api_client.post(URL, payload(), format="json")

    assert response.status_code == 201
    user = get_user_model().objects.get(email="ada@example.com")
    assert response.json() == {
        "user": {
            "id": user.pk,
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
        }
    }
    assert user.check_password(PASSWORD)


def test_register_stores_the_email_lower_cased(api_client):
    response = api_client.post(URL, payload(email="  Ada@Example.COM "), format="json")

    assert response.status_code == 201
    assert response.json()["user"]["email"] == "ada@example.com"
    assert get_user_model().objects.filter(email="ada@example.com").count() == 1


def test_register_creates_a_personal_tenant_owned_by_the_user(api_client):
    api_client.post(URL, payload(), format="json")

    membership = Membership.objects.get(user__email="ada@example.com")
    assert membership.role == Membership.Role.OWNER
    assert membership.tenant.name == "Ada Lovelace's workspace"


def test_register_writes_a_user_registered_audit_event_without_the_password(api_client):
    api_client.post(URL, payload(), format="json")

    event = AuditEvent.objects.get(event_type="user.registered")
    user = get_user_model().objects.get(email="ada@example.com")
    assert event.actor == user
    assert event.target_id == str(user.pk)
    assert PASSWORD not in str(event.data)


def test_register_names_are_optional(api_client):
    data = payload()
    del data["first_name"], data["last_name"]

    response = api_client.post(URL, data, format="json")

    assert response.status_code == 201
    assert response.json()["user"]["first_name"] == ""


def test_form_register_gets_303_to_the_login_page(client):
    response = post_form(client, URL, payload())

    assert response.status_code == 303
    assert response["Location"] == "/login"
    assert get_user_model().objects.filter(email="ada@example.com").exists()


def test_multipart_form_register_gets_303_to_the_login_page(client):
    response = client.post(URL, payload())

    assert response.status_code == 303
    assert get_user_model().objects.filter(email="ada@example.com").exists()


def test_duplicate_email_gets_400_validation_error_on_email(api_client):
    UserFactory(email="ada@example.com")

    response = api_client.post(URL, payload(email="ADA@example.com"), format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert list(body["errors"]) == ["email"]
    assert get_user_model().objects.filter(email="ada@example.com").count() == 1


def test_mismatched_confirmation_gets_400_on_confirm_password(api_client):
    response = api_client.post(URL, payload(confirm_password="something else"), format="json")

    assert response.status_code == 400
    assert "confirm_password" in response.json()["errors"]
    assert not get_user_model().objects.exists()


@pytest.mark.parametrize(
    "password",
    ["short", "password123", "12345678901", "ada@example.com"],
    ids=["too-short", "common", "numeric", "like-the-email"],
)
def test_weak_password_gets_400_on_password(api_client, password):
    response = api_client.post(
        URL, payload(password=password, confirm_password=password), format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "password" in response.json()["errors"]
    assert not get_user_model().objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "ada@example.com"},
        {"email": "not-an-email", "password": PASSWORD, "confirm_password": PASSWORD},
        {"email": ["ada@example.com"], "password": PASSWORD, "confirm_password": PASSWORD},
        {"email": "ada@example.com", "password": {"a": 1}, "confirm_password": PASSWORD},
        {
            "email": "ada@example.com",
            "password": PASSWORD,
            "confirm_password": PASSWORD,
            "first_name": "x" * 151,
        },
    ],
    ids=["empty", "no-password", "bad-email", "email-list", "password-object", "long-name"],
)
def test_malformed_register_body_gets_400_validation_error(api_client, body):
    response = api_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"null"])
def test_non_object_json_body_gets_400_not_500(api_client, raw):
    response = api_client.post(URL, raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"]["non_field_errors"]


def test_form_register_with_bad_input_re_renders_the_page_with_messages(client):
    response = post_form(client, URL, payload(confirm_password="something else"))

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"The two passwords do not match." in response.content
    assert b'name="email"' in response.content
    assert not get_user_model().objects.exists()


def test_form_register_with_duplicate_email_shows_the_error_on_the_page(client):
    UserFactory(email="ada@example.com")

    response = post_form(client, URL, payload())

    assert response.status_code == 400
    assert b"already exists" in response.content


def test_register_rolls_back_the_user_when_the_tenant_cannot_be_created(api_client, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("tenant store down")

    monkeypatch.setattr("accounts.services.tenant_create_personal", broken)
    client = api_client
    client.raise_request_exception = False

    response = client.post(URL, payload(), format="json")

    assert response.status_code == 500
    assert not get_user_model().objects.exists()
