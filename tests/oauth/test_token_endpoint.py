"""POST /oauth2/token: the client-credentials grant, its answers and every way to get it wrong."""

import base64
import uuid
from unittest import mock

import jwt
import pytest
import redis
from django.core.cache import caches

from audit.models import AuditEvent
from tests.factories import ServiceClientFactory, TenantFactory
from tests.oauth.conftest import FORM, TOKEN_URL, basic_header, post_token, token_by_basic

pytestmark = pytest.mark.django_db

GRANT = {"grant_type": "client_credentials"}


def claims(access_token: str) -> dict:
    return jwt.decode(access_token, options={"verify_signature": False})


def form_credentials(service_client) -> dict:
    return {"client_id": str(service_client.client_id), "client_secret": service_client.raw_secret}


def assert_oauth_error(response, status: int, error: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == error
    assert body["code"] == error
    assert body["error_description"] and body["detail"] == body["error_description"]


def test_token_by_http_basic(api_client, service_client):
    response = token_by_basic(api_client, service_client)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "probe:read agents:read"


def test_token_by_form_fields(api_client, service_client):
    response = post_token(api_client, {**GRANT, **form_credentials(service_client)})

    assert response.status_code == 200
    assert response.json()["scope"] == "probe:read agents:read"


def test_token_answer_must_not_be_cached(api_client, service_client):
    response = token_by_basic(api_client, service_client)

    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    assert response["Content-Type"] == "application/json"


def test_token_carries_client_tenant_and_scope_claims(api_client):
    tenant = TenantFactory()
    client = ServiceClientFactory(scopes=["agents:read"], tenant=tenant)

    token = claims(token_by_basic(api_client, client).json()["access_token"])

    assert token["token_type"] == "client_access"
    assert token["client_id"] == token["sub"] == str(client.client_id)
    assert token["tenant_id"] == str(tenant.pk)
    assert token["scope"] == "agents:read"
    assert token["exp"] - token["iat"] == 3600
    assert "user_id" not in token


def test_token_lifetime_follows_the_setting_at_call_time(api_client, service_client, settings):
    settings.KEYWARD_CLIENT_TOKEN_LIFETIME = 120

    body = token_by_basic(api_client, service_client).json()

    assert body["expires_in"] == 120
    token = claims(body["access_token"])
    assert token["exp"] - token["iat"] == 120


def test_requested_scope_subset_is_granted_alone(api_client, service_client):
    response = token_by_basic(api_client, service_client, scope="agents:read")

    assert response.json()["scope"] == "agents:read"
    assert claims(response.json()["access_token"])["scope"] == "agents:read"


def test_a_repeated_scope_token_is_granted_once(api_client, service_client):
    response = token_by_basic(api_client, service_client, scope="probe:read  probe:read")

    assert response.json()["scope"] == "probe:read"


def test_scope_beyond_the_clients_gets_400_invalid_scope(api_client, service_client):
    response = token_by_basic(api_client, service_client, scope="probe:read probe:write")

    assert_oauth_error(response, 400, "invalid_scope")
    assert "probe:write" in response.json()["error_description"]


@pytest.mark.parametrize("scope", [" ", 'probe:"read"', "probe:read\\", "probe:read\tx"])
def test_malformed_scope_gets_400_invalid_scope(api_client, service_client, scope):
    response = token_by_basic(api_client, service_client, scope=scope)

    assert_oauth_error(response, 400, "invalid_scope")


def test_basic_credentials_are_form_urldecoded(api_client, service_client):
    """RFC 6749 §2.3.1: a client that url-encodes its id and secret still gets in."""
    pair = f"{service_client.client_id}:{service_client.raw_secret}".replace("-", "%2D")
    header = "Basic " + base64.b64encode(pair.encode()).decode()

    response = post_token(api_client, GRANT, HTTP_AUTHORIZATION=header)

    assert response.status_code == 200


def test_content_type_with_utf8_charset_is_accepted(api_client, service_client):
    response = post_token(
        api_client,
        {**GRANT, **form_credentials(service_client)},
        content_type="application/x-www-form-urlencoded; charset=UTF-8",
    )

    assert response.status_code == 200


def test_issuing_a_token_is_audited_without_the_secret(api_client, service_client):
    token_by_basic(api_client, service_client)

    event = AuditEvent.objects.get(event_type="oauth.token_issued")
    assert event.target_id == str(service_client.client_id)
    assert event.data["scope"] == "probe:read agents:read"
    assert event.data["auth_method"] == "client_secret_basic"
    assert service_client.raw_secret not in str(event.data)


# --- invalid_client: unknown, wrong secret and inactive look exactly alike -----------------


def invalid_client_cases(service_client):
    inactive = ServiceClientFactory(is_active=False)
    return {
        "unknown client": (str(uuid.uuid4()), service_client.raw_secret),
        "malformed client id": ("not-a-uuid", service_client.raw_secret),
        "wrong secret": (str(service_client.client_id), service_client.raw_secret + "x"),
        "empty secret": (str(service_client.client_id), ""),
        "another client's secret": (str(service_client.client_id), inactive.raw_secret),
        "inactive client": (str(inactive.client_id), inactive.raw_secret),
    }


@pytest.mark.parametrize(
    "case",
    [
        "unknown client",
        "malformed client id",
        "wrong secret",
        "empty secret",
        "another client's secret",
        "inactive client",
    ],
)
@pytest.mark.parametrize("method", ["basic", "form"])
def test_bad_client_credentials_get_the_same_401_invalid_client(
    api_client, service_client, case, method
):
    client_id, secret = invalid_client_cases(service_client)[case]
    if method == "basic":
        response = post_token(api_client, GRANT, HTTP_AUTHORIZATION=basic_header(client_id, secret))
    else:
        response = post_token(
            api_client, {**GRANT, "client_id": client_id, "client_secret": secret}
        )

    assert_oauth_error(response, 401, "invalid_client")
    assert response.json()["error_description"] == "Client authentication failed."
    assert response["WWW-Authenticate"] == 'Basic realm="keyward"'


def test_no_client_authentication_gets_401_invalid_client(api_client):
    response = post_token(api_client, GRANT)

    assert_oauth_error(response, 401, "invalid_client")
    assert response["WWW-Authenticate"] == 'Basic realm="keyward"'


def test_client_id_without_secret_gets_401_invalid_client(api_client, service_client):
    response = post_token(api_client, {**GRANT, "client_id": str(service_client.client_id)})

    assert_oauth_error(response, 401, "invalid_client")


def test_unsupported_authorization_scheme_gets_401_invalid_client(api_client, service_client):
    response = post_token(api_client, GRANT, HTTP_AUTHORIZATION="Bearer something")

    assert_oauth_error(response, 401, "invalid_client")


def test_a_denied_request_is_audited_with_the_client_id_and_never_the_secret(
    api_client, service_client
):
    post_token(
        api_client,
        {**GRANT, "client_id": str(service_client.client_id), "client_secret": "guess"},
    )

    event = AuditEvent.objects.get(event_type="oauth.token_denied")
    assert event.outcome == "failure"
    assert event.target_id == str(service_client.client_id)
    assert event.data["error"] == "invalid_client"
    assert "guess" not in str(event.data)


def test_a_denied_request_quoting_nul_characters_is_still_a_4xx_and_audited(api_client):
    # PostgreSQL's jsonb refuses NUL, and the audit row quotes what the client sent.
    response = post_token(api_client, "%00=a&%00=b&grant_type=client_credentials")

    assert 400 <= response.status_code < 500
    event = AuditEvent.objects.get(event_type="oauth.token_denied")
    assert "\x00" not in str(event.data)


# --- invalid_request, unsupported_grant_type: malformed requests are 4xx, never 500 ------------


def test_both_authentication_methods_get_400_invalid_request(api_client, service_client):
    response = post_token(
        api_client,
        {**GRANT, **form_credentials(service_client)},
        HTTP_AUTHORIZATION=basic_header(service_client.client_id, service_client.raw_secret),
    )

    assert_oauth_error(response, 400, "invalid_request")


def test_basic_with_the_same_client_id_in_the_form_gets_a_token(api_client, service_client):
    # RFC 6749 §3.2.1: a client may name itself with client_id beside its authentication.
    response = post_token(
        api_client,
        {**GRANT, "client_id": str(service_client.client_id).upper()},
        HTTP_AUTHORIZATION=basic_header(service_client.client_id, service_client.raw_secret),
    )

    assert response.status_code == 200, response.content
    assert AuditEvent.objects.get(event_type="oauth.token_issued").data["auth_method"] == (
        "client_secret_basic"
    )


def test_basic_with_another_client_id_in_the_form_gets_400_invalid_request(
    api_client, service_client
):
    response = post_token(
        api_client,
        {**GRANT, "client_id": str(uuid.uuid4())},
        HTTP_AUTHORIZATION=basic_header(service_client.client_id, service_client.raw_secret),
    )

    assert_oauth_error(response, 400, "invalid_request")
    assert not AuditEvent.objects.filter(event_type="oauth.token_issued").exists()


@pytest.mark.parametrize(
    "body",
    [
        "",
        "client_id=x&client_secret=y",
        "grant_type=",
        "grant_type=client_credentials&grant_type=client_credentials",
        "grant_type=client_credentials&scope=a&scope=b",
        "grant_type=client_credentials&client_secret=only",
        b"grant_type=client_credentials&scope=\xff\xfe",
        "&".join(f"p{n}=v" for n in range(50)),
    ],
    ids=[
        "empty",
        "no grant_type",
        "blank grant_type",
        "repeated grant_type",
        "repeated scope",
        "secret without id",
        "not utf-8",
        "too many fields",
    ],
)
def test_malformed_bodies_get_400_invalid_request(api_client, body):
    response = post_token(api_client, body)

    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/x-www-form-urlencoded; charset=latin-1",
        "application/x-www-form-urlencoded; charset=bogus",
        "",
    ],
)
def test_bodies_that_are_not_utf8_form_encoded_get_400_invalid_request(
    api_client, service_client, content_type
):
    response = api_client.post(
        TOKEN_URL,
        f"grant_type=client_credentials&client_id={service_client.client_id}"
        f"&client_secret={service_client.raw_secret}",
        content_type=content_type,
    )

    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic",
        "Basic a b",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":secret-without-id").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic caf\xe9",
    ],
)
def test_malformed_basic_headers_get_401_invalid_client(api_client, authorization):
    # RFC 6749 §5.2: a client that tried the Authorization header gets a 401 and a challenge.
    response = post_token(api_client, GRANT, HTTP_AUTHORIZATION=authorization)

    assert_oauth_error(response, 401, "invalid_client")
    assert response["WWW-Authenticate"] == 'Basic realm="keyward"'
    assert AuditEvent.objects.get(event_type="oauth.token_denied").data["error"] == (
        "invalid_client"
    )


def test_a_post_without_a_body_gets_invalid_request_naming_grant_type(api_client, service_client):
    response = api_client.generic(
        "POST",
        TOKEN_URL,
        b"",
        content_type="",
        HTTP_AUTHORIZATION=basic_header(service_client.client_id, service_client.raw_secret),
    )

    assert_oauth_error(response, 400, "invalid_request")
    assert "grant_type" in response.json()["error_description"]


def test_a_json_body_gets_400_invalid_request(api_client, service_client):
    response = api_client.post(
        TOKEN_URL, {**GRANT, **form_credentials(service_client)}, format="json"
    )

    assert_oauth_error(response, 400, "invalid_request")
    assert FORM in response.json()["error_description"]
    assert not AuditEvent.objects.filter(event_type="oauth.token_issued").exists()


def test_comma_separated_scopes_are_read_as_separate_scopes(api_client, service_client):
    response = token_by_basic(api_client, service_client, scope="agents:read,probe:read")

    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "agents:read probe:read"
    assert claims(response.json()["access_token"])["scope"] == "agents:read probe:read"


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "refresh_token", "x"])
def test_other_grant_types_get_400_unsupported_grant_type(api_client, service_client, grant_type):
    response = post_token(
        api_client, {"grant_type": grant_type, **form_credentials(service_client)}
    )

    assert_oauth_error(response, 400, "unsupported_grant_type")


def test_client_secret_in_the_url_gets_400_invalid_request(api_client, service_client):
    response = api_client.post(
        f"{TOKEN_URL}?client_secret={service_client.raw_secret}",
        f"grant_type=client_credentials&client_id={service_client.client_id}",
        content_type="application/x-www-form-urlencoded",
    )

    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_get_405_in_the_oauth_shape(api_client, method):
    response = getattr(api_client, method)(TOKEN_URL)

    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"
    assert "POST" in response["Allow"]


def test_an_html_accept_header_still_gets_json(api_client, service_client):
    response = token_by_basic(api_client, service_client, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


# --- rate limits ---------------------------------------------------------------------------


def test_over_the_per_client_rate_gets_429_with_retry_after(api_client, service_client, settings):
    settings.KEYWARD_OAUTH_TOKEN_RATE_PER_CLIENT = "2/m"
    for _ in range(2):
        assert token_by_basic(api_client, service_client).status_code == 200

    response = token_by_basic(api_client, service_client)

    assert response.status_code == 429
    body = response.json()
    assert body["detail"] == "Rate limit exceeded"
    assert body["code"] == "rate_limit_error"
    assert 1 <= body["retry_after"] <= 60
    assert response["Retry-After"] == str(body["retry_after"])


def test_per_client_bucket_counts_failed_attempts_and_every_spelling_of_the_id(
    api_client, service_client, settings
):
    settings.KEYWARD_OAUTH_TOKEN_RATE_PER_CLIENT = "2/m"
    client_id = str(service_client.client_id)
    post_token(api_client, {**GRANT, "client_id": client_id.upper(), "client_secret": "x"})
    post_token(api_client, {**GRANT, "client_id": "{" + client_id + "}", "client_secret": "x"})

    response = token_by_basic(api_client, service_client)

    assert response.status_code == 429


def test_another_client_has_its_own_bucket(api_client, service_client, settings):
    settings.KEYWARD_OAUTH_TOKEN_RATE_PER_CLIENT = "1/m"
    token_by_basic(api_client, service_client)

    response = token_by_basic(api_client, ServiceClientFactory())

    assert response.status_code == 200


def test_over_the_per_ip_rate_gets_429_even_for_malformed_requests(
    api_client, service_client, settings
):
    settings.KEYWARD_OAUTH_TOKEN_RATE_PER_IP = "2/m"
    post_token(api_client, "garbage")
    post_token(api_client, "garbage")

    response = token_by_basic(api_client, service_client)

    assert response.status_code == 429
    assert response.json()["code"] == "rate_limit_error"


def test_another_ip_has_its_own_bucket(api_client, service_client, settings):
    settings.KEYWARD_OAUTH_TOKEN_RATE_PER_IP = "1/m"
    post_token(api_client, "garbage", REMOTE_ADDR="198.51.100.1")

    response = token_by_basic(api_client, service_client, REMOTE_ADDR="198.51.100.2")

    assert response.status_code == 200


def test_rate_defaults_apply_without_the_settings(api_client, service_client, settings):
    del settings.KEYWARD_OAUTH_TOKEN_RATE_PER_CLIENT
    del settings.KEYWARD_OAUTH_TOKEN_RATE_PER_IP

    responses = [token_by_basic(api_client, service_client) for _ in range(61)]

    assert [r.status_code for r in responses[:60]] == [200] * 60
    assert responses[60].status_code == 429


@pytest.fixture(params=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError])
def cache_down(request):
    """The shared cache refuses every call, as a Redis that went away does."""
    cache = caches["default"]
    error = request.param("cache unreachable")
    with (
        mock.patch.object(cache, "add", side_effect=error),
        mock.patch.object(cache, "incr", side_effect=error),
        mock.patch.object(cache, "get", side_effect=error),
    ):
        yield


def test_with_the_cache_down_the_token_endpoint_fails_closed_with_503(
    api_client, service_client, cache_down
):
    response = token_by_basic(api_client, service_client)

    assert response.status_code == 503
    assert response.json() == {
        "error": "temporarily_unavailable",
        "error_description": response.json()["detail"],
        "detail": response.json()["detail"],
        "code": "service_unavailable",
    }
    assert not AuditEvent.objects.filter(event_type="oauth.token_issued").exists()


def test_with_an_unreachable_redis_the_token_endpoint_fails_closed(
    api_client, service_client, settings
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }

    response = token_by_basic(api_client, service_client)

    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
