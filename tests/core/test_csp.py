"""Pages send a Content-Security-Policy that allows this origin only (SPEC §9), and run no inline
script or style that such a policy would block. JSON answers carry none."""

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.middleware import API_PAGE_POLICY, PAGE_POLICY
from tests.factories import UserFactory, issued_key

pytestmark = pytest.mark.django_db

CSP = "Content-Security-Policy"
# An executable script written into the page (a JSON data block runs nothing, CSP allows it).
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=\"", re.I)


def logged_in(user=None, **fields) -> Client:
    client = Client()
    client.force_login(user or UserFactory(**fields))
    return client


def assert_strict_page(response):
    assert response[CSP] == PAGE_POLICY
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
    assert not INLINE_STYLE.search(html), INLINE_STYLE.search(html)


def test_the_page_policy_is_self_only():
    assert PAGE_POLICY == (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )


@pytest.mark.parametrize("path", ["/login", "/register", "/no-such-page"])
def test_public_pages_send_the_policy_and_nothing_inline(client, path):
    assert_strict_page(client.get(path))


@pytest.mark.parametrize("path", ["/", "/keys", "/keys/new", "/tenants"])
def test_logged_in_pages_send_the_policy_and_nothing_inline(path):
    assert_strict_page(logged_in().get(path))


def test_the_create_form_with_errors_focuses_them_from_a_script_file():
    response = logged_in().post("/keys/new", {"name": ""})

    assert response.status_code == 400
    assert_strict_page(response)
    assert "/static/focus-error-summary.js" in response.content.decode()


def test_the_page_that_shows_a_new_key_sends_the_policy():
    response = logged_in().post(
        "/keys/new",
        {"name": "Billing", "key_type": "development", "scopes": ["read:all"]},
        follow=True,
    )

    assert response.status_code == 200
    assert_strict_page(response)
    assert "/static/reveal.js" in response.content.decode()


def test_a_key_page_with_its_usage_chart_sends_the_policy():
    user = UserFactory()
    api_key, _ = issued_key(user=user, name="ci")

    assert_strict_page(logged_in(user).get(f"/keys/{api_key.pk}"))


def test_the_edit_page_and_the_staff_service_clients_page_send_the_policy():
    user = UserFactory(is_staff=True)
    api_key, _ = issued_key(user=user, name="ci", scopes=["agents:read"])
    client = logged_in(user)

    assert_strict_page(client.get(f"/keys/{api_key.pk}/edit"))
    assert_strict_page(client.get("/service-clients"))


def test_the_landing_sends_the_policy(client):
    assert_strict_page(client.get("/"))


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/apikeys/apikey/", "/admin/apikeys/apikey/add/"]
)
def test_admin_pages_send_the_policy_and_nothing_inline(path):
    assert_strict_page(logged_in(is_staff=True, is_superuser=True).get(path))


def test_the_admin_page_that_shows_a_new_key_sends_the_policy():
    owner = UserFactory()
    form = {
        "user": str(owner.pk),
        "name": "deploy bot",
        "key_type": "development",
        **{"endpoints": "[]", "metadata": "{}", "expires_at_0": "", "expires_at_1": ""},
    }

    response = logged_in(is_staff=True, is_superuser=True).post("/admin/apikeys/apikey/add/", form)

    assert response.status_code == 200
    assert_strict_page(response)
    assert "/static/admin-copy-buttons.js" in response.content.decode()


def test_the_api_docs_run_no_inline_script_and_load_their_start_up_script_as_a_file(client):
    response = client.get("/api/docs/")

    assert response[CSP] == API_PAGE_POLICY
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html)
    [script_url] = re.findall(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', html)
    script = client.get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_the_browsable_api_allows_inline_styles_only(client):
    response = client.get("/api/v1/health", HTTP_ACCEPT="text/html")

    assert response["Content-Type"].startswith("text/html")
    assert response[CSP] == API_PAGE_POLICY
    assert "script-src 'self';" in API_PAGE_POLICY
    assert not INLINE_SCRIPT.search(response.content.decode())


def test_json_answers_carry_no_policy():
    response = APIClient().get("/api/v1/health")

    assert response["Content-Type"] == "application/json"
    assert CSP not in response
