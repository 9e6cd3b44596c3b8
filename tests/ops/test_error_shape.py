"""Field errors are flat, `{field: [msg]}`; a list field's are `"allowed_ips.0"` (SPEC §11)."""

import pytest

from apikeys.models import ApiKey
from core.errors import flat_errors
from tests.apikeys.conftest import KEYS_URL, person_client
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(db):
    user = UserFactory()
    MembershipFactory(user=user, role="owner")
    return person_client(user)


def test_a_list_fields_errors_are_named_by_index(person):
    response = person.post(
        KEYS_URL, {"name": "k", "allowed_ips": ["10.0.0.0/8", "not-an-ip"]}, format="json"
    )

    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert list(errors) == ["allowed_ips.1"]
    assert all(isinstance(message, str) for message in errors["allowed_ips.1"])
    assert not ApiKey.objects.exists()


def test_every_field_error_is_a_list_of_strings(person):
    response = person.post(
        KEYS_URL,
        {"name": "", "allowed_ips": ["nope", "10.0.0.0/8", "also-nope"], "scopes": "read"},
        format="json",
    )

    errors = response.json()["errors"]
    assert response.json()["code"] == "validation_error"
    assert {"allowed_ips.0", "allowed_ips.2"} <= set(errors)
    assert all(
        isinstance(messages, list) and all(isinstance(m, str) for m in messages)
        for messages in errors.values()
    )


@pytest.mark.parametrize(
    ("tree", "flat"),
    [
        ({"name": ["Required."]}, {"name": ["Required."]}),
        (
            {"allowed_ips": {0: ["Bad."], 3: ["Worse."]}},
            {"allowed_ips.0": ["Bad."], "allowed_ips.3": ["Worse."]},
        ),
        ({"rate_limit": {"per_minute": ["Too many."]}}, {"rate_limit.per_minute": ["Too many."]}),
        ({"items": [{}, {"name": ["Required."]}]}, {"items.1.name": ["Required."]}),
        (["Not a JSON object."], {"non_field_errors": ["Not a JSON object."]}),
        (
            {"endpoints": {"non_field_errors": ["Expected a list."]}},
            {"endpoints": ["Expected a list."]},
        ),
        (
            {"endpoints": [{"non_field_errors": ["Expected an object."]}]},
            {"endpoints.0": ["Expected an object."]},
        ),
    ],
)
def test_drf_error_trees_flatten_to_dotted_field_names(tree, flat):
    assert flat_errors(tree) == flat
