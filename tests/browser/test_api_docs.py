"""The API docs in a real browser (issue 26): Swagger's Authorize dialog and DRF's help text show
``<key>`` and ``<resource>``, and the browsable API fits a phone's width."""

import pytest

from tests.browser.conftest import PHONE
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_authorize_dialog_shows_the_key_placeholder(page, screenshot):
    page.goto("/api/docs/")
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".dialog-ux .modal-ux")
    dialog.wait_for()

    text = dialog.inner_text()
    screenshot(page, "swagger-authorize")

    assert "Authorization: Bearer <key>" in text
    assert "X-API-Key: <key>" in text


def test_swagger_example_body_has_a_real_path_and_metadata_object(page):
    page.goto("/api/docs/")
    operation = page.locator("#operations-api_keys-api_v1_user_api_keys_create")
    operation.locator(".opblock-summary").click()
    example = operation.locator(".body-param__example, .microlight").first
    example.wait_for()

    text = example.inner_text()

    assert '"/api/v1/orders"' in text
    assert '"metadata": {' in text


def test_browsable_api_help_text_and_phone_width(page, live_server, screenshot):
    owner = MembershipFactory(role="owner").user
    page.context.add_cookies(_session_cookie(owner, live_server.url))
    page.set_viewport_size(PHONE)

    page.goto("/api/v1/user/api-keys")

    assert page.evaluate("window.innerWidth") == PHONE["width"]
    assert "<resource>:read / <resource>:write" in page.locator("body").inner_text()
    screenshot(page, "browsable-api-phone", full_page=True)


def test_api_root_is_browsable(page):
    page.goto("/api/v1/")

    assert page.locator("h1").inner_text() == "Keyward API"
    assert page.get_by_text('"agents"').count() >= 1


def _session_cookie(user, url):
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return [
        {
            "name": settings.SESSION_COOKIE_NAME,
            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": url,
        }
    ]
