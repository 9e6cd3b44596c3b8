"""SPEC §9: every login door is one door.

The JSON login, the form post to the same endpoint, the ``/login`` page and the Django admin's
login share the per-email and per-IP limits and write the same ``login.succeeded`` /
``login.failed`` rows. The browsable API has no login of its own: it links to ``/login``.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import URLResolver, get_resolver

from accounts.admin_login import AdminLoginForm
from accounts.authentication import ACCESS_COOKIE
from audit.models import AuditEvent
from tests.accounts.conftest import post_form
from tests.factories import DEFAULT_PASSWORD, StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
ADMIN_LOGIN = "/admin/login/"
WRONG = "wrong password"


@pytest.fixture(autouse=True)
def frozen_clock():
    """Every attempt of a test falls in one rate-limit window."""
    with time_machine.travel("2026-12-07 12:00:05+00:00", tick=False):
        yield


@dataclass(frozen=True)
class Door:
    via: str
    attempt: Callable  # (client, email, password, **extra) -> response
    succeeded: Callable  # (response) -> bool
    limited: Callable  # (response) -> bool


def _json(client, email, password, **extra):
    data = {"email": email, "password": password}
    return client.post(LOGIN, data, content_type="application/json", **extra)


def _form(client, email, password, **extra):
    return post_form(client, LOGIN, {"email": email, "password": password}, **extra)


def _page(client, email, password, **extra):
    # The default test client skips the CSRF middleware, as a browser with a token passes it.
    return post_form(client, "/login", {"email": email, "password": password}, **extra)


def _admin(client, email, password, **extra):
    data = {"username": email, "password": password, "next": "/admin/"}
    return post_form(client, ADMIN_LOGIN, data, **extra)


def _html_429(response) -> bool:
    return (
        response.status_code == 429
        and response["Content-Type"].startswith("text/html")
        and b"Too many requests" in response.content
    )


DOORS = {
    "json": Door(
        via="json",
        attempt=_json,
        succeeded=lambda r: r.status_code == 200,
        limited=lambda r: r.status_code == 429 and r.json()["code"] == "rate_limit_error",
    ),
    "form": Door(
        via="form", attempt=_form, succeeded=lambda r: r.status_code == 303, limited=_html_429
    ),
    "page": Door(
        via="form", attempt=_page, succeeded=lambda r: r.status_code == 303, limited=_html_429
    ),
    "admin": Door(
        via="admin",
        attempt=_admin,
        succeeded=lambda r: r.status_code == 302 and r["Location"] == "/admin/",
        # The admin's own login page again, 429, the limit named above the form.
        limited=lambda r: (
            r.status_code == 429
            and r.has_header("Retry-After")
            and b"Too many login attempts" in r.content
        ),
    ),
}


@pytest.fixture(params=list(DOORS))
def door(request):
    return DOORS[request.param]


@pytest.fixture
def staff(db):
    return StaffUserFactory()


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_each_door_refuses_the_right_password_past_the_per_email_limit(
    door, client, staff, settings
):
    settings.KEYWARD_LOGIN_RATE_PER_EMAIL = "3/m"
    for _ in range(3):
        refused = door.attempt(client, staff.email, WRONG)
        assert not door.succeeded(refused) and not door.limited(refused)

    response = door.attempt(client, staff.email, DEFAULT_PASSWORD)

    assert door.limited(response)
    assert not logged_in(client)
    assert ACCESS_COOKIE not in response.cookies
    failed = AuditEvent.objects.filter(event_type="login.failed")
    assert [event.data for event in failed] == [{"email": staff.email, "via": door.via}] * 3
    assert all(event.outcome == AuditEvent.Outcome.FAILURE for event in failed)
    assert not AuditEvent.objects.filter(event_type="login.succeeded").exists()


def test_each_door_refuses_past_the_per_ip_limit(door, client, staff, settings):
    settings.KEYWARD_LOGIN_RATE_PER_IP = "2/m"
    door.attempt(client, "someone@example.com", WRONG)
    door.attempt(client, "someone-else@example.com", WRONG)

    response = door.attempt(client, staff.email, DEFAULT_PASSWORD)

    assert door.limited(response)
    assert not logged_in(client)


def test_each_door_writes_login_succeeded_naming_itself(door, client, staff):
    response = door.attempt(client, staff.email, DEFAULT_PASSWORD)

    assert door.succeeded(response)
    event = AuditEvent.objects.get(event_type="login.succeeded")
    assert event.actor == staff
    assert event.data == {"via": door.via}


def test_each_door_audits_a_wrong_password_without_the_password(door, client, staff):
    door.attempt(client, staff.email, WRONG)

    event = AuditEvent.objects.get(event_type="login.failed")
    assert event.data == {"email": staff.email, "via": door.via}
    assert WRONG not in str(event.data)


def test_the_doors_share_one_per_email_budget(client, staff, settings):
    settings.KEYWARD_LOGIN_RATE_PER_EMAIL = "4/m"
    for name in ("admin", "json", "form", "page"):
        DOORS[name].attempt(client, staff.email, WRONG)

    for name, door in DOORS.items():
        assert door.limited(door.attempt(client, staff.email, DEFAULT_PASSWORD)), name
    assert not logged_in(client)


def test_the_doors_share_one_per_ip_budget(client, staff, settings):
    settings.KEYWARD_LOGIN_RATE_PER_IP = "3/m"
    DOORS["json"].attempt(client, "a@example.com", WRONG)
    DOORS["page"].attempt(client, "b@example.com", WRONG)
    DOORS["form"].attempt(client, "c@example.com", WRONG)

    response = DOORS["admin"].attempt(client, staff.email, DEFAULT_PASSWORD)

    assert DOORS["admin"].limited(response)


def test_another_client_ip_is_not_limited_by_the_first(client, staff, settings):
    settings.KEYWARD_LOGIN_RATE_PER_IP = "1/m"
    DOORS["json"].attempt(client, "a@example.com", WRONG)

    response = DOORS["admin"].attempt(
        client, staff.email, DEFAULT_PASSWORD, REMOTE_ADDR="203.0.113.9"
    )

    assert DOORS["admin"].succeeded(response)


# --- the admin's door -------------------------------------------------------------------


def test_admin_login_logs_a_staff_user_in(client, staff):
    response = DOORS["admin"].attempt(client, staff.email, DEFAULT_PASSWORD)

    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == staff.pk
    assert client.get("/admin/").status_code == 200


def test_admin_login_of_a_user_who_is_not_staff_fails_like_a_wrong_password(client):
    user = UserFactory()

    right = DOORS["admin"].attempt(client, user.email, DEFAULT_PASSWORD)
    wrong = DOORS["admin"].attempt(client, user.email, WRONG)

    assert not logged_in(client)
    assert right.status_code == wrong.status_code == 200
    assert b"for a staff account" in right.content
    assert right.context["form"].errors == wrong.context["form"].errors
    failed = AuditEvent.objects.filter(event_type="login.failed").order_by("pk")
    assert [event.data for event in failed] == [
        {"email": user.email, "via": "admin", "reason": "not_staff"},
        {"email": user.email, "via": "admin"},
    ]


def test_admin_login_with_a_missing_password_counts_per_ip(client, staff, settings):
    settings.KEYWARD_LOGIN_RATE_PER_IP = "2/m"
    post_form(client, ADMIN_LOGIN, {"username": "a@example.com"})
    post_form(client, ADMIN_LOGIN, {"username": "b@example.com"})

    response = DOORS["admin"].attempt(client, staff.email, DEFAULT_PASSWORD)

    assert DOORS["admin"].limited(response)


def test_admin_login_with_the_cache_down_refuses_with_a_message(client, staff, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }

    response = DOORS["admin"].attempt(client, staff.email, DEFAULT_PASSWORD)

    assert response.status_code == 200
    assert b"Logging in is unavailable right now" in response.content
    assert settings.SESSION_COOKIE_NAME not in response.cookies  # the session store is down too


# --- the browsable API has no door of its own -------------------------------------------


def test_drf_login_view_is_not_mounted(client, staff):
    response = post_form(
        client, "/api-auth/login/", {"username": staff.email, "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == 404
    assert not logged_in(client)


def test_browsable_api_links_its_login_to_the_login_page(client):
    response = client.get("/api/v1/auth/verify", HTTP_ACCEPT="text/html")

    assert response["Content-Type"].startswith("text/html")
    assert b'href="/login?next=/api/v1/auth/verify"' in response.content


def test_browsable_api_logs_out_through_the_auth_logout_endpoint(client, staff):
    client.force_login(staff)

    response = client.get("/api/v1/auth/verify", HTTP_ACCEPT="text/html")

    assert b'action="/api/v1/auth/logout"' in response.content
    assert b'name="csrfmiddlewaretoken"' in response.content


def _views(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern.url_patterns)
        else:
            callback = pattern.callback
            yield getattr(callback, "view_class", None) or getattr(callback, "cls", callback)


def test_no_login_view_of_its_own_is_mounted_anywhere():
    """Django's and DRF's login views check passwords unlimited and unaudited."""
    mounted = [view for view in _views(get_resolver().url_patterns) if isinstance(view, type)]

    assert not [view for view in mounted if issubclass(view, LoginView)]
    assert admin.site.login_form is AdminLoginForm
