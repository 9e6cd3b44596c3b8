"""SPEC §9: cookie-less is not cross-site.

A post without a session cookie needs no CSRF token (SPEC §2) only when the browser does not say
it comes from another site; otherwise a page anywhere could log its visitor into the attacker's
account (login CSRF). curl sends none of these headers and is not affected.
"""

import pytest
from django.conf import settings as django_settings

from accounts.authentication import ACCESS_COOKIE
from audit.models import AuditEvent
from tests.accounts.conftest import post_form
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"

CROSS_SITE = {
    "foreign-origin": {"HTTP_ORIGIN": "https://evil.example"},
    "foreign-referer": {"HTTP_REFERER": "https://evil.example/free-prizes"},
    "sec-fetch-site": {"HTTP_SEC_FETCH_SITE": "cross-site"},
    "both": {"HTTP_ORIGIN": "https://evil.example", "HTTP_SEC_FETCH_SITE": "cross-site"},
    "null-origin": {"HTTP_ORIGIN": "null"},  # a sandboxed frame or a data: page
    "lookalike-origin": {"HTTP_ORIGIN": "http://testserver.evil.example"},
    "unreadable-referer": {"HTTP_REFERER": "not a url"},
    "foreign-origin-beats-our-referer": {
        "HTTP_ORIGIN": "https://evil.example",
        "HTTP_REFERER": "http://testserver/login",
    },
}

SAME_SITE = {
    "curl": {},
    "same-origin": {"HTTP_ORIGIN": "http://testserver", "HTTP_SEC_FETCH_SITE": "same-origin"},
    "our-referer": {"HTTP_REFERER": "http://testserver/login?next=/"},
    "same-site": {"HTTP_SEC_FETCH_SITE": "same-site"},
    "typed-in": {"HTTP_SEC_FETCH_SITE": "none"},
    "empty-origin": {"HTTP_ORIGIN": ""},
}


def login_form(client, user, **headers):
    data = {"email": user.email, "password": DEFAULT_PASSWORD}
    return post_form(client, LOGIN, data, **headers)


@pytest.mark.parametrize("headers", CROSS_SITE.values(), ids=CROSS_SITE.keys())
def test_cross_site_cookie_less_form_login_gets_the_403_page_and_no_session(
    csrf_client, user, headers
):
    response = login_form(csrf_client, user, **headers)

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert b"sent from another site" in response.content
    assert django_settings.SESSION_COOKIE_NAME not in response.cookies
    assert ACCESS_COOKIE not in response.cookies
    assert not AuditEvent.objects.filter(event_type__startswith="login.").exists()


@pytest.mark.parametrize("headers", SAME_SITE.values(), ids=SAME_SITE.keys())
def test_same_site_or_header_less_cookie_less_form_login_still_works(csrf_client, user, headers):
    response = login_form(csrf_client, user, **headers)

    assert response.status_code == 303
    assert int(csrf_client.session["_auth_user_id"]) == user.pk


def test_cross_site_json_login_gets_403_csrf_failed(csrf_client, user):
    response = csrf_client.post(
        LOGIN,
        {"email": user.email, "password": DEFAULT_PASSWORD},
        format="json",
        HTTP_ORIGIN="https://evil.example",
        HTTP_SEC_FETCH_SITE="cross-site",
    )

    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


def test_cross_site_cookie_less_form_register_gets_403_and_creates_nobody(csrf_client):
    password = "analytical engine 1843"
    response = post_form(
        csrf_client,
        REGISTER,
        {"email": "new@example.com", "password": password, "confirm_password": password},
        HTTP_ORIGIN="https://evil.example",
    )

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(event_type="user.registered").exists()


def test_an_origin_of_csrf_trusted_origins_may_post(csrf_client, user, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com"]

    response = login_form(
        csrf_client, user, HTTP_ORIGIN="https://app.example.com", HTTP_SEC_FETCH_SITE="same-site"
    )

    assert response.status_code == 303


def test_a_subdomain_of_a_wildcard_trusted_origin_may_post(csrf_client, user, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.com"]

    assert login_form(csrf_client, user, HTTP_ORIGIN="https://sso.example.com").status_code == 303
    assert login_form(csrf_client, user, HTTP_ORIGIN="http://sso.example.com").status_code == 403


def test_an_origin_naming_another_of_our_allowed_hosts_may_post(csrf_client, user, settings):
    settings.ALLOWED_HOSTS = ["testserver", "keyward.example.com"]

    response = login_form(csrf_client, user, HTTP_REFERER="https://keyward.example.com/login")

    assert response.status_code == 303


def test_a_wildcard_allowed_hosts_does_not_make_every_origin_ours(csrf_client, user, settings):
    settings.ALLOWED_HOSTS = ["*"]

    response = login_form(csrf_client, user, HTTP_ORIGIN="https://evil.example")

    assert response.status_code == 403


def test_json_from_a_cors_allowed_origin_may_still_log_in(csrf_client, user, settings):
    # A browser posts JSON cross-origin only after a CORS preflight that Keyward approved.
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.org"]

    response = csrf_client.post(
        LOGIN,
        {"email": user.email, "password": DEFAULT_PASSWORD},
        format="json",
        HTTP_ORIGIN="https://app.example.org",
        HTTP_SEC_FETCH_SITE="cross-site",
    )

    assert response.status_code == 200


def test_a_form_post_from_a_cors_allowed_origin_is_still_cross_site(csrf_client, user, settings):
    # CORS does not gate a form post: any page can send one, so the allowance does not apply.
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.org"]

    response = login_form(csrf_client, user, HTTP_ORIGIN="https://app.example.org")

    assert response.status_code == 403
