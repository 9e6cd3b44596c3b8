from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from tests.factories import StaffUserFactory, UserFactory

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
