"""Events into notifications: the receiver, ``rate_limit.exhausted`` once per window, and a
notification that cannot be queued never failing what caused it."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.services import audit_record
from tests.factories import ApiKeyFactory
from tests.notifications.conftest import user_webhook
from tests.notifications.helpers import run_ready_tasks

pytestmark = pytest.mark.django_db

INFO_URL = "/api/v1/api-keys/info"
START = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=2, seconds=5)


@pytest.fixture
def enqueue_fails(monkeypatch):
    """The task table refuses the insert: a real database error inside the caller's transaction."""

    def broken(self, task, args, kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table_for_tasks")

    monkeypatch.setattr(DatabaseBackend, "_task_to_db_task", broken)


def call(raw_key):
    return APIClient().get(INFO_URL, HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def test_events_nobody_subscribes_to_enqueue_nothing(owner):
    api_key = ApiKeyFactory(user=owner)  # records api_key.created

    audit_record(event_type="api_key.updated", target=api_key)

    assert not DBTaskResult.objects.exists()


def test_a_notifiable_event_enqueues_one_task(owner):
    api_key = ApiKeyFactory(user=owner)

    audit_record(event_type="api_key.canary_touched", target=api_key, data={"ip": "203.0.113.9"})

    (task_result,) = DBTaskResult.objects.all()
    assert task_result.task_path == "notifications.tasks.notify_event"


def test_canary_touched_emails_the_owner(owner, mailoutbox):
    api_key = ApiKeyFactory(user=owner)
    audit_record(event_type="api_key.canary_touched", target=api_key, data={"ip": "203.0.113.9"})

    run_ready_tasks()

    (message,) = mailoutbox
    assert message.to == [owner.email] and "canary" in message.subject
    assert "203.0.113.9" in message.body


def test_rate_limit_exhausted_is_recorded_once_per_key_and_window(owner):
    api_key = ApiKeyFactory(user=owner, rate_limit={"per_minute": 2})
    with time_machine.travel(START, tick=False) as clock:
        statuses = [call(api_key.raw_key).status_code for _ in range(5)]
        assert statuses == [200, 200, 429, 429, 429]
        assert DBTaskResult.objects.count() == 1
        run_ready_tasks()

        clock.shift(timedelta(minutes=1))
        assert [call(api_key.raw_key).status_code for _ in range(4)] == [200, 200, 429, 429]
        run_ready_tasks()

    events = AuditEvent.objects.filter(event_type="rate_limit.exhausted").order_by("id")
    assert [event.target_id for event in events] == [str(api_key.pk)] * 2
    assert events[0].data["limit"] == 2 and events[0].data["window"] == "minute"


def test_owners_webhook_hears_rate_limit_exhausted(owner, receiver, allow_loopback):
    user_webhook(owner, receiver.url, events=["rate_limit.exhausted"])
    api_key = ApiKeyFactory(user=owner, rate_limit={"per_minute": 1})
    with time_machine.travel(START, tick=False):
        call(api_key.raw_key)
        call(api_key.raw_key)
        run_ready_tasks()

    (event,) = receiver.events()
    assert event["type"] == "rate_limit.exhausted"
    assert event["api_key"]["key_prefix"] == api_key.key_prefix


def test_refused_request_still_answers_429_when_enqueue_fails(owner, enqueue_fails, caplog):
    api_key = ApiKeyFactory(user=owner, rate_limit={"per_minute": 1})
    with time_machine.travel(START, tick=False), caplog.at_level(logging.ERROR):
        assert call(api_key.raw_key).status_code == 200
        response = call(api_key.raw_key)

    assert response.status_code == 429
    assert response.json()["code"] == "rate_limit_error"
    assert "could not enqueue notifications.tasks.record_rate_limit_exhausted" in caplog.text
    assert api_key.raw_key not in caplog.text


def test_event_and_its_change_commit_when_enqueue_fails(owner, enqueue_fails):
    api_key = ApiKeyFactory(user=owner)

    with transaction.atomic():
        event = audit_record(event_type="api_key.leaked", target=api_key)
        api_key.name = "renamed after the event"
        api_key.save(update_fields=["name"])  # the transaction is still usable

    assert AuditEvent.objects.filter(pk=event.pk).exists()
    api_key.refresh_from_db()
    assert api_key.name == "renamed after the event"
    assert not DBTaskResult.objects.exists()
