"""The API-key admin at 1280 by 800 (issue 26): status, expiry, last use and requests are on screen
without scrolling sideways, and prefixes read exactly as they are (never "Kw_…")."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from tests.factories import (
    DEFAULT_PASSWORD,
    MembershipFactory,
    StaffUserFactory,
    UserFactory,
    issued_key,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1280, "height": 800}
COLUMNS = [
    "prefix",
    "name",
    "owner_email",
    "access",
    "status",
    "expires",
    "last_used",
    "request_count",
]


def log_in(page, operator):
    page.goto("/admin/login/?next=/admin/apikeys/apikey/")
    page.get_by_label(re.compile("Email")).fill(operator.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/apikeys/apikey/$"))


@pytest.fixture
def keys():
    """Keys as an operator meets them: long names and emails, every status, some usage."""
    owner = UserFactory(email="integration-owner.with-a-long-name@example-company.com")
    tenant = MembershipFactory(user=owner, tenant__name="Acme Widgets International").tenant
    now = timezone.now()
    made = [
        issued_key(
            owner,
            name="Billing sync for the EU warehouse",
            tenant=tenant,
            scopes=["agents:read", "agents:write"],
        ),
        issued_key(owner, name="Full-access deploy bot", expires_at=now + timedelta(days=29)),
        issued_key(owner, name="Expired nightly export", scopes=["read:all"]),
        issued_key(owner, name="Revoked", is_active=False, scopes=["read:all"]),
    ]
    ApiKey.objects.filter(name="Expired nightly export").update(expires_at=now - timedelta(days=3))
    ApiKey.objects.filter(name="Revoked").update(
        last_used_at=now - timedelta(minutes=3), request_count=123456
    )
    return [api_key for api_key, _ in made]


def test_key_list_shows_status_expiry_use_and_requests_at_1280(
    browser, live_server, keys, screenshot
):
    operator = StaffUserFactory(email="operator@example.com", is_superuser=True)
    context = browser.new_context(base_url=live_server.url, viewport=LAPTOP)
    page = context.new_page()
    try:
        log_in(page, operator)
        screenshot(page, "admin-key-list-1280", full_page=True)

        assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
        results = page.locator("#changelist .results")
        assert results.evaluate("e => e.scrollWidth <= e.clientWidth")
        for column in COLUMNS:
            box = page.locator(f"th.column-{column}").bounding_box()
            assert box is not None and box["x"] >= 0, column
            assert box["x"] + box["width"] <= LAPTOP["width"], column

        for api_key in keys:
            row = page.locator("#result_list tr", has_text=api_key.name)
            assert (
                row.locator("td.field-prefix, th.field-prefix").inner_text() == api_key.key_prefix
            )
        expired = page.locator("#result_list tr", has_text="Expired nightly export")
        assert expired.locator("td.field-status").inner_text() == "Expired"
        assert (
            "full access"
            in page.locator("#result_list tr", has_text="Full-access deploy bot").inner_text()
        )
    finally:
        context.close()


def test_change_page_buttons_and_prefix_read_as_typed(browser, live_server, keys, screenshot):
    operator = StaffUserFactory(email="operator@example.com", is_superuser=True)
    context = browser.new_context(base_url=live_server.url, viewport=LAPTOP)
    page = context.new_page()
    api_key = keys[0]
    try:
        log_in(page, operator)
        page.goto(f"/admin/apikeys/apikey/{api_key.pk}/change/")
        assert page.locator(".field-key_prefix .readonly").inner_text() == api_key.key_prefix
        screenshot(page, "admin-key-change-1280", full_page=True)

        page.get_by_role("link", name="Rotate").click()
        assert page.locator("#id_grace_period_seconds").input_value() == "3600"
        assert api_key.key_prefix in page.locator("#content-main li").inner_text()
        page.go_back()

        page.get_by_role("link", name="Revoke").click()
        page.get_by_role("button", name="Revoke this key").click()
        page.wait_for_url(re.compile(rf"/admin/apikeys/apikey/{api_key.pk}/change/$"))
        assert page.get_by_role("link", name="Activate").is_visible()
    finally:
        context.close()
