"""SPEC §2: a post that carries a session cookie must carry a valid CSRF token; one with no
cookie needs none."""

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.authentication import ACCESS_COOKIE
from tests.accounts.conftest import post_form
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


def logged_in_browser(user) -> APIClient:
    """A browser after a form login: session cookie, access_token cookie and CSRF cookie."""
    client = APIClient(enforce_csrf_checks=True)
    client.get("/login")  # sets the CSRF cookie, as a browser's first visit does
    response = post_form(
        client,
        "/login",
        {
            "email": user.email,
            "password": DEFAULT_PASSWORD,
            "csrfmiddlewaretoken": csrf_token_of(client),
        },
    )
    assert response.status_code == 303
    return client


def csrf_token_of(client) -> str:
    return client.cookies[settings.CSRF_COOKIE_NAME].value


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/auth/register"])
def test_form_post_without_cookies_needs_no_csrf_token(csrf_client, path):
    response = post_form(csrf_client, path, {"email": "a@example.com", "password": "x"})

    assert response.status_code in (400, 401)  # judged on its content, not refused as CSRF


def test_cookie_less_json_login_needs_no_csrf_token(csrf_client, user):
    response = csrf_client.post(
        "/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200


def test_cookie_less_form_login_succeeds_without_csrf_token(csrf_client, user):
    response = post_form(
        csrf_client, "/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == 303


def test_json_post_with_a_session_cookie_and_no_csrf_token_gets_403(user):
    client = logged_in_browser(user)

    response = client.post("/api/v1/auth/logout", {}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert "_auth_user_id" in client.session


def test_form_post_with_a_session_cookie_and_no_csrf_token_gets_the_403_page(user):
    client = logged_in_browser(user)

    response = post_form(client, "/api/v1/auth/logout", {"submit": "1"})

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert "_auth_user_id" in client.session


def test_form_post_with_a_session_cookie_and_a_valid_csrf_token_passes(user):
    client = logged_in_browser(user)

    response = post_form(
        client, "/api/v1/auth/logout", {"csrfmiddlewaretoken": csrf_token_of(client)}
    )

    assert response.status_code == 303
    assert "_auth_user_id" not in client.session


def test_json_post_with_a_session_cookie_and_the_csrf_header_passes(user):
    client = logged_in_browser(user)

    response = client.post(
        "/api/v1/auth/logout", {}, format="json", HTTP_X_CSRFTOKEN=csrf_token_of(client)
    )

    assert response.status_code == 204


def test_login_post_with_a_session_cookie_and_no_csrf_token_gets_403(user):
    client = logged_in_browser(user)

    response = client.post(
        "/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


def test_register_post_with_a_forged_session_cookie_and_no_token_gets_403(csrf_client):
    csrf_client.cookies[settings.SESSION_COOKIE_NAME] = "anything"

    response = csrf_client.post("/api/v1/auth/register", {}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


def test_post_with_only_the_access_token_cookie_needs_a_csrf_token(csrf_client, tokens):
    csrf_client.cookies[ACCESS_COOKIE] = tokens["access_token"]

    response = csrf_client.post("/api/v1/auth/logout", {}, format="json")

    assert response.status_code == 403


def test_refresh_with_a_session_cookie_and_no_csrf_token_gets_403(user, tokens):
    client = logged_in_browser(user)

    response = client.post(
        "/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json"
    )

    assert response.status_code == 403


def test_login_page_post_always_needs_a_csrf_token(csrf_client, user):
    response = post_form(csrf_client, "/login", {"email": user.email, "password": DEFAULT_PASSWORD})

    assert response.status_code == 403


def test_login_page_form_carries_a_csrf_token(client):
    response = client.get("/login")

    assert b'name="csrfmiddlewaretoken"' in response.content
