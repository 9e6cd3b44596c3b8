"""``manage.py pruneexpired``: expired keys past their grace, tokens past their life, old audit."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from apikeys.models import ApiKey
from audit.models import AuditEvent
from tests.factories import ApiKeyFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-horse-battery-9"


def key_expiring(user, *, expires_at, name):
    return ApiKeyFactory(user=user, created_by=user, name=name, expires_at=expires_at)


def test_pruneexpired_deletes_keys_expired_past_retention_and_keeps_the_rest():
    user = UserFactory()
    now = timezone.now()
    with time_machine.travel(now - timedelta(days=60), tick=False):
        long_gone = key_expiring(user, expires_at=now - timedelta(days=31), name="long gone")
        recent = key_expiring(user, expires_at=now - timedelta(days=2), name="recent")
    live = key_expiring(user, expires_at=now + timedelta(days=5), name="live")
    forever = key_expiring(user, expires_at=None, name="forever")

    call_command("pruneexpired", stdout=StringIO())

    remaining = set(ApiKey.objects.values_list("pk", flat=True))
    assert long_gone.pk not in remaining
    assert {recent.pk, live.pk, forever.pk} <= remaining


def test_pruneexpired_deletes_refresh_tokens_and_blacklist_rows_past_their_life():
    user = UserFactory(email="tokens@example.com")
    user.set_password(PASSWORD)
    user.save()
    client = APIClient()
    credentials = {"email": user.email, "password": PASSWORD}
    with time_machine.travel(timezone.now() - timedelta(days=30), tick=False):
        old = client.post("/api/v1/auth/login", credentials, format="json").json()
        client.post("/api/v1/auth/logout", {"refresh_token": old["refresh_token"]}, format="json")
    client.post("/api/v1/auth/login", credentials, format="json")
    assert OutstandingToken.objects.count() == 2
    assert BlacklistedToken.objects.count() == 1

    call_command("pruneexpired", stdout=StringIO())

    assert OutstandingToken.objects.count() == 1
    assert OutstandingToken.objects.get().expires_at > timezone.now()
    assert BlacklistedToken.objects.count() == 0


def test_pruneexpired_records_what_it_removed_in_the_audit_log():
    user = UserFactory()
    with time_machine.travel(timezone.now() - timedelta(days=60), tick=False):
        key_expiring(user, expires_at=timezone.now() + timedelta(days=1), name="gone")

    call_command("pruneexpired", stdout=StringIO())

    event = AuditEvent.objects.get(event_type="maintenance.pruned")
    assert event.data["api_keys"] == 1
