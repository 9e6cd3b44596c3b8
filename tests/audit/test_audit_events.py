from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.services import audit_record
from tests.factories import StaffUserFactory, UserFactory, issued_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit-events"


@pytest.fixture
def staff_client(api_client):
    api_client.force_authenticate(StaffUserFactory())
    return api_client


def test_audit_events_need_authentication(api_client):
    response = api_client.get(URL)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_required"


def test_audit_events_are_refused_to_non_staff_users(api_client):
    api_client.force_authenticate(UserFactory())

    response = api_client.get(URL)

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"


def test_staff_user_lists_audit_events_newest_first(staff_client):
    audit_record(event_type="first.event")
    audit_record(event_type="second.event")

    response = staff_client.get(URL)

    assert response.status_code == 200
    types = [event["event_type"] for event in response.json()["results"]]
    assert types[:2] == ["second.event", "first.event"]


def test_audit_events_filter_by_type_actor_and_target(staff_client):
    actor = UserFactory(email="actor@example.com")
    audit_record(event_type="api_key.revoked", actor=actor, target_type="apikey", target_id="k1")
    audit_record(event_type="api_key.revoked", target_type="apikey", target_id="k2")
    audit_record(event_type="login.failed", actor=actor)

    by_type = staff_client.get(URL, {"event_type": "api_key.revoked"}).json()["results"]
    by_actor = staff_client.get(URL, {"actor": "ACTOR@example.com"}).json()["results"]
    by_actor_id = staff_client.get(URL, {"actor": str(actor.pk)}).json()["results"]
    by_target = staff_client.get(URL, {"target_id": "k2"}).json()["results"]

    assert len(by_type) == 2
    assert {e["event_type"] for e in by_actor} == {"api_key.revoked", "login.failed"}
    assert len(by_actor_id) == 2
    assert [e["target_id"] for e in by_target] == ["k2"]


def test_audit_events_filter_by_time_window(staff_client):
    with time_machine.travel("2026-01-01T12:00:00Z", tick=False):
        audit_record(event_type="old.event")
    with time_machine.travel("2026-03-01T12:00:00Z", tick=False):
        audit_record(event_type="new.event")

    response = staff_client.get(URL, {"since": "2026-02-01T00:00:00Z"})

    assert [e["event_type"] for e in response.json()["results"]] == ["new.event"]


@pytest.mark.parametrize(
    "params",
    [{"since": "yesterday"}, {"tenant_id": "not-a-uuid"}, {"outcome": "maybe"}],
)
def test_malformed_audit_filters_are_400_validation_error(staff_client, params):
    response = staff_client.get(URL, params)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_audit_admin_is_read_only(client):
    admin = StaffUserFactory(is_superuser=True)
    client.force_login(admin)
    event = audit_record(event_type="login.succeeded", actor=admin)

    listing = client.get("/admin/audit/auditevent/")
    add = client.get("/admin/audit/auditevent/add/")
    change = client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"event_type": "x"})

    assert listing.status_code == 200
    assert add.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).event_type == "login.succeeded"
    assert change.status_code in (302, 403)


def test_pruneexpired_removes_old_audit_events_and_keeps_recent_ones():
    with time_machine.travel(timezone.now() - timedelta(days=400), tick=False):
        audit_record(event_type="ancient.event")
    audit_record(event_type="recent.event")
    out = StringIO()

    call_command("pruneexpired", stdout=out)

    remaining = set(AuditEvent.objects.values_list("event_type", flat=True))
    assert "ancient.event" not in remaining
    assert "recent.event" in remaining
    assert "1 audit events" in out.getvalue()


@pytest.mark.parametrize("actor", ["99999999999999999999999", "9223372036854775808"])
def test_audit_filter_by_an_out_of_range_actor_id_is_400_not_500(staff_client, actor):
    response = staff_client.get(URL, {"actor": actor})

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "actor" in response.json()["errors"]


def test_audit_filter_by_a_non_ascii_digit_actor_is_an_empty_page_not_500(staff_client):
    audit_record(event_type="login.failed", actor=UserFactory())

    response = staff_client.get(URL, {"actor": "²"})

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_audit_filter_by_actor_key_prefix(staff_client):
    audit_record(event_type="api_key.revoked", actor_key_prefix="kw_abcdefghi")
    audit_record(event_type="api_key.revoked", actor_key_prefix="kw_zzzzzzzzz")

    response = staff_client.get(URL, {"actor": "kw_abcdefghi"})

    assert [e["actor_key_prefix"] for e in response.json()["results"]] == ["kw_abcdefghi"]


def test_audit_filter_short_spellings_type_target_after_before(staff_client):
    with time_machine.travel("2026-01-01T12:00:00Z", tick=False):
        audit_record(event_type="api_key.revoked", target_type="apikeys.apikey", target_id="k1")
    with time_machine.travel("2026-03-01T12:00:00Z", tick=False):
        audit_record(event_type="api_key.revoked", target_type="apikeys.apikey", target_id="k2")
        audit_record(event_type="api_key.created", target_type="apikeys.apikey", target_id="k2")
        audit_record(event_type="tenant.updated", target_type="tenants.tenant", target_id="k2")

    by_type = staff_client.get(URL, {"type": "api_key.revoked"}).json()["results"]
    by_target = staff_client.get(URL, {"target": "apikeys.apikey:k2"}).json()["results"]
    by_target_id = staff_client.get(URL, {"target": "k2"}).json()["results"]
    window = staff_client.get(
        URL,
        {
            "after": "2026-02-01T00:00:00Z",
            "before": "2026-04-01T00:00:00Z",
            "type": "api_key.revoked",
        },
    ).json()["results"]

    assert [e["target_id"] for e in by_type] == ["k2", "k1"]
    assert {e["event_type"] for e in by_target} == {"api_key.revoked", "api_key.created"}
    assert len(by_target_id) == 3
    assert [e["target_id"] for e in window] == ["k2"]


def test_audit_events_are_paginated_with_page_size(staff_client):
    for n in range(3):
        audit_record(event_type=f"event.{n}")

    first = staff_client.get(URL, {"page_size": 2}).json()
    second = staff_client.get(URL, {"page_size": 2, "page": 2}).json()

    assert first["count"] == 3
    assert len(first["results"]) == 2
    assert first["next"] is not None
    assert [e["event_type"] for e in second["results"]] == ["event.0"]


def test_an_admin_scoped_key_lists_audit_events_and_a_plain_key_is_refused():
    staff = StaffUserFactory()
    admin_key, admin_raw = issued_key(
        user=staff, created_by=staff, name="ops", key_type="admin", scopes=["admin"]
    )
    _, plain_raw = issued_key(user=staff, created_by=staff, name="plain", scopes=["read:all"])
    client = APIClient()

    allowed = client.get(URL, HTTP_X_API_KEY=admin_raw)
    refused = client.get(URL, HTTP_X_API_KEY=plain_raw)

    assert allowed.status_code == 200
    assert any(e["target_id"] == str(admin_key.pk) for e in allowed.json()["results"])
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_permissions"
