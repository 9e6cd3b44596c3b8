"""Webhook deliveries against a real HTTP server on a free local port: signed, retried, logged."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.services import audit_record
from notifications.crypto import verify_signature
from notifications.models import Delivery
from tests.factories import ApiKeyFactory
from tests.notifications.conftest import USER_WEBHOOKS, secret_of, user_webhook
from tests.notifications.helpers import Receiver, run_ready_tasks
from tests.tenants.helpers import jwt_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_loopback")]


def leak(api_key):
    """What the leak response records (helper "leak"): the event on the key."""
    return audit_record(
        event_type="api_key.leaked",
        target=api_key,
        tenant_id=api_key.tenant_id,
        data={"key_prefix": api_key.key_prefix, "name": api_key.name, "url": "https://x.test"},
    )


def test_delivery_is_signed_with_the_webhook_secret(owner, receiver):
    _webhook, secret = user_webhook(owner, receiver.url)
    api_key = ApiKeyFactory(user=owner)
    leak(api_key)

    run_ready_tasks()

    (request,) = receiver.requests
    header = request["headers"]["Keyward-Signature"]
    timestamp, signature = (part.split("=", 1)[1] for part in header.split(","))
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(signature, expected)
    assert verify_signature(secret, request["body"], header)
    assert not verify_signature(secret, request["body"] + b" ", header)
    assert request["headers"]["Keyward-Event"] == "api_key.leaked"


def test_delivery_body_names_the_event_and_the_key_never_a_secret(owner, receiver):
    _webhook, secret = user_webhook(owner, receiver.url)
    api_key = ApiKeyFactory(user=owner)
    leak(api_key)

    run_ready_tasks()

    (body,) = receiver.events()
    assert body["type"] == "api_key.leaked"
    assert body["api_key"] == {
        "id": str(api_key.pk),
        "key_prefix": api_key.key_prefix,
        "name": api_key.name,
    }
    raw = receiver.requests[0]["body"].decode()
    assert secret not in raw and api_key.raw_key not in raw and api_key.key_hash not in raw


def test_a_failing_receiver_is_retried_with_backoff_until_it_succeeds(owner):
    start = timezone.now()
    with Receiver(statuses=[500, 503]) as receiver, time_machine.travel(start, tick=False) as clock:
        _webhook, secret = user_webhook(owner, receiver.url)
        leak(ApiKeyFactory(user=owner))
        run_ready_tasks()

        delivery = Delivery.objects.get()
        assert (delivery.status, delivery.attempts, delivery.response_code) == ("retrying", 1, 500)
        assert delivery.next_attempt_at == start + timedelta(minutes=1)

        clock.shift(timedelta(seconds=59))
        run_ready_tasks()
        assert len(receiver.requests) == 1  # not due yet

        clock.shift(timedelta(seconds=1))
        run_ready_tasks()
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.response_code) == ("retrying", 2, 503)
        assert delivery.next_attempt_at == start + timedelta(minutes=1 + 5)

        clock.shift(timedelta(minutes=5))
        run_ready_tasks()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 3, 204)
    assert delivery.next_attempt_at is None
    assert len(receiver.requests) == 3
    ids = {request["headers"]["Keyward-Delivery"] for request in receiver.requests}
    assert ids == {str(delivery.pk)}  # one delivery, retried: the receiver can deduplicate
    assert all(
        verify_signature(secret, r["body"], r["headers"]["Keyward-Signature"], tolerance=10**6)
        for r in receiver.requests
    )


def test_delivery_gives_up_after_the_last_retry(owner, settings):
    settings.KEYWARD_WEBHOOK_RETRY_SECONDS = [60, 300]
    with Receiver(statuses=[500] * 10) as receiver, time_machine.travel(timezone.now()) as clock:
        user_webhook(owner, receiver.url)
        leak(ApiKeyFactory(user=owner))
        run_ready_tasks()
        for seconds in (60, 300, 3600):
            clock.shift(timedelta(seconds=seconds))
            run_ready_tasks()

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert len(receiver.requests) == 3


def test_a_refused_connection_is_logged_and_retried(owner, caplog):
    with Receiver() as receiver:
        url = receiver.url
    _, secret = user_webhook(owner, url)  # the server is gone: nothing listens on that port now
    leak(ApiKeyFactory(user=owner))

    with caplog.at_level("DEBUG"):
        run_ready_tasks()

    assert secret not in caplog.text

    delivery = Delivery.objects.get()
    assert delivery.status == "retrying"
    assert delivery.response_code is None
    assert delivery.last_error == "Could not deliver: ConnectionRefusedError."


def test_delivery_log_is_in_the_api_newest_first_without_the_secret(owner, receiver):
    webhook, secret = user_webhook(owner, receiver.url)
    api_key = ApiKeyFactory(user=owner)
    leak(api_key)
    run_ready_tasks()
    client_headers = {"HTTP_AUTHORIZATION": f"Bearer {jwt_for(owner)}"}
    from rest_framework.test import APIClient

    response = APIClient().get(f"{USER_WEBHOOKS}/{webhook.pk}/deliveries", **client_headers)

    assert response.status_code == 200
    (entry,) = response.json()["results"]
    assert entry["event_type"] == "api_key.leaked"
    assert (entry["status"], entry["attempts"], entry["response_code"]) == ("succeeded", 1, 204)
    assert secret not in json.dumps(response.json())


def test_only_subscribed_events_are_delivered(owner, receiver):
    user_webhook(owner, receiver.url, events=["api_key.expiring"])
    leak(ApiKeyFactory(user=owner))

    run_ready_tasks()

    assert receiver.requests == []
    assert not Delivery.objects.exists()


def test_another_users_key_events_do_not_reach_my_webhook(owner, receiver):
    user_webhook(owner, receiver.url)
    leak(ApiKeyFactory())

    run_ready_tasks()

    assert receiver.requests == []


def test_secret_is_stored_encrypted_and_still_signs(owner, receiver):
    webhook, secret = user_webhook(owner, receiver.url)
    assert secret not in webhook.secret_encrypted
    assert secret_of(webhook) == secret


def test_tenant_webhook_hears_of_the_tenants_keys(owner, receiver):
    from notifications.services import webhook_create
    from tenants.models import Membership

    tenant = owner.memberships.get(role=Membership.Role.OWNER).tenant
    webhook_create(url=receiver.url, tenant=tenant, actor=owner)
    api_key = ApiKeyFactory(user=owner, tenant=tenant)
    leak(api_key)

    run_ready_tasks()

    (event,) = receiver.events()
    assert event["tenant_id"] == str(tenant.pk)
    assert Delivery.objects.get().webhook.tenant == tenant


def test_a_switched_off_webhook_is_not_called(owner, receiver):
    webhook, _ = user_webhook(owner, receiver.url)
    webhook.is_active = False
    webhook.save(update_fields=["is_active"])
    leak(ApiKeyFactory(user=owner))

    run_ready_tasks()

    assert receiver.requests == []
