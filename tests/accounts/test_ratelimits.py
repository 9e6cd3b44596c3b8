from unittest import mock

import pytest
import redis
from django.contrib.auth import get_user_model
from django.core.cache import caches

from core.errors import RateLimitExceeded, ServiceUnavailable
from identity.limits import Limit, rate_limits_hit
from tests.accounts.conftest import login_json, post_form
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"


def attempt(client, email="someone@example.com", password="wrong password", **extra):
    return client.post(LOGIN, {"email": email, "password": password}, format="json", **extra)


def register(client, n: int, **extra):
    password = "analytical engine 1843"
    return client.post(
        REGISTER,
        {"email": f"new{n}@example.com", "password": password, "confirm_password": password},
        format="json",
        **extra,
    )


def test_login_over_the_per_email_rate_gets_429_with_retry_after(api_client, settings):
    settings.KEYWARD_LOGIN_RATE_PER_EMAIL = "3/m"
    for _ in range(3):
        assert attempt(api_client).status_code == 401

    response = attempt(api_client)

    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "rate_limit_error"
    assert body["detail"] == "Rate limit exceeded"
    assert 1 <= body["retry_after"] <= 60
    assert response["Retry-After"] == str(body["retry_after"])


def test_per_email_bucket_ignores_case_and_spaces(api_client, settings):
    settings.KEYWARD_LOGIN_RATE_PER_EMAIL = "2/m"
    attempt(api_client, email="Someone@Example.com")
    attempt(api_client, email=" someone@example.com")

    response = attempt(api_client, email="SOMEONE@EXAMPLE.COM")

    assert response.status_code == 429


def test_per_email_limit_blocks_even_the_right_password(api_client, user, settings):
    settings.KEYWARD_LOGIN_RATE_PER_EMAIL = "2/m"
    attempt(api_client, email=user.email)
    attempt(api_client, email=user.email)

    response = login_json(api_client, user)

    assert response.status_code == 429


def test_another_email_has_its_own_bucket(api_client, settings):
    settings.KEYWARD_LOGIN_RATE_PER_EMAIL = "2/m"
    attempt(api_client, email="a@example.com")
    attempt(api_client, email="a@example.com")

    response = attempt(api_client, email="b@example.com")

    assert response.status_code == 401


def test_login_over_the_per_ip_rate_gets_429(api_client, settings):
    settings.KEYWARD_LOGIN_RATE_PER_IP = "3/m"
    for n in range(3):
        assert attempt(api_client, email=f"user{n}@example.com").status_code == 401

    response = attempt(api_client, email="fresh@example.com")

    assert response.status_code == 429


def test_another_client_ip_has_its_own_bucket(api_client, settings):
    settings.KEYWARD_LOGIN_RATE_PER_IP = "2/m"
    for n in range(2):
        attempt(api_client, email=f"user{n}@example.com", REMOTE_ADDR="198.51.100.1")

    response = attempt(api_client, email="x@example.com", REMOTE_ADDR="198.51.100.2")

    assert response.status_code == 401


def test_malformed_login_attempts_count_per_ip(api_client, settings):
    settings.KEYWARD_LOGIN_RATE_PER_IP = "2/m"
    api_client.post(LOGIN, {}, format="json")
    api_client.post(LOGIN, {}, format="json")

    response = attempt(api_client)

    assert response.status_code == 429


def test_rate_change_applies_without_restart(api_client, settings):
    settings.KEYWARD_LOGIN_RATE_PER_EMAIL = "100/m"
    attempt(api_client)
    settings.KEYWARD_LOGIN_RATE_PER_EMAIL = "1/m"
    attempt(api_client)

    assert attempt(api_client).status_code == 429


@pytest.mark.parametrize(
    "forged",
    ["203.0.113.1", "203.0.113.2, 198.51.100.9", "not-an-ip"],
)
def test_forged_forwarded_for_never_opens_a_fresh_bucket_without_trusted_proxies(
    api_client, settings, forged
):
    settings.KEYWARD_TRUSTED_PROXIES = 0
    settings.KEYWARD_LOGIN_RATE_PER_IP = "2/m"
    attempt(api_client, email="a@example.com")
    attempt(api_client, email="b@example.com")

    response = attempt(api_client, email="c@example.com", HTTP_X_FORWARDED_FOR=forged)

    assert response.status_code == 429


def test_forged_forwarded_for_never_opens_a_fresh_bucket_behind_one_proxy(api_client, settings):
    settings.KEYWARD_TRUSTED_PROXIES = 1
    settings.KEYWARD_LOGIN_RATE_PER_IP = "2/m"
    # The proxy appends the address it saw; whatever the client wrote stands to its left.
    for n, forged in enumerate(["10.0.0.1", "10.0.0.2"]):
        attempt(
            api_client,
            email=f"user{n}@example.com",
            HTTP_X_FORWARDED_FOR=f"{forged}, 203.0.113.50",
        )

    response = attempt(
        api_client, email="fresh@example.com", HTTP_X_FORWARDED_FOR="10.0.0.3, 203.0.113.50"
    )

    assert response.status_code == 429


def test_behind_one_proxy_each_real_client_has_its_own_bucket(api_client, settings):
    settings.KEYWARD_TRUSTED_PROXIES = 1
    settings.KEYWARD_LOGIN_RATE_PER_IP = "1/m"
    attempt(api_client, email="a@example.com", HTTP_X_FORWARDED_FOR="203.0.113.50")

    response = attempt(api_client, email="b@example.com", HTTP_X_FORWARDED_FOR="203.0.113.51")

    assert response.status_code == 401


def test_register_over_the_per_ip_rate_gets_429(api_client, settings):
    settings.KEYWARD_REGISTER_RATE_PER_IP = "2/h"
    assert register(api_client, 1).status_code == 201
    assert register(api_client, 2).status_code == 201

    response = register(api_client, 3)

    assert response.status_code == 429
    assert response.json()["code"] == "rate_limit_error"
    assert 1 <= response.json()["retry_after"] <= 3600


def test_an_ip_out_of_anonymous_requests_may_still_log_in_and_register(api_client, user, settings):
    # SPEC §2: the anonymous bucket is for "any other unauthenticated request".
    settings.KEYWARD_ANON_RATE_PER_IP = "2/m"
    for _ in range(3):
        api_client.get("/api/v1/auth/verify", HTTP_X_API_KEY="kw_not-a-real-key")
    assert api_client.get("/api/v1/auth/verify").status_code == 429

    assert attempt(api_client, email=user.email, password=DEFAULT_PASSWORD).status_code == 200
    assert register(api_client, 1).status_code == 201


def test_form_login_over_the_limit_gets_the_429_page(client, settings):
    settings.KEYWARD_LOGIN_RATE_PER_EMAIL = "1/m"
    data = {"email": "someone@example.com", "password": "wrong password"}
    post_form(client, LOGIN, data)

    response = post_form(client, LOGIN, data)

    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    assert int(response["Retry-After"]) >= 1
    assert b"Too many requests" in response.content


def test_login_page_post_over_the_limit_gets_the_429_page(client, settings):
    settings.KEYWARD_LOGIN_RATE_PER_IP = "1/m"
    data = {"email": "someone@example.com", "password": "wrong password"}
    post_form(client, "/login", data)

    response = post_form(client, "/login", data)

    assert response.status_code == 429
    assert b"Too many requests" in response.content


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


def test_login_with_the_cache_down_fails_closed_with_503(api_client, user, cache_down):
    response = login_json(api_client, user)

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


def test_register_with_the_cache_down_fails_closed_with_503(api_client, cache_down):
    response = register(api_client, 1)

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert not get_user_model().objects.exists()


def test_form_login_with_the_cache_down_gets_a_503_page(client, user, cache_down):
    response = post_form(client, LOGIN, {"email": user.email, "password": DEFAULT_PASSWORD})

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert "_auth_user_id" not in client.session


def test_login_with_an_unreachable_redis_fails_closed_with_503(api_client, user, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }

    response = login_json(api_client, user)

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


def test_a_cache_that_returns_no_count_fails_closed(rf):
    cache = caches["default"]
    limit = Limit(group="t", rate_setting="KEYWARD_LOGIN_RATE_PER_IP")
    with (
        mock.patch.object(cache, "add", return_value=False),
        mock.patch.object(cache, "incr", side_effect=ValueError("key vanished")),
        pytest.raises(ServiceUnavailable),
    ):
        rate_limits_hit(rf.post(LOGIN), limit)


def test_rate_limits_hit_counts_every_bucket_even_past_the_first_over(rf, settings):
    settings.KEYWARD_LOGIN_RATE_PER_IP = "1/m"
    settings.KEYWARD_LOGIN_RATE_PER_EMAIL = "5/m"
    first = Limit(group="first", rate_setting="KEYWARD_LOGIN_RATE_PER_IP")
    second = Limit(group="second", rate_setting="KEYWARD_LOGIN_RATE_PER_EMAIL")
    rate_limits_hit(rf.post("/"), first, second)
    for _ in range(4):
        with pytest.raises(RateLimitExceeded):
            rate_limits_hit(rf.post("/"), first, second)

    with pytest.raises(RateLimitExceeded):
        rate_limits_hit(rf.post("/"), second)  # the sixth count in `second`


def test_register_over_the_per_email_rate_gets_429(api_client, settings):
    settings.KEYWARD_LOGIN_RATE_PER_EMAIL = "2/m"
    body = {"email": "Taken@Example.com", "password": "x", "confirm_password": "y"}
    for _ in range(2):
        assert api_client.post(REGISTER, body, format="json").status_code == 400

    response = api_client.post(
        REGISTER, {**body, "email": " taken@example.com"}, format="json", REMOTE_ADDR="10.0.0.2"
    )

    assert response.status_code == 429
    assert response.json()["code"] == "rate_limit_error"
    assert not get_user_model().objects.filter(email="taken@example.com").exists()


def test_form_register_over_the_per_email_rate_gets_the_429_page(client, settings):
    settings.KEYWARD_LOGIN_RATE_PER_EMAIL = "1/m"
    data = {"email": "taken@example.com", "password": "x", "confirm_password": "y"}
    post_form(client, REGISTER, data)

    response = post_form(client, REGISTER, data, REMOTE_ADDR="10.0.0.2")

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
