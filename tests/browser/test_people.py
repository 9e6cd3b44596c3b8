"""Issue 26 (SPEC §13) walked in Chromium, at 1280 x 800 and 390 x 844: the least-privilege key
form, the key revealed once, editable keys, times people read, the tenant picker as a context,
whole prefixes, focus rings and the current page, every form error at once, the landing and the
dashboard, and the service clients page. Screenshots go to test-artifacts/ (git-ignored)."""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from apikeys.models import ApiKey
from oauth.models import ServiceClient
from tenants.models import Membership
from tests.browser.a11y import assert_focus_rings_visible, axe_violations
from tests.browser.conftest import DESKTOP, PHONE
from tests.factories import (
    DEFAULT_PASSWORD,
    AgentFactory,
    ApiKeyFactory,
    MembershipFactory,
    StaffUserFactory,
    UserFactory,
)

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
RAW_KEY = re.compile(r"kw_[A-Za-z0-9_\-]{30,}")


def _person(name="Ada", **kwargs):
    user = UserFactory(first_name=name, **kwargs)
    MembershipFactory(user=user, role=Membership.Role.OWNER, tenant__name=f"{name}'s workspace")
    return user


def _log_in(page, user) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))


def _name(viewport) -> str:
    return "phone" if viewport == PHONE else "desktop"


@VIEWPORTS
def test_the_create_form_starts_least_privileged(page, screenshot, viewport):
    page.set_viewport_size(viewport)
    _log_in(page, _person())
    page.goto("/keys/new")

    assert page.locator('input[name="scopes"]:checked').count() == 0
    assert not page.get_by_label("Full access").is_checked()
    filled = date.fromisoformat(page.get_by_label("Expires on").input_value())
    assert abs((filled - (date.today() + timedelta(days=90))).days) <= 1
    screenshot(page, f"create-form-{_name(viewport)}", full_page=True)

    page.get_by_label("Name").fill("Billing service")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#error-summary")).to_be_focused()
    assert "tick at least one scope" in page.locator("#id_scopes_error").inner_text()
    assert ApiKey.objects.count() == 0

    full_access = page.get_by_label("Full access")
    full_access.check()
    assert "everything you can" in page.locator(".field-warning").inner_text()
    page.get_by_role("button", name="Create key").click()
    page.wait_for_url(re.compile(r"/keys/[0-9a-f-]+/reveal$"))
    assert "Full access" in page.locator("#key-summary").inner_text()
    assert re.search(r"in (89|90) days", page.locator("#key-expiry").inner_text())
    screenshot(page, f"reveal-full-access-{_name(viewport)}", full_page=True)


def test_the_reveal_shows_the_key_once_and_a_reload_shows_it_gone(page, screenshot):
    _log_in(page, _person())
    page.goto("/keys/new")
    page.get_by_label("Name").fill("ci")
    page.get_by_label("agents:read").check()
    page.get_by_role("button", name="Create key").click()
    page.wait_for_url(re.compile(r"/keys/[0-9a-f-]+/reveal$"))
    raw_key = page.locator("#raw-key").input_value()
    assert raw_key.startswith(ApiKey.objects.get().key_prefix)
    assert "agents:read" in page.locator("#key-summary").inner_text()

    page.reload()

    page.get_by_text("This key was shown once and is gone").wait_for()
    assert not RAW_KEY.search(page.content())
    assert ApiKey.objects.count() == 1  # the reload made nothing new
    screenshot(page, "reveal-gone", full_page=True)
    page.go_back()  # back to the form: nothing is re-posted
    assert ApiKey.objects.count() == 1


def test_a_key_is_edited_on_its_page_and_rotation_chooses_the_new_expiry(page, screenshot):
    user = _person()
    api_key = ApiKeyFactory(user=user, name="Billing", scopes=["agents:read", "agents:write"])
    _log_in(page, user)
    page.goto(f"/keys/{api_key.pk}")
    page.get_by_role("link", name="Edit…").click()

    page.get_by_label("Name").fill("Billing v2")
    page.get_by_label("agents:write").uncheck()
    page.get_by_label("Allowed IPs").fill("203.0.113.0/24")
    day = date.today() + timedelta(days=30)
    page.get_by_label("Expires on").fill(day.isoformat())
    page.get_by_label("Rate limit per minute").fill("20")
    page.get_by_label("Metadata (JSON object)").fill('{"team": "billing"}')
    page.set_viewport_size(PHONE)
    screenshot(page, "edit-key-phone", full_page=True)
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="Save changes").click()

    page.get_by_text("is saved").wait_for()
    api_key.refresh_from_db()
    assert (api_key.name, api_key.scopes) == ("Billing v2", ["agents:read"])
    assert api_key.allowed_ips == ["203.0.113.0/24"]
    assert api_key.rate_limit == {"per_minute": 20}
    assert f"end of {day.isoformat()}" in page.locator("#key-expiry").inner_text()

    page.get_by_role("link", name="Rotate…").click()
    new_day = date.today() + timedelta(days=200)
    page.get_by_label("Expires on").fill(new_day.isoformat())
    page.get_by_role("button", name="Rotate key").click()
    page.wait_for_url(re.compile(r"/keys/[0-9a-f-]+/reveal$"))
    assert f"end of {new_day.isoformat()}" in page.locator("#key-expiry").inner_text()
    assert "keeps working until" in page.locator("#old-key-note").inner_text()


def test_times_read_relative_with_exact_utc_on_hover_and_days_in_the_users_zone(
    browser, live_server, screenshot
):
    context = browser.new_context(
        base_url=live_server.url, viewport=DESKTOP, timezone_id="Europe/Paris"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        _log_in(page, _person())
        page.goto("/keys/new")
        day = date.today() + timedelta(days=20)
        page.get_by_label("Name").fill("ci")
        page.get_by_label("agents:read").check()
        page.get_by_label("Expires on").fill(day.isoformat())
        page.get_by_role("button", name="Create key").click()
        page.wait_for_url(re.compile(r"/reveal$"))

        page.goto(f"/keys/{ApiKey.objects.get().pk}")
        paris_end = datetime.combine(day + timedelta(days=1), time(), ZoneInfo("Europe/Paris"))
        expected_utc = paris_end.astimezone(UTC)
        assert ApiKey.objects.get().expires_at == expected_utc
        expiry = page.locator("#key-expiry")
        assert f"end of {day.isoformat()}, Europe/Paris" in expiry.inner_text()
        assert re.search(r"in (19|20) days", expiry.inner_text())
        stamp = expiry.locator("time")
        assert stamp.get_attribute("title") == f"{expected_utc:%Y-%m-%d %H:%M:%S} UTC"
        stamp.hover()
        assert "just now" in page.locator("dd time").first.inner_text()  # created
        screenshot(page, "key-page-times", full_page=True)
    finally:
        context.close()


@VIEWPORTS
def test_the_tenant_picker_is_the_context_of_lists_and_session_api_calls(
    page, screenshot, viewport
):
    page.set_viewport_size(viewport)
    user = _person("Grace")
    personal = user.memberships.get().tenant
    acme = MembershipFactory(user=user, role=Membership.Role.OWNER, tenant__name="Acme").tenant
    ApiKeyFactory(user=user, name="Acme key", tenant=acme, scopes=["agents:read"])
    ApiKeyFactory(user=user, name="Personal key", tenant=personal, scopes=["agents:read"])
    AgentFactory(tenant=acme, name="Acme agent")
    AgentFactory(tenant=personal, name="Personal agent")
    _log_in(page, user)

    page.goto("/tenants")
    page.get_by_role("button", name="Switch to Acme").click()
    page.get_by_text("You are now working in “Acme”").wait_for()
    page.goto("/keys")
    keys = page.locator("#key-list").inner_text()
    assert "Acme key" in keys
    assert "Personal key" not in keys
    agents = page.evaluate(
        "() => fetch('/api/v1/agents', {headers: {Accept: 'application/json'}}).then(r => r.json())"
    )
    assert [agent["name"] for agent in agents["results"]] == ["Acme agent"]
    screenshot(page, f"keys-in-tenant-{_name(viewport)}", full_page=True)

    page.goto("/tenants")
    page.get_by_label("Name").fill("Newco")
    page.get_by_role("button", name="Create tenant").click()
    page.get_by_text("Tenant “Newco” created").wait_for()
    assert "Acme" in page.locator(".nav-tenant").inner_text()


@VIEWPORTS
def test_prefixes_are_shown_and_copied_whole(page, viewport):
    page.set_viewport_size(viewport)
    user = _person()
    api_key = ApiKeyFactory(user=user, name="Billing", scopes=["agents:read"])
    _log_in(page, user)
    page.goto("/keys")

    prefix = page.locator("#key-list code.prefix").first
    assert prefix.inner_text() == api_key.key_prefix
    assert prefix.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    page.get_by_role("button", name=f"Copy prefix {api_key.key_prefix}").click()
    page.get_by_role("button", name=f"Copy prefix {api_key.key_prefix}").filter(
        has_text="Copied"
    ).wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == api_key.key_prefix


@VIEWPORTS
def test_focus_rings_meet_3_to_1_and_the_nav_marks_the_current_page(page, viewport):
    page.set_viewport_size(viewport)
    user = _person()
    api_key = ApiKeyFactory(user=user, name="Billing", scopes=["agents:read"])
    _log_in(page, user)

    for path, current in [("/keys/new", "API keys"), ("/", "Dashboard"), ("/tenants", "Tenants")]:
        page.goto(path)
        marked = page.locator('nav a[aria-current="page"]')
        assert marked.count() == 1
        assert marked.inner_text() == current
        rings = assert_focus_rings_visible(page, presses=35)
        if path == "/keys/new":
            assert any(ring["type"] == "checkbox" for ring in rings)
    page.goto(f"/keys/{api_key.pk}")
    assert_focus_rings_visible(page, presses=15)


@VIEWPORTS
def test_axe_finds_no_violations_on_the_pages(page, live_server, viewport):
    page.set_viewport_size(viewport)
    page.goto("/")
    assert axe_violations(page) == []
    page.goto("/register")
    page.get_by_role("button", name="Create account").click()
    assert axe_violations(page) == []
    staff = StaffUserFactory()
    MembershipFactory(user=staff, role=Membership.Role.OWNER)
    api_key = ApiKeyFactory(user=staff, name="Billing", scopes=["agents:read"])
    _log_in(page, staff)
    paths = ["/", "/keys", "/keys/new", f"/keys/{api_key.pk}", f"/keys/{api_key.pk}/edit"]
    paths += [f"/keys/{api_key.pk}/rotate", "/tenants", "/service-clients"]
    for path in paths:
        page.goto(path)
        assert (path, axe_violations(page)) == (path, [])
    page.goto("/keys/new")
    page.get_by_role("button", name="Create key").click()
    assert axe_violations(page) == []


@VIEWPORTS
def test_registration_shows_every_error_at_once_and_focuses_the_summary(page, screenshot, viewport):
    page.set_viewport_size(viewport)
    page.goto("/register")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password", exact=True).fill("123")
    page.get_by_label("Confirm password").fill("124")
    page.get_by_role("button", name="Create account").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    links = summary.get_by_role("link").all_inner_texts()
    assert {"Email", "Password", "Confirm password"} <= set(links)
    screenshot(page, f"register-errors-{_name(viewport)}", full_page=True)
    summary.get_by_role("link", name="Password").first.click()
    assert page.evaluate("document.activeElement.id") == "id_password"


@VIEWPORTS
def test_the_landing_says_what_this_is_and_the_dashboard_has_figures(page, screenshot, viewport):
    page.set_viewport_size(viewport)
    page.goto("/")
    assert "API keys, tokens and tenants" in page.locator("h1").inner_text()
    assert page.get_by_role("link", name="Create an account").is_visible()
    screenshot(page, f"landing-{_name(viewport)}", full_page=True)

    user = _person()
    ApiKeyFactory(user=user, name="Billing", scopes=["agents:read"])
    inviter = _person("Grace")
    acme = inviter.memberships.get().tenant
    page.goto("/")
    _log_in(page, user)
    from tenants.services import invitation_create

    invitation_create(
        tenant=acme, actor=inviter, actor_role="owner", email=user.email, role="member"
    )
    page.reload()

    figures = page.locator("#figures")
    assert figures.locator('[data-figure="keys"]').inner_text() == "1"
    assert figures.locator('[data-figure="active"]').inner_text() == "1"
    assert figures.locator('[data-figure="requests-today"]').inner_text() == "0"
    assert page.locator("#invitations").is_visible()
    assert page.get_by_role("button", name="Sign out everywhere").is_visible()
    header = page.locator(".site-header").bounding_box()
    screenshot(page, f"dashboard-{_name(viewport)}", full_page=True)
    widest = page.evaluate(
        "() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > window.innerWidth + 1).map(e => e.tagName + '.' + e.className).slice(0, 5)"
    )
    assert widest == []
    if viewport == PHONE:
        assert header["height"] <= 100, header  # brand and nav in at most two short lines
    screenshot(page, f"dashboard-{_name(viewport)}", full_page=True)


def test_staff_manage_service_clients_on_their_page(page, screenshot):
    _log_in(page, StaffUserFactory())
    page.get_by_role("link", name="Service clients").click()
    page.get_by_label("Name").fill("reports")
    page.get_by_label("Scopes").fill("agents:read keys:verify")
    page.get_by_role("button", name="Create client").click()

    page.get_by_text("Copy the secret now").wait_for()
    client = ServiceClient.objects.get()
    assert page.locator("#client-id").inner_text() == str(client.client_id)
    secret = page.locator("#raw-key").input_value()
    page.get_by_role("button", name="Copy").click()
    page.get_by_text("Copied to the clipboard.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.reload()
    page.get_by_text("This secret was shown once and is gone").wait_for()

    page.get_by_role("link", name="Back to service clients").click()
    page.get_by_role("button", name="Revoke reports").click()
    page.get_by_text("is revoked").wait_for()
    client.refresh_from_db()
    assert not client.is_active
    screenshot(page, "service-clients-desktop", full_page=True)


def test_the_usage_chart_shows_served_rate_limited_and_refused_apart(page, live_server, screenshot):
    import urllib.error
    import urllib.request

    user = _person()
    limited = ApiKeyFactory(user=user, name="Limited", scopes=[], rate_limit={"per_minute": 1})
    fenced = ApiKeyFactory(user=user, name="Fenced", scopes=[], allowed_ips=["10.0.0.0/8"])

    def call(raw_key):
        request = urllib.request.Request(
            f"{live_server.url}/api/v1/api-keys/info", headers={"X-API-Key": raw_key}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert [call(limited.raw_key) for _ in range(3)] == [200, 429, 429]
    assert call(fenced.raw_key) == 403
    _log_in(page, user)
    today = date.today().isoformat()

    page.goto(f"/keys/{limited.pk}")
    chart = page.locator("#usage-chart")
    served = chart.locator(f'rect[data-date="{today}"][data-series="count"]')
    over = chart.locator(f'rect[data-date="{today}"][data-series="limited"]')
    assert (served.get_attribute("data-count"), over.get_attribute("data-count")) == ("1", "2")
    assert "1 served, 2 rate-limited, 0 refused" in served.locator("title").text_content()
    assert page.locator(".chart-legend").is_visible()
    screenshot(page.locator("#usage-title").locator(".."), "usage-chart-series")

    page.goto(f"/keys/{fenced.pk}")
    refused = page.locator(f'#usage-chart rect[data-date="{today}"][data-series="refused"]')
    assert refused.get_attribute("data-count") == "1"
    page.set_viewport_size(PHONE)
    compact = page.locator(f'#usage-chart-compact rect[data-date="{today}"][data-series="refused"]')
    assert compact.is_visible()
