"""String fields take only strings (issue 25): a number, boolean or object where the schema says
``string`` is a 400 ``validation_error`` naming the field, never silently stored as text."""

import uuid

import pytest
from rest_framework import serializers

from agents.models import Agent
from apikeys.models import ApiKey
from core.serializers import (
    StrictCharField,
    StrictEmailField,
    StrictModelSerializer,
    StrictStringMixin,
    StrictUUIDField,
)
from tests.factories import MembershipFactory, issued_key
from tests.tenants.helpers import client_for, jwt_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", [0, 1.5, True, [], {}])
def test_strict_char_field_refuses_what_is_not_a_string(value):
    field = StrictCharField()

    with pytest.raises(serializers.ValidationError) as refused:
        field.run_validation(value)

    assert refused.value.detail == ["Not a valid string."]


def test_strict_char_field_keeps_drfs_rules_for_strings():
    field = StrictCharField(max_length=3)

    assert field.run_validation("  ab ") == "ab"
    with pytest.raises(serializers.ValidationError):
        field.run_validation("abcd")


def test_strict_email_field_refuses_a_number():
    with pytest.raises(serializers.ValidationError):
        StrictEmailField().run_validation(5)


@pytest.mark.parametrize("value", [5, True])
def test_strict_uuid_field_refuses_an_integer(value):
    with pytest.raises(serializers.ValidationError):
        StrictUUIDField().run_validation(value)


def test_strict_uuid_field_takes_text_and_uuid_objects():
    value = uuid.uuid4()

    assert StrictUUIDField().run_validation(str(value)) == value
    assert StrictUUIDField().run_validation(value) == value


def test_model_serializer_generates_strict_fields_for_text_columns():
    class AgentInput(StrictModelSerializer):
        class Meta:
            model = Agent
            fields = ["name"]

    assert isinstance(AgentInput().fields["name"], StrictCharField)


# --- through the API ------------------------------------------------------------------------


@pytest.fixture
def owner():
    return MembershipFactory(role="owner").user


@pytest.mark.parametrize("value", [0, 12.5, True, {"a": 1}])
def test_creating_a_key_with_a_number_for_its_name_is_a_400(owner, value):
    response = client_for(jwt_for(owner)).post(
        "/api/v1/user/api-keys", {"name": value, "scopes": ["agents:read"]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"] == {"name": ["Not a valid string."]}
    assert not ApiKey.objects.exists()


def test_a_number_for_a_description_is_not_stored_as_text(owner):
    response = client_for(jwt_for(owner)).post(
        "/api/v1/user/api-keys",
        {"name": "ci", "description": 0, "scopes": ["agents:read"]},
        format="json",
    )

    assert (response.status_code, response.json()["errors"]) == (
        400,
        {"description": ["Not a valid string."]},
    )


def test_a_model_serializer_field_refuses_a_number_too(owner):
    """``AgentSerializer`` is a ModelSerializer: its ``name`` comes from the field mapping."""
    response = client_for(jwt_for(owner)).post("/api/v1/agents", {"name": 42}, format="json")

    assert (response.status_code, response.json()["errors"]) == (
        400,
        {"name": ["Not a valid string."]},
    )
    assert not Agent.objects.exists()


def test_login_with_a_number_for_the_email_is_a_400(owner):
    response = client_for().post("/api/v1/auth/login", {"email": 1, "password": "x"}, format="json")

    assert response.status_code == 400
    assert "email" in response.json()["errors"]


def test_an_integer_key_id_in_a_body_is_not_a_uuid(owner):
    _, raw_key = issued_key(owner, scopes=["keys:verify"], key_type="production")

    response = client_for(raw_key).post("/api/v1/keys/verify", {"key": 12345}, format="json")

    assert response.status_code == 400


# --- a guard for serializers to come ---------------------------------------------------------

LENIENT = (serializers.CharField, serializers.UUIDField)
STRICT = (StrictStringMixin, StrictUUIDField)


def _project_serializers():
    import importlib
    import inspect

    for app in ("accounts", "agents", "apikeys", "audit", "oauth", "tenants"):
        module = importlib.import_module(f"{app}.serializers")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, serializers.BaseSerializer) and cls.__module__ == module.__name__:
                yield cls


def _writable_string_fields(serializer, path=""):
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.BaseSerializer) and hasattr(field, "fields"):
            yield from _writable_string_fields(field, f"{path}{name}.")
        elif isinstance(field, serializers.ListField) and isinstance(field.child, LENIENT):
            if not field.read_only:
                yield f"{path}{name}[]", field.child
        elif isinstance(field, LENIENT) and not field.read_only:
            yield f"{path}{name}", field


@pytest.mark.parametrize("serializer_class", list(_project_serializers()), ids=lambda c: c.__name__)
def test_every_writable_string_field_is_strict(serializer_class):
    try:
        serializer = serializer_class()
        fields = list(_writable_string_fields(serializer))
    except Exception as exc:  # a serializer that needs context to be built has nothing to check
        pytest.skip(f"not constructible without context: {exc}")

    lenient = [name for name, field in fields if not isinstance(field, STRICT)]

    assert not lenient, f"use core.serializers' strict fields for {lenient}"
