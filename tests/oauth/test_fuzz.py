"""Whatever a caller sends to the token endpoint or as a Bearer token: a 4xx, never a 500."""

from urllib.parse import urlencode

import jwt
import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.oauth.conftest import FORM, TOKEN_URL, basic_header

pytestmark = pytest.mark.django_db

header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\r\n"),
    max_size=200,
)
param_names = st.sampled_from(["grant_type", "client_id", "client_secret", "scope", "x"])
form_body = st.lists(st.tuples(param_names, st.text(max_size=60)), max_size=6)
raw_body = st.one_of(st.binary(max_size=300), form_body)
content_types = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/x-www-form-urlencoded; charset=",
        "application/json",
        "multipart/form-data",
        "",
    ]
)
authorization = st.one_of(
    st.none(),
    header_text,
    st.builds(lambda s: f"Basic {s}", header_text),
    st.builds(lambda s: f"Bearer eyJ{s}.eyJ{s}.{s}", header_text),
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _encode(body) -> bytes:
    return body if isinstance(body, bytes) else urlencode(body).encode()


@FUZZ
@given(body=raw_body, content_type=content_types, auth=authorization)
def test_any_token_request_gets_a_4xx_in_the_oauth_shape(body, content_type, auth):
    extra = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}

    response = Client().generic("POST", TOKEN_URL, _encode(body), content_type, **extra)

    assert 400 <= response.status_code < 500, (response.status_code, body, auth)
    payload = response.json()
    assert payload["error"] == payload["code"]
    assert payload["detail"] == payload["error_description"]


@FUZZ
@given(
    claims=st.dictionaries(
        st.sampled_from(["token_type", "client_id", "scope", "exp", "tenant_id", "jti"]),
        st.one_of(
            st.text(max_size=20), st.integers(), st.none(), st.lists(st.integers(), max_size=2)
        ),
    )
)
def test_any_unsigned_client_token_gets_a_401(claims):
    claims = {**claims, "token_type": "client_access"}
    token = jwt.encode(claims, "not-the-signing-key-but-long-enough-x", algorithm="HS256")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = client.get("/api/v1/auth/verify")

    assert response.status_code == 401
    assert response.json()["code"] in ("invalid_token", "token_expired")


@FUZZ
@given(
    scope=st.one_of(st.none(), st.text(max_size=40)),
    extra=st.lists(st.tuples(param_names, st.text(max_size=20)), max_size=3),
    method=st.sampled_from(["basic", "form"]),
)
def test_any_request_of_a_real_client_gets_a_token_or_a_4xx(
    service_client, settings, scope, extra, method
):
    settings.KEYWARD_OAUTH_TOKEN_RATE_PER_CLIENT = "100000/m"
    settings.KEYWARD_OAUTH_TOKEN_RATE_PER_IP = "100000/m"
    params = [("grant_type", "client_credentials"), *extra]
    if scope is not None:
        params.append(("scope", scope))
    headers = {}
    if method == "basic":
        headers["HTTP_AUTHORIZATION"] = basic_header(
            service_client.client_id, service_client.raw_secret
        )
    else:
        params += [
            ("client_id", str(service_client.client_id)),
            ("client_secret", service_client.raw_secret),
        ]

    response = Client().generic("POST", TOKEN_URL, urlencode(params).encode(), FORM, **headers)

    assert response.status_code == 200 or 400 <= response.status_code < 500
    if response.status_code == 200:
        granted = response.json()["scope"].split(" ")
        assert set(granted) <= set(service_client.scopes)
