"""Under the Content-Security-Policy (SPEC §9) the pages still work in a real browser, and the
browser reports no violation: the key's Copy button, the create form's error focus, the admin's
Copy button and the Swagger UI docs."""

import re

import pytest

from tests.factories import DEFAULT_PASSWORD, UserFactory

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def violations(page):
    """The CSP violations the browser reports while the test runs."""
    seen = []
    page.on(
        "console",
        lambda message: (
            seen.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return seen


def log_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))


def test_the_key_pages_work_under_the_policy(page, violations):
    log_in(page, UserFactory().email)
    page.goto("/keys/new")
    page.get_by_role("button", name="Create key").click()  # no name: the form comes back
    expect(page.locator("#error-summary")).to_be_focused()

    page.get_by_label("Name").fill("Billing service")
    page.get_by_label("read:all").check()
    page.get_by_role("button", name="Create key").click()
    raw_key = page.locator("#raw-key").input_value()
    page.get_by_role("button", name="Copy").click()
    page.get_by_text("Copied to the clipboard.").wait_for()

    assert page.evaluate("navigator.clipboard.readText()") == raw_key
    assert violations == []


def test_the_admin_works_under_the_policy(page, violations):
    admin = UserFactory(is_staff=True, is_superuser=True)
    owner = UserFactory()
    page.goto("/admin/login/")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/admin/apikeys/apikey/add/?user={owner.pk}")
    page.locator("#id_name").fill("deploy bot")
    page.get_by_role("button", name="Save", exact=True).click()
    raw_key = page.locator("#raw-key-1").input_value()
    page.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Copied").wait_for()

    assert page.evaluate("navigator.clipboard.readText()") == raw_key
    assert violations == []


def test_the_api_docs_render_under_their_policy(page, violations):
    page.goto("/api/docs/")
    page.locator(".opblock").first.wait_for()

    assert page.locator(".opblock").count() > 10
    assert violations == []
