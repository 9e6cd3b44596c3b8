"""Presenting a key (SPEC §3): four equal ways, JWTs left to SimpleJWT, nothing from the URL.

Every refusal is a 401 with a §8 code and a ``WWW-Authenticate`` header, whatever the header
looks like, and a wrong secret reads exactly like a key that never existed.
"""

import base64

import pytest
from rest_framework.test import APIClient

from accounts.authentication import ACCESS_COOKIE
from apikeys.services import api_key_revoke
from tests.apikeys.conftest import (
    INFO_URL,
    KEYS_URL,
    PRESENTATIONS,
    forged_key,
    key_client,
    make_api_key,
)
from tests.factories import UserFactory
from tests.tenants.helpers import jwt_for

pytestmark = pytest.mark.django_db


def assert_refused(response, code=None):
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"]
    body = response.json()
    assert body["code"] == code if code else body["code"]
    assert body["detail"]


@pytest.mark.parametrize("how", PRESENTATIONS)
def test_each_presentation_authenticates_the_same_key(user, how):
    api_key, raw = make_api_key(user)

    response = key_client(raw, how).get(INFO_URL)

    assert response.status_code == 200
    assert response.json()["id"] == str(api_key.pk)
    assert response["X-RateLimit-Limit"] == "60"


@pytest.mark.parametrize("how", PRESENTATIONS)
def test_each_presentation_of_a_revoked_key_gets_401_api_key_disabled(user, how):
    api_key, raw = make_api_key(user)
    api_key_revoke(api_key=api_key)

    assert_refused(key_client(raw, how).get(INFO_URL), "api_key_disabled")


@pytest.mark.parametrize("how", PRESENTATIONS)
def test_each_presentation_of_an_unknown_key_gets_401_invalid_api_key(user, how):
    _, raw = make_api_key(user)

    assert_refused(key_client(forged_key(raw), how).get(INFO_URL), "invalid_api_key")


@pytest.mark.parametrize("username", ["user", "APIKEY", "", "api-key"])
def test_basic_with_another_username_than_apikey_gets_401(user, username):
    _, raw = make_api_key(user)
    encoded = base64.b64encode(f"{username}:{raw}".encode()).decode()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {encoded}")

    assert_refused(client.get(INFO_URL), "invalid_credentials")


def test_bearer_jwt_is_authenticated_by_simplejwt(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_for(user)}")

    response = client.get(KEYS_URL)

    assert response.status_code == 200


def test_bearer_value_shaped_like_a_jwt_is_judged_as_a_jwt():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer eyJhbGciOiJIUzI1NiJ9.e30.not-a-signature")

    assert_refused(client.get(INFO_URL), "invalid_token")


def test_key_header_beats_a_session_of_another_user(user):
    api_key, raw = make_api_key(user)
    client = key_client(raw)
    client.force_login(UserFactory())

    response = client.get(INFO_URL)

    assert response.status_code == 200
    assert response.json()["id"] == str(api_key.pk)


def test_key_header_beats_a_jwt_cookie_of_another_user(user):
    api_key, raw = make_api_key(user)
    client = key_client(raw, "x-api-key")
    client.cookies[ACCESS_COOKIE] = jwt_for(UserFactory())

    response = client.get(INFO_URL)

    assert response.status_code == 200
    assert response.json()["id"] == str(api_key.pk)


def test_refused_key_header_is_not_rescued_by_a_valid_session(user):
    api_key, raw = make_api_key(user)
    api_key_revoke(api_key=api_key)
    client = key_client(raw)
    client.force_login(user)

    assert_refused(client.get(KEYS_URL), "api_key_disabled")


@pytest.mark.parametrize("param", ["api_key", "apikey", "key", "token", "access_token"])
def test_key_in_the_query_string_is_never_accepted(user, param):
    _, raw = make_api_key(user)

    response = APIClient().get(INFO_URL, {param: raw})

    assert_refused(response, "authentication_required")


def _basic(text: bytes) -> str:
    return "Basic " + base64.b64encode(text).decode()


MALFORMED_AUTHORIZATION = [
    "",
    "   ",
    "Bearer",
    "Bearer ",
    "Bearer a b",
    "Basic",
    "Basic !!!not-base64!!!",
    "Basic a b",
    "Basic YXBpa2V5Og",  # "apikey:" with its padding missing
    "Basic =YXBpa2V5Og==",
    "Basic YXBpa2V5Og===",
    "Basic YXBpa2V5Og==YQ==",
    "Basic YXBp\u00e9a2V5Og==",
    _basic(b"apikey"),
    _basic(b"\xff\xfe:\xfd"),
    _basic(b"someone:secret"),
    "Digest username=apikey",
    "Token abc",
    "kw_short",
    "kw_" + "A" * 49,
    "x" * 10_000,
    "Bearer " + "k" * 10_000,
    "Bearer eyJ.x.y",
    "Bearer kw_\u00e9\u00e8\u00ea",
    "\u00e9",
]


@pytest.mark.parametrize("value", MALFORMED_AUTHORIZATION)
def test_malformed_authorization_header_gets_401_with_a_code(db, value):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=value)

    assert_refused(client.get(INFO_URL))


@pytest.mark.parametrize("value", ["", " ", "kw_", "Bearer kw_abc", "k" * 10_000, "kw_\u00e9"])
def test_malformed_x_api_key_header_gets_401_invalid_api_key(db, value):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=value)

    assert_refused(client.get(INFO_URL), "invalid_api_key")


def test_wrong_secret_for_a_real_prefix_reads_exactly_like_an_unknown_key(user):
    _, raw = make_api_key(user)
    wrong_secret = forged_key(raw)
    unknown = forged_key("kw_QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ")
    assert wrong_secret[:12] == raw[:12] and wrong_secret != raw

    first = key_client(wrong_secret).get(INFO_URL)
    second = key_client(unknown).get(INFO_URL)

    assert first.status_code == second.status_code == 401
    assert first.content == second.content
    assert first["WWW-Authenticate"] == second["WWW-Authenticate"]


def test_key_with_a_broken_checksum_is_refused_without_a_database_query(
    user, django_assert_num_queries
):
    _, raw = make_api_key(user)
    mistyped = raw[:-1] + ("a" if raw[-1] != "a" else "b")

    with django_assert_num_queries(0):
        response = key_client(mistyped).get(INFO_URL)

    assert_refused(response, "invalid_api_key")


@pytest.mark.parametrize("mangle", [lambda raw: raw[:-1] + "!", lambda raw: raw + "a"])
def test_a_mistyped_key_is_refused_before_the_shared_cache_is_asked(user, monkeypatch, mangle):
    _, raw = make_api_key(user)
    assert key_client(raw).get(INFO_URL).status_code == 200  # the real key is warm here
    asked = []
    monkeypatch.setattr(
        "metering.verified.current_generation", lambda cache_key: asked.append(cache_key)
    )

    response = key_client(mangle(raw)).get(INFO_URL)

    assert_refused(response, "invalid_api_key")
    assert asked == []  # no generation is created for a key that cannot exist


def test_a_bearer_value_shaped_like_a_jwt_is_judged_as_a_token(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer garbage.token.here")

    response = client.get("/api/v1/auth/verify")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
