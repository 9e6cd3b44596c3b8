"""Login CSRF, in a real browser (SPEC §9, "cookie-less is not cross-site").

A page on another site auto-submits a form with the attacker's credentials to ``auth/login``;
Chromium sends it with its own ``Origin`` and ``Sec-Fetch-Site`` headers, which Keyward must
refuse. The same form on Keyward's own origin still logs in.
"""

import pytest

from audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVIL = "http://evil.test/"


def auto_submitting_form(action: str, email: str) -> str:
    return f"""<!doctype html><title>Free prizes</title>
<form method="post" action="{action}">
  <input name="email" value="{email}">
  <input name="password" value="{DEFAULT_PASSWORD}">
</form>
<script>document.forms[0].submit()</script>"""


SUBMIT_FORM = """([action, email, password]) => {
  const form = Object.assign(document.createElement("form"), {method: "post", action});
  for (const [name, value] of [["email", email], ["password", password]]) {
    form.appendChild(Object.assign(document.createElement("input"), {name, value}));
  }
  document.body.appendChild(form);
  form.submit();
}"""


def session_cookies(page) -> list[str]:
    return [c["name"] for c in page.context.cookies() if c["name"] in ("sessionid", "access_token")]


def test_a_cross_site_form_cannot_log_the_browser_into_the_attackers_account(page, live_server):
    attacker = UserFactory(email="attacker@example.com")
    html = auto_submitting_form(f"{live_server.url}/api/v1/auth/login", attacker.email)
    page.route(EVIL, lambda route: route.fulfill(status=200, content_type="text/html", body=html))

    page.goto(EVIL)
    page.wait_for_url(lambda url: url.startswith(live_server.url))

    assert page.url == f"{live_server.url}/api/v1/auth/login"  # not redirected into the app
    assert page.get_by_role("heading", name="Request refused").is_visible()
    assert session_cookies(page) == []
    assert not AuditEvent.objects.filter(event_type="login.succeeded").exists()


def test_the_same_form_on_keywards_own_origin_logs_in(page, live_server):
    user = UserFactory(email="owner@example.com")
    page.goto("/login")

    # Built and submitted from the page itself: its Content-Security-Policy runs no inline
    # script, so the attacker page's <script> cannot be written into it.
    page.evaluate(SUBMIT_FORM, ["/api/v1/auth/login", user.email, DEFAULT_PASSWORD])
    page.wait_for_url(f"{live_server.url}/")

    assert sorted(session_cookies(page)) == ["access_token", "sessionid"]
    assert AuditEvent.objects.get(event_type="login.succeeded").actor == user
