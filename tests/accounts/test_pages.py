import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders

from tests.accounts.conftest import post_form
from tests.factories import DEFAULT_PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_auth_pages_render_labelled_fields_with_csrf(client, path):
    response = client.get(path)

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in content
    assert '<label for="id_email">' in content
    assert '<label for="id_password">' in content
    assert 'name="viewport"' in content
    assert "/static/keyward.css" in content
    # Nothing is loaded from another host (a random CSRF token may well contain "cdn").
    assert re.findall(r'(?:src|href)="(?:https?:)?//', content) == []


def test_register_page_posts_to_itself_and_redirects_to_login(client):
    password = "analytical engine 1843"
    response = post_form(
        client,
        "/register",
        {"email": "ada@example.com", "password": password, "confirm_password": password},
    )

    assert response.status_code == 303
    assert response["Location"] == "/login"
    assert get_user_model().objects.filter(email="ada@example.com").exists()


def test_login_page_shows_the_message_left_by_registration(client):
    password = "analytical engine 1843"
    post_form(
        client,
        "/register",
        {"email": "ada@example.com", "password": password, "confirm_password": password},
    )

    response = client.get("/login")

    assert b"Your account is ready" in response.content


def test_register_page_with_errors_shows_them_next_to_the_fields(client):
    response = post_form(client, "/register", {"email": "nope", "password": "x"})

    assert response.status_code == 400
    assert b"Enter a valid email address." in response.content
    assert b'aria-invalid="true"' in response.content


def test_login_page_logs_in_and_redirects_to_the_dashboard(client, user):
    response = post_form(client, "/login", {"email": user.email, "password": DEFAULT_PASSWORD})

    assert response.status_code == 303
    assert response["Location"] == "/"
    assert int(client.session["_auth_user_id"]) == user.pk


def test_login_page_keeps_next_through_a_failed_attempt(client, user):
    response = post_form(
        client,
        "/login",
        {"email": user.email, "password": "wrong", "next": "/settings/api-keys"},
    )

    assert response.status_code == 401
    assert b'name="next" value="/settings/api-keys"' in response.content


def test_login_page_carries_next_from_the_query_string(client):
    response = client.get("/login?next=/settings/api-keys")

    assert b'name="next" value="/settings/api-keys"' in response.content


def test_logged_in_user_visiting_login_goes_to_the_dashboard(client, user):
    client.force_login(user)

    response = client.get("/login")

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_root_tells_anonymous_visitors_what_this_is_and_links_login_and_register(client):
    response = client.get("/")

    assert response.status_code == 200
    content = response.content.decode()
    assert "API keys, tokens and tenants" in content
    assert 'href="/login"' in content
    assert 'href="/register"' in content
    assert "Hello" not in content


def test_dashboard_greets_the_user_and_lists_their_tenants(client, user):
    membership = MembershipFactory(user=user, tenant__name="Analytical Engines")
    client.force_login(user)

    response = client.get("/")

    assert response.status_code == 200
    content = response.content.decode()
    assert f"Hello, {user.first_name}" in content
    assert "Analytical Engines" in content
    assert str(membership.tenant_id) in content
    assert 'href="/settings/api-keys"' in content
    assert 'href="/api/docs/"' in content


def test_header_shows_the_user_and_a_logout_form_when_logged_in(client, user):
    client.force_login(user)

    content = client.get("/").content.decode()

    assert user.email in content
    assert 'action="/api/v1/auth/logout"' in content
    assert 'method="post"' in content
    assert 'href="/register"' not in content


def test_header_offers_login_and_register_when_logged_out(client):
    content = client.get("/login").content.decode()

    assert 'href="/login"' in content
    assert 'href="/register"' in content
    assert "/api/v1/auth/logout" not in content


def test_whole_browser_flow_register_login_dashboard_logout(client):
    password = "analytical engine 1843"
    post_form(
        client,
        "/register",
        {"email": "ada@example.com", "password": password, "confirm_password": password},
    )
    post_form(client, "/login", {"email": "ada@example.com", "password": password})

    dashboard = client.get("/")
    logout = post_form(client, "/api/v1/auth/logout", {"submit": "1"})

    assert b"workspace" in dashboard.content
    assert logout.status_code == 303
    assert b"Hello" not in client.get("/").content


def test_stylesheet_is_served_locally():
    path = finders.find("keyward.css")

    assert path is not None
    with open(path) as stylesheet:
        css = stylesheet.read()
    assert "@media" in css
    assert "http" not in css


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/refresh"]
)
def test_browsable_api_shows_the_public_endpoints_to_a_browser(client, path):
    response = client.get(path, HTTP_ACCEPT="text/html")

    assert response.status_code == 405  # POST only, but rendered as a page to post from
    assert response["Content-Type"].startswith("text/html")
