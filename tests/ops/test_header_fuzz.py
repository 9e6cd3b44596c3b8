"""Whatever arrives in the credential headers, the answer is a 4xx with a code — never a 500."""

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.factories import MembershipFactory, UserFactory, issued_key

pytestmark = pytest.mark.django_db

# Header values as a WSGI server can deliver them: latin-1 text, any punctuation or control
# character but line breaks (which HTTP itself forbids).
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\r\n"),
    max_size=300,
)
credential_like = st.one_of(
    header_text,
    st.builds(lambda s: f"Bearer {s}", header_text),
    st.builds(lambda s: f"Basic {s}", header_text),
    st.builds(lambda s: f"Bearer eyJ{s}.{s}.{s}", header_text),
    st.builds(lambda s: f"kw_{s}", header_text),
    # Basic with any bytes inside, not only printable text: a username/key split gone wrong.
    st.builds(lambda b: "Basic " + base64.b64encode(b).decode(), st.binary(max_size=120)),
    st.builds(lambda b: "Basic " + base64.b64encode(b"apikey:" + b).decode(), st.binary()),
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "HTTP_AUTHORIZATION": credential_like,
        "HTTP_X_API_KEY": credential_like,
        "HTTP_X_TENANT_ID": header_text,
        "HTTP_COOKIE": st.builds(
            lambda a, b: f"sessionid={a}; access_token={b}", header_text, header_text
        ),
    },
)
PATHS = ["/api/v1/auth/verify", "/api/v1/user/api-keys", "/api/v1/agents", "/api/v1/tenants"]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(meta=headers, path=st.sampled_from(PATHS))
def test_arbitrary_credential_headers_only_ever_get_a_4xx(meta, path):
    response = APIClient().get(path, **meta)

    assert 400 <= response.status_code < 500, (response.status_code, meta)
    if response["Content-Type"].startswith("application/json"):
        assert response.json().get("code")


@pytest.fixture
def valid_key():
    user = UserFactory()
    MembershipFactory(user=user)
    MembershipFactory(user=user)  # two tenants: X-Tenant-Id is read, not inferred
    _, raw = issued_key(user=user, name="fuzz", key_type="production", scopes=["agents:read"])
    return raw


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tenant=header_text,
    cookie=st.one_of(st.none(), header_text),
    path=st.sampled_from(["/api/v1/agents", "/api/v1/tenants", "/api/v1/auth/verify"]),
)
def test_a_valid_key_with_an_arbitrary_tenant_header_never_gets_a_server_error(
    valid_key, tenant, cookie, path
):
    meta = {"HTTP_X_API_KEY": valid_key, "HTTP_X_TENANT_ID": tenant}
    if cookie is not None:
        meta["HTTP_COOKIE"] = cookie
    response = APIClient().get(path, **meta)

    # A tenant the key's owner belongs to may be named and answer 200; anything else is a 4xx.
    assert response.status_code < 500, (response.status_code, meta)
    if response.status_code >= 400:
        assert response.json().get("code")
