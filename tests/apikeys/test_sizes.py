"""Sizes are bounded, and every check is linear (SPEC §9; issue 21 row 5).

Each bound is sent at its largest allowed value and one past it. A body of grants as large as
the request limit allows is refused in milliseconds, not after grants x grants comparisons.
"""

import json
import time

import pytest
from django.test import Client

from apikeys.models import ApiKey
from tests.apikeys.conftest import KEYS_URL, key_url, make_api_key
from tests.apikeys_admin.conftest import add_form

pytestmark = pytest.mark.django_db

ALL_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "*"]


def scopes(count: int) -> list[str]:
    return [f"res{n}:read" for n in range(count)]


def grants(count: int, methods=("GET",)) -> list[dict]:
    return [{"path": f"/api/v1/things{n}", "methods": list(methods)} for n in range(count)]


def cidrs(count: int) -> list[str]:
    return [f"10.{n // 256}.{n % 256}.0/24" for n in range(count)]


def metadata_of(size: int) -> dict:
    """A metadata object whose JSON (``json.dumps``) is exactly ``size`` bytes."""
    value = {"k": ""}
    value["k"] = "x" * (size - len(json.dumps(value)))
    assert len(json.dumps(value)) == size
    return value


# (field, largest allowed, one past it)
BOUNDS = [
    ("name", "n" * 100, "n" * 101),
    ("description", "d" * 1000, "d" * 1001),
    ("scopes", scopes(32), scopes(33)),
    ("endpoints", grants(100), grants(101)),
    ("endpoints", grants(1, ALL_METHODS), grants(1, [*ALL_METHODS, "GET"])),
    ("allowed_ips", cidrs(100), cidrs(101)),
    ("metadata", metadata_of(4096), metadata_of(4097)),
]
IDS = ["name", "description", "scopes", "endpoints", "methods", "allowed_ips", "metadata"]


def create(client, **fields):
    fields.setdefault("name", "sized")
    return client.post(KEYS_URL, fields, format="json")


def assert_refused(response, field: str):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert field in body["errors"], body


@pytest.mark.parametrize(("field", "largest", "past"), BOUNDS, ids=IDS)
def test_create_accepts_the_largest_allowed_value(person, field, largest, past):
    response = create(person, **{field: largest})

    assert response.status_code == 201, response.content
    assert ApiKey.objects.filter(pk=response.json()["id"]).exists()


@pytest.mark.parametrize(("field", "largest", "past"), BOUNDS, ids=IDS)
def test_create_refuses_one_past_the_bound_naming_the_field(person, field, largest, past):
    response = create(person, **{field: past})

    assert_refused(response, field)
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(("field", "largest", "past"), BOUNDS, ids=IDS)
def test_patch_refuses_one_past_the_bound_naming_the_field(person, user, field, largest, past):
    # Each starts from the largest allowed, so a bound that narrows only is still tested.
    api_key, _ = make_api_key(user, **({} if field == "name" else {field: largest}))

    response = person.patch(key_url(api_key.pk), {field: past}, format="json")

    assert_refused(response, field)
    assert getattr(ApiKey.objects.get(pk=api_key.pk), field) == getattr(api_key, field)


def test_two_thousand_allowed_ips_are_refused(person):
    assert_refused(create(person, allowed_ips=cidrs(2000)), "allowed_ips")


def test_scopes_as_a_string_are_bounded_too(person):
    assert_refused(create(person, scopes=" ".join(scopes(33))), "scopes")


def megabyte_of_grants() -> list[dict]:
    endpoints = grants(25_000)
    assert len(json.dumps(endpoints)) >= 1024 * 1024
    return endpoints


def fastest_call_seconds(call, attempts: int = 7) -> float:
    """The server time of ``call``, timed around the client call: the fastest of a few.

    A bound, not a benchmark: a refusal that does per-grant work (let alone grants x grants)
    takes seconds every time, while a collection or a busy shared CPU may slow any one call.
    Each answer is checked by ``call`` itself.
    """
    timings = []
    for _ in range(attempts):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return min(timings)


def test_a_megabyte_of_grants_is_refused_in_milliseconds(person):
    body = json.dumps({"name": "huge", "endpoints": megabyte_of_grants()})

    def refused():
        assert_refused(person.post(KEYS_URL, body, content_type="application/json"), "endpoints")

    elapsed = fastest_call_seconds(refused)

    assert elapsed < 0.1, f"{elapsed * 1000:.0f} ms"
    assert not ApiKey.objects.exists()


def test_a_megabyte_of_reversed_grants_in_a_patch_is_refused_in_milliseconds(person, user):
    api_key, _ = make_api_key(user, endpoints=grants(100))
    body = json.dumps({"endpoints": list(reversed(megabyte_of_grants()))})

    def refused():
        response = person.patch(key_url(api_key.pk), body, content_type="application/json")
        assert_refused(response, "endpoints")

    elapsed = fastest_call_seconds(refused)

    assert elapsed < 0.1, f"{elapsed * 1000:.0f} ms"
    assert ApiKey.objects.get(pk=api_key.pk).endpoints == grants(100)


# --- the create page's form ----------------------------------------------------------------


@pytest.fixture
def page(user):
    client = Client()
    client.force_login(user)
    return client


PAGE_FORM = {"name": "page key", "key_type": "development", "scopes": ["agents:read"]}


@pytest.mark.parametrize(
    ("field", "largest", "past"),
    [
        ("name", "n" * 100, "n" * 101),
        ("description", "d" * 1000, "d" * 1001),
        ("endpoints", "\n".join(f"GET /api/v1/t{n}" for n in range(100)), None),
        ("allowed_ips", "\n".join(cidrs(100)), "\n".join(cidrs(101))),
    ],
    ids=["name", "description", "endpoints", "allowed_ips"],
)
def test_create_page_takes_the_largest_allowed_and_refuses_one_past(page, field, largest, past):
    past = past if past is not None else largest + "\nGET /api/v1/one-more"

    refused = page.post("/keys/new", {**PAGE_FORM, field: past})
    assert refused.status_code == 400
    assert field in refused.context["form"].errors
    assert not ApiKey.objects.exists()

    accepted = page.post("/keys/new", {**PAGE_FORM, field: largest})
    assert accepted.status_code == 303  # to the reveal page
    assert ApiKey.objects.count() == 1


# --- the admin's add form (validated by the API's serializer) -----------------------------


@pytest.mark.parametrize(
    ("field", "largest", "past"),
    [
        ("description", "d" * 1000, "d" * 1001),
        ("endpoints", json.dumps(grants(100)), json.dumps(grants(101))),
        ("allowed_ips", ", ".join(cidrs(100)), ", ".join(cidrs(101))),
    ],
    ids=["description", "endpoints", "allowed_ips"],
)
def test_admin_add_form_takes_the_largest_allowed_and_refuses_one_past(
    admin_client, user, field, largest, past
):
    refused = admin_client.post("/admin/apikeys/apikey/add/", add_form(user, **{field: past}))
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors.get(field)
    assert not ApiKey.objects.exists()

    admin_client.post("/admin/apikeys/apikey/add/", add_form(user, **{field: largest}))
    assert ApiKey.objects.count() == 1
