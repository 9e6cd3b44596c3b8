"""The Django admin's add-key flow, in a real browser: the new key is shown once and works."""

import re

import pytest
from django.contrib import admin

from apikeys.models import ApiKey
from tests.browser.test_key_flow import _key_info_status
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, StaffUserFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _admin_for_keys_landed():
    if not admin.site.is_registered(ApiKey):
        pytest.skip("apikeys/admin.py has not registered ApiKey with the admin yet")


def test_admin_adds_a_key_and_shows_it_once(page, live_server, screenshot):
    operator = StaffUserFactory(email="operator@example.com", is_superuser=True)
    owner = UserFactory(email="owner@example.com")
    MembershipFactory(user=owner, role="owner")
    MembershipFactory(user=operator, role="owner")

    page.goto("/admin/login/?next=/admin/apikeys/apikey/add/")
    page.get_by_label(re.compile("Email")).fill(operator.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/apikeys/apikey/add/$"))

    # The owner is an autocomplete (select2) field: open it, search, pick the match.
    page.locator(".field-user .select2-selection").click()
    page.locator(".select2-search__field").fill("owner@")
    page.locator(".select2-results__option", has_text="owner@example.com").click()
    page.locator("#id_name").fill("Admin-made key")
    page.locator("#id_scopes").fill("agents:read")
    page.get_by_role("button", name="Save", exact=True).click()

    page.get_by_text("you will not see it again").wait_for()
    raw_key = page.locator("#raw-key-1").input_value()
    assert raw_key.startswith("kw_")
    screenshot(page, "admin-key-revealed", full_page=True)

    status, info = _key_info_status(live_server.url, raw_key)
    assert status == 200
    assert info["owner"]["email"] == "owner@example.com"

    page.goto("/admin/apikeys/apikey/")
    assert raw_key not in page.content()
    assert info["key_prefix"] in page.content()
