"""The flows of issue 9, walked in a real browser: keys, usage, revocation, tenants."""

import json
import re
import urllib.error
import urllib.request

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "analytical engine 1843"


def _key_info_status(base_url: str, raw_key: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base_url}/api/v1/api-keys/info", headers={"Authorization": f"Bearer {raw_key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _log_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))


def test_register_create_key_use_it_see_usage_then_revoke(page, live_server, screenshot):
    page.goto("/register")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/login$"))
    _log_in(page, "ada@example.com", PASSWORD)

    page.get_by_role("link", name="API keys").first.click()
    page.get_by_role("link", name="New API key").click()
    page.get_by_label("Name").fill("Billing service")
    page.get_by_label("Type").select_option("production")
    page.get_by_label("agents:read").check()
    page.get_by_label("Endpoint grants").fill("GET /api/v1/agents\nGET /api/v1/api-keys/info")
    page.get_by_role("button", name="Create key").click()

    # The reveal page: the key, once, with a copy button and the warning.
    page.get_by_text("You will not see it again").wait_for()
    raw_key = page.locator("#raw-key").input_value()
    assert raw_key.startswith("kw_")
    page.get_by_role("button", name="Copy").click()
    page.get_by_text("Copied to the clipboard.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == raw_key

    status, info = _key_info_status(live_server.url, raw_key)
    assert status == 200
    assert info["name"] == "Billing service"

    page.get_by_role("link", name="I have stored it").click()
    today = timezone.now().date().isoformat()
    bar = page.locator(f'#usage-chart rect.bar[data-date="{today}"]')
    assert int(bar.get_attribute("data-count")) >= 1
    assert float(bar.get_attribute("height")) > 0
    assert raw_key not in page.content()
    screenshot(page.locator("#usage-chart"), "usage-chart")
    screenshot(page, "key-page-desktop", full_page=True)
    page.set_viewport_size(PHONE)
    # On a phone the compact chart is drawn instead, with today's bar on screen, not scrolled off.
    assert not page.locator("#usage-chart").is_visible()
    phone_bar = page.locator(f'#usage-chart-compact rect.bar[data-date="{today}"]').bounding_box()
    assert 0 < phone_bar["x"] + phone_bar["width"] <= PHONE["width"]
    screenshot(page.locator("#usage-chart-compact"), "usage-chart-phone")
    screenshot(page, "key-page-phone", full_page=True)
    page.set_viewport_size(DESKTOP)

    page.get_by_role("link", name="API keys").first.click()
    assert raw_key not in page.content()
    row = page.locator("#key-list tbody tr").first
    assert row.locator('[data-label="Requests"]').inner_text().strip() == "1"
    screenshot(page, "key-list-desktop", full_page=True)
    page.set_viewport_size(PHONE)
    screenshot(page, "key-list-phone", full_page=True)
    page.set_viewport_size(DESKTOP)

    row.get_by_role("link", name="Billing service").click()
    page.get_by_role("link", name="Revoke…").click()
    page.get_by_role("button", name="Revoke key").click()
    page.get_by_text("is revoked").wait_for()
    assert page.locator("h1 .status").inner_text() == "Revoked"

    status, body = _key_info_status(live_server.url, raw_key)
    assert status == 401
    assert body["code"] == "api_key_disabled"


def test_create_form_shows_errors_beside_fields_on_a_phone(page, screenshot):
    user = UserFactory()
    MembershipFactory(user=user, role="owner")
    page.set_viewport_size(PHONE)
    _log_in(page, user.email, DEFAULT_PASSWORD)

    page.goto("/keys/new")
    page.get_by_label("Type").select_option("restricted")
    page.get_by_label("Endpoint grants").fill("GET api/v1/agents")
    page.get_by_role("button", name="Create key").click()

    assert page.locator("#id_name_error").inner_text() == "This field is required."
    assert "Line 1" in page.locator("#id_endpoints_error").inner_text()
    assert page.locator("#id_name").get_attribute("aria-invalid") == "true"
    # The summary at the top takes the focus (a deferred script: wait for it) and links to
    # each field.
    expect(page.locator("#error-summary")).to_be_focused()
    page.locator("#error-summary").get_by_role("link", name="Endpoint grants").click()
    assert page.evaluate("document.activeElement.id") == "id_endpoints"
    screenshot(page, "create-form-errors-phone", full_page=True)


def test_create_tenant_and_switch_between_tenants(page, screenshot):
    user = UserFactory(email="grace@example.com")
    MembershipFactory(user=user, role="owner", tenant__name="Grace's workspace")
    _log_in(page, user.email, DEFAULT_PASSWORD)

    page.get_by_role("link", name="Tenants", exact=True).click()
    page.get_by_label("Name").fill("Acme Robotics")
    page.get_by_role("button", name="Create tenant").click()
    page.get_by_text("Tenant “Acme Robotics” created").wait_for()
    # Creating a tenant does not switch to it (SPEC §13): only Switch does.
    assert "Grace's workspace" in page.locator(".nav-tenant").inner_text()
    page.get_by_text("You are still working in “Grace's workspace”").wait_for()

    page.get_by_role("button", name="Switch to Acme Robotics").click()
    page.get_by_text("You are now working in “Acme Robotics”").wait_for()
    assert "Acme Robotics" in page.locator(".nav-tenant").inner_text()
    page.get_by_role("button", name="Switch to Grace's workspace").click()
    page.get_by_text("You are now working in “Grace's workspace”").wait_for()
    assert "Grace's workspace" in page.locator(".nav-tenant").inner_text()
    assert page.locator("#current-tenant").inner_text() == "Grace's workspace"
    screenshot(page, "tenants-desktop", full_page=True)

    page.goto("/keys/new")
    selected = page.get_by_label("Tenant", exact=True).evaluate(
        "select => select.options[select.selectedIndex].text"
    )
    assert selected == "Grace's workspace"

    page.goto("/tenants")
    page.get_by_role("link", name="Acme Robotics").click()
    UserFactory(email="hopper@example.com")
    page.get_by_role("textbox", name="Email").fill("hopper@example.com")
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_text("hopper@example.com is invited to join as a member").wait_for()
    assert "hopper@example.com" in page.locator("#invitation-list").inner_text()
    page.set_viewport_size(PHONE)
    screenshot(page, "members-phone", full_page=True)

    page.context.clear_cookies()
    _log_in(page, "hopper@example.com", DEFAULT_PASSWORD)
    page.get_by_role("button", name="Accept the invitation to Acme Robotics").click()
    page.get_by_text("You joined “Acme Robotics” as a member.").wait_for()
    screenshot(page, "dashboard-joined-phone", full_page=True)
