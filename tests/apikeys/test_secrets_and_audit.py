"""The raw key leaves the server once (SPEC §3): never in the database, a log line or the audit."""

import json
import logging
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from tests.apikeys.conftest import INFO_URL, KEYS_URL, key_client, key_url, person_client

pytestmark = pytest.mark.django_db


def issue_and_use_keys(user) -> list[str]:
    """Create, use, narrow, rotate and revoke keys through the API; return every raw key seen."""
    person = person_client(user)
    raws = []
    for body in ({"name": "a"}, {"name": "b", "scopes": "read:all", "key_manager": True}):
        created = person.post(KEYS_URL, body, format="json").json()
        raws.append(created["key"])
        key_client(created["key"]).get(INFO_URL)
        key_client(created["key"], "basic").get(INFO_URL)
    first_id = person.get(KEYS_URL).json()["results"][-1]["id"]
    person.patch(key_url(first_id), {"scopes": ["agents:read"]}, format="json")
    rotated = person.post(key_url(first_id, "rotate"), {"grace_period_seconds": 0}, format="json")
    raws.append(rotated.json()["key"])
    key_client(raws[0]).get(INFO_URL)  # refused now: the refusal must not log the key either
    key_client(raws[0][:-1] + "x").get(INFO_URL)
    person.post(key_url(rotated.json()["id"], "revoke"))
    person.get(key_url(first_id, "usage"))
    return raws


def test_database_dump_contains_no_raw_key(user):
    raws = issue_and_use_keys(user)
    out = StringIO()

    call_command("dumpdata", stdout=out)

    dump = out.getvalue()
    assert raws[0][:12] in dump  # the prefix is there, so the dump did include the keys
    for raw in raws:
        assert raw not in dump
        assert raw[12:] not in dump


def test_logs_at_debug_contain_no_raw_key(user, caplog):
    # Refused requests are not logged one by one (SPEC §9); every SQL statement is, here: the
    # debug cursor that CaptureQueriesContext turns on logs each with its parameters.
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="django.db.backends"),
        CaptureQueriesContext(connection),
    ):
        raws = issue_and_use_keys(user)

    assert caplog.records  # something was logged (every query at least)
    for raw in raws:
        assert raw[12:] not in caplog.text
        assert all(raw[12:] not in str(r.args) for r in caplog.records)


@pytest.mark.parametrize(
    ("action", "event_type"),
    [
        ("create", "api_key.created"),
        ("update", "api_key.updated"),
        ("revoke", "api_key.revoked"),
        ("activate", "api_key.activated"),
        ("rotate", "api_key.rotated"),
        ("delete", "api_key.deleted"),
    ],
)
def test_every_key_change_is_audited_with_actor_and_target_and_no_secret(user, action, event_type):
    person = person_client(user)
    created = person.post(KEYS_URL, {"name": "audited"}, format="json").json()
    raw, key_id = created["key"], created["id"]
    secrets = [raw]
    if action == "update":
        person.patch(key_url(key_id), {"name": "renamed"}, format="json")
    elif action == "revoke":
        person.put(key_url(key_id, "revoke"))
    elif action == "activate":
        person.post(key_url(key_id, "revoke"))
        person.post(key_url(key_id, "activate"))
    elif action == "rotate":
        rotated = person.post(key_url(key_id, "rotate"), {"grace_period_seconds": 60})
        secrets.append(rotated.json()["key"])
    elif action == "delete":
        person.delete(key_url(key_id))

    event = AuditEvent.objects.filter(event_type=event_type).latest("id")

    assert event.actor == user
    assert event.target_id == key_id
    assert event.ip == "127.0.0.1"
    stored = json.dumps(
        {f.name: str(getattr(event, f.name)) for f in AuditEvent._meta.fields} | event.data
    )
    from apikeys.crypto import hash_key

    for secret in secrets:
        assert secret[12:] not in stored
        assert hash_key(secret) not in stored


def test_a_rotated_keys_successor_starts_its_own_audit_trail(user):
    person = person_client(user)
    created = person.post(KEYS_URL, {"name": "rotating"}, format="json").json()

    successor = person.post(key_url(created["id"], "rotate"), {"grace_period_seconds": 0}).json()

    event = AuditEvent.objects.get(event_type="api_key.created", target_id=successor["id"])
    assert event.data["rotated_from"] == created["id"]
    assert event.data["key_prefix"] == successor["key_prefix"]
    assert successor["key"] not in str(event.data)
