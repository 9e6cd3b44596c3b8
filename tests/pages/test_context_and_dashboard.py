"""SPEC §13: the picked tenant is a real context; `/`, the dashboard, the nav, whole prefixes,
every form error at once, and the staff page for service clients."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apikeys.models import ApiKeyDailyUsage
from core.usertime import relative
from oauth.models import ServiceClient
from tenants.models import Membership
from tests.factories import AgentFactory, MembershipFactory, StaffUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(user):
    return MembershipFactory(user=user, tenant__name="Acme", role=Membership.Role.OWNER).tenant


def _switch(client, tenant):
    return client.post("/tenants/switch", {"tenant_id": str(tenant.pk)})


def test_key_list_shows_the_current_tenants_keys_and_unbound_ones(logged_in, user, acme, make_key):
    personal = user.memberships.exclude(tenant=acme).get().tenant
    make_key(name="Acme key", tenant=acme, scopes=["agents:read"])
    make_key(name="Personal key", tenant=personal, scopes=["agents:read"])
    make_key(name="Unbound key", scopes=["agents:read"])
    _switch(logged_in, acme)

    content = logged_in.get("/keys").content.decode()
    everything = logged_in.get("/keys?all=1").content.decode()

    assert "Acme key" in content
    assert "Unbound key" in content
    assert "Personal key" not in content
    assert "1 key of other tenants is not listed" in content
    assert "Personal key" in everything


def test_session_api_calls_without_a_header_act_in_the_picked_tenant(logged_in, user, acme):
    AgentFactory(tenant=acme, name="Acme agent")
    personal = user.memberships.exclude(tenant=acme).get().tenant
    AgentFactory(tenant=personal, name="Personal agent")
    _switch(logged_in, acme)

    response = logged_in.get("/api/v1/agents")

    assert response.status_code == 200, response.content
    assert "Acme agent" in response.content.decode()
    assert "Personal agent" not in response.content.decode()


def test_the_header_still_wins_over_the_picked_tenant(logged_in, user, acme):
    personal = user.memberships.exclude(tenant=acme).get().tenant
    AgentFactory(tenant=personal, name="Personal agent")
    _switch(logged_in, acme)

    response = logged_in.get("/api/v1/agents", HTTP_X_TENANT_ID=str(personal.pk))

    assert "Personal agent" in response.content.decode()


def test_a_picked_tenant_the_user_has_left_is_ignored(logged_in, user, acme):
    _switch(logged_in, acme)
    Membership.objects.filter(user=user, tenant=acme).delete()

    response = logged_in.get("/api/v1/agents")

    assert response.status_code == 200  # back to the caller's only tenant


def test_login_sets_the_tenant_context_and_the_time_zone(client, user):
    user.set_password("analytical engine 1843")
    user.save()

    client.post(
        "/login",
        {"email": user.email, "password": "analytical engine 1843", "time_zone": "Asia/Tokyo"},
    )

    assert client.session["current_tenant"]["name"] == "Personal"
    assert client.session["time_zone"] == "Asia/Tokyo"


def test_an_unknown_time_zone_is_ignored(logged_in, user):
    logged_in.post("/keys/new", {"name": "x", "time_zone": "Mars/Olympus_Mons"})

    assert "time_zone" not in logged_in.session


def test_prefixes_are_shown_whole_with_a_copy_button(logged_in, api_key):
    for path in ("/keys", f"/keys/{api_key.pk}"):
        content = logged_in.get(path).content.decode()
        assert f"{api_key.key_prefix}…" not in content
        assert f'data-copy="{api_key.key_prefix}"' in content


@pytest.mark.parametrize(
    "path, current",
    [("/", "/"), ("/keys", "/keys"), ("/keys/new", "/keys"), ("/tenants", "/tenants")],
)
def test_the_nav_marks_the_current_page(logged_in, path, current):
    content = logged_in.get(path).content.decode()

    assert re.findall(r'<a href="([^"]+)" aria-current="page">', content) == [current]


def test_the_dashboard_counts_keys_active_expiring_soon_and_requests_today(logged_in, make_key):
    soon = make_key(scopes=["agents:read"], expires_at=timezone.now() + timedelta(days=3))
    make_key(scopes=["agents:read"])
    make_key(scopes=["agents:read"], is_active=False)
    ApiKeyDailyUsage.objects.create(api_key=soon, date=timezone.now().date(), count=7)

    content = logged_in.get("/").content.decode()

    figures = dict(re.findall(r'data-figure="([a-z-]+)">(\d+)<', content))
    assert figures == {"keys": "3", "active": "2", "expiring-soon": "1", "requests-today": "7"}
    assert "Sign out everywhere" in content


def test_registration_shows_every_field_error_at_once(client):
    response = client.post(
        "/register", {"email": "not-an-email", "password": "123", "confirm_password": "124"}
    )

    content = response.content.decode()
    assert response.status_code == 400
    for field in ("email", "password", "confirm_password"):
        assert f'href="#id_{field}"' in content
    assert "autofocus" not in content  # the summary takes the focus, not the Email box
    assert "focus-error-summary.js" in content


def test_the_service_clients_page_is_404_for_non_staff(logged_in):
    assert logged_in.get("/service-clients").status_code == 404


def test_staff_create_a_service_client_and_see_its_secret_once(client):
    client.force_login(StaffUserFactory())

    response = client.post("/service-clients", {"name": "reports", "scopes": "agents:read"})

    service_client = ServiceClient.objects.get()
    assert response["Location"] == f"/service-clients/{service_client.client_id}/secret"
    first = client.get(response["Location"]).content.decode()
    again = client.get(response["Location"]).content.decode()
    assert "Copy the secret now" in first
    assert "shown once and is gone" in again
    assert str(service_client.client_id) in client.get("/service-clients").content.decode()


def test_staff_revoke_a_service_client(client):
    client.force_login(StaffUserFactory())
    client.post("/service-clients", {"name": "reports", "scopes": "agents:read"})
    service_client = ServiceClient.objects.get()

    client.post(f"/service-clients/{service_client.client_id}/revoke")

    service_client.refresh_from_db()
    assert not service_client.is_active


def test_a_service_client_without_scopes_is_refused_beside_the_field(client):
    client.force_login(StaffUserFactory())

    response = client.post("/service-clients", {"name": "reports", "scopes": " , "})

    assert response.status_code == 400
    assert 'id="id_scopes_error"' in response.content.decode()


@pytest.mark.parametrize(
    "delta, phrase",
    [
        (timedelta(days=29, hours=1), "in 29 days"),
        (timedelta(minutes=-3, seconds=-5), "3 minutes ago"),
        (timedelta(seconds=-20), "just now"),
        (timedelta(hours=1), "in 1 hour"),
        (timedelta(days=-800), "2 years ago"),
    ],
)
def test_relative_times_read_as_people_say_them(delta, phrase):
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    assert relative(now + delta, now) == phrase
