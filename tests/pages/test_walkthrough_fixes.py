"""Defects found by walking the pages in a browser: each test fails without its fix."""

import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.utils import timezone

from apikeys.charts import usage_chart_svg, y_ticks
from apikeys.models import ApiKey, ApiKeyDailyUsage
from tenants.models import Membership
from tests.factories import MembershipFactory, StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


def test_rotate_reveal_says_when_the_old_key_stops_not_its_old_expiry(logged_in, make_key):
    api_key = make_key(scopes=["agents:read"], expires_at=timezone.now() + timedelta(days=90))

    response = logged_in.post(f"/keys/{api_key.pk}/rotate", {"grace_period": "300"}, follow=True)

    api_key.refresh_from_db()
    content = response.content.decode()
    assert f'keeps working until <time datetime="{api_key.expires_at:%Y-%m-%dT%H:%M}' in content
    assert f"{api_key.expires_at:%Y-%m-%d %H:%M}" in content
    assert "in 4 minutes" in content


def test_key_in_its_grace_period_offers_no_second_rotation(logged_in, api_key):
    logged_in.post(f"/keys/{api_key.pk}/rotate", {"grace_period": "3600"})

    content = logged_in.get(f"/keys/{api_key.pk}").content.decode()

    assert f'href="/keys/{api_key.pk}/rotate"' not in content
    assert f'href="/keys/{api_key.pk}/revoke"' in content
    assert "This key keeps working until" in content


def test_key_rotated_without_grace_reads_rotated_and_offers_no_activate(logged_in, api_key):
    logged_in.post(f"/keys/{api_key.pk}/rotate", {"grace_period": "0"})

    content = logged_in.get(f"/keys/{api_key.pk}").content.decode()

    assert 'class="status status-rotated">Rotated<' in content
    assert f'href="/keys/{api_key.pk}/activate"' not in content
    assert "This key no longer works." in content
    assert not ApiKey.objects.get(pk=api_key.pk).is_active


def test_key_list_marks_a_key_in_its_rotation_grace_period(logged_in, api_key):
    logged_in.post(f"/keys/{api_key.pk}/rotate", {"grace_period": "3600"})

    content = logged_in.get("/keys").content.decode()

    row = re.search(rf'<tr data-key-id="{api_key.pk}">.*?</tr>', content, re.S).group(0)
    assert "rotated: works until" in row
    successor = ApiKey.objects.get(rotated_from=api_key)
    row = re.search(rf'<tr data-key-id="{successor.pk}">.*?</tr>', content, re.S).group(0)
    assert "rotated" not in row


@pytest.mark.parametrize(
    "y_max, ticks",
    [(1, [0, 1]), (2, [0, 1, 2]), (5, [0, 1, 2, 3, 4, 5]), (20, [0, 5, 10, 15, 20])],
)
def test_chart_y_ticks_are_evenly_spaced_whole_numbers(y_max, ticks):
    assert y_ticks(y_max) == ticks


def test_chart_leaves_room_for_the_widest_y_tick():
    daily = [{"date": timezone.now().date(), "count": 1234}]
    svg = ElementTree.fromstring(str(usage_chart_svg(daily, title="t", compact=True)))

    axis = next(line for line in svg.iter(f"{SVG}line") if line.get("class") == "axis")
    # "2,000" at 12 px needs about 37 px left of the axis, after the 13 px axis label.
    assert float(axis.get("x1")) >= 13 + 37


def test_key_page_has_a_compact_chart_for_phones_with_the_same_figures(logged_in, api_key):
    today = timezone.now().date()
    ApiKeyDailyUsage.objects.create(api_key=api_key, date=today - timedelta(days=3), count=42)

    content = logged_in.get(f"/keys/{api_key.pk}").content.decode()

    wide = re.search(r'<svg class="chart" id="usage-chart" .*?</svg>', content, re.S).group(0)
    compact = re.search(r'<svg class="chart" id="usage-chart-compact".*?</svg>', content, re.S)
    assert compact is not None
    day = (today - timedelta(days=3)).isoformat()
    assert f'data-date="{day}" data-count="42"' in wide
    assert f'data-date="{day}" data-count="42"' in compact.group(0)
    assert 'viewBox="0 0 360 ' in compact.group(0)


def test_create_form_errors_are_summarised_with_links_to_their_fields(logged_in):
    response = logged_in.post(
        "/keys/new", {"name": "", "key_type": "development", "allowed_ips": "10.0.0.0/33"}
    )

    content = response.content.decode()
    summary = re.search(r'<div class="error-summary".*?</div>', content, re.S).group(0)
    assert 'role="alert"' in summary
    assert '<a href="#id_name">Name</a>' in summary
    assert '<a href="#id_allowed_ips">Allowed IPs</a>' in summary


def test_create_form_without_errors_has_no_summary(logged_in):
    assert "error-summary" not in logged_in.get("/keys/new").content.decode()


def test_reveal_page_shows_the_whole_key_in_a_wrapping_field(logged_in):
    response = logged_in.post(
        "/keys/new",
        {"name": "ci", "key_type": "development", "scopes": ["agents:read"]},
        follow=True,
    )

    content = response.content.decode()
    raw_key = re.search(r'<textarea id="raw-key"[^>]*>(kw_[^<]+)</textarea>', content).group(1)
    assert ApiKey.objects.get(name="ci").key_prefix == raw_key[:12]
    assert f"Bearer {raw_key[:12]}…" not in content  # the example must not look pasteable


@pytest.mark.parametrize(
    "role, phrase", [("admin", "an admin"), ("member", "a member"), ("owner", "an owner")]
)
def test_invite_message_puts_the_right_article_before_the_role(logged_in, user, role, phrase):
    tenant = Membership.objects.get(user=user).tenant
    invitee = UserFactory()

    response = logged_in.post(
        f"/tenants/{tenant.pk}/members", {"email": invitee.email, "role": role}, follow=True
    )

    assert f"{invitee.email} is invited to join as {phrase};" in response.content.decode()
    assert not Membership.objects.filter(tenant=tenant, user=invitee).exists()


def test_role_change_message_puts_the_right_article_before_the_role(logged_in, user):
    tenant = Membership.objects.get(user=user).tenant
    other = MembershipFactory(tenant=tenant, role="member").user

    response = logged_in.post(
        f"/tenants/{tenant.pk}/members/{other.pk}/role", {"role": "admin"}, follow=True
    )

    assert f"{other.email} is now an admin." in response.content.decode()


def test_pages_name_a_favicon_so_browsers_do_not_fetch_a_missing_one(logged_in):
    assert 'rel="icon" href="/static/favicon.svg"' in logged_in.get("/keys").content.decode()


def test_admin_finds_a_tenant_by_a_members_email(client):
    client.force_login(StaffUserFactory(is_superuser=True))
    member = MembershipFactory(tenant__name="Acme Robotics", user__email="grace@acme.example")
    MembershipFactory(tenant__name="Other Co")

    response = client.get("/admin/tenants/tenant/", {"q": "grace@acme"})

    assert response.status_code == 200
    content = response.content.decode()
    assert "Acme Robotics" in content
    assert "Other Co" not in content
    assert member.tenant.memberships.count() == 1
