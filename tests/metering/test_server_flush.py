"""The server moves the usage buffer into the database itself, on every stack (SPEC §10)."""

import pytest
from rest_framework.test import APIClient

from apikeys import usage
from apikeys.models import ApiKey
from metering import backends
from tests.factories import UserFactory, issued_key

pytestmark = pytest.mark.django_db

VERIFY = "/api/v1/auth/verify"


@pytest.fixture
def clock(monkeypatch, settings):
    """A monotonic clock the test moves, and a flush interval of 10 s from the first request."""
    settings.KEYWARD_USAGE_FLUSH_SECONDS = 10
    now = [1000.0]
    monkeypatch.setattr(usage, "_now", lambda: now[0])
    monkeypatch.setattr(usage, "_next_flush_at", 0.0)
    return now


@pytest.fixture
def keyed():
    user = UserFactory()
    api_key, raw = issued_key(user, created_by=user, name="flush")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return api_key, client


def stored_count(api_key) -> int:
    return ApiKey.objects.get(pk=api_key.pk).request_count  # a plain read: it flushes nothing


def test_the_buffer_is_flushed_once_the_interval_has_passed(clock, keyed):
    api_key, client = keyed
    client.get(VERIFY)
    client.get(VERIFY)
    assert stored_count(api_key) == 0

    clock[0] += 11
    client.get(VERIFY)

    assert stored_count(api_key) == 3


def test_the_buffer_is_not_flushed_before_the_interval(clock, keyed):
    api_key, client = keyed
    client.get(VERIFY)

    clock[0] += 9
    client.get(VERIFY)

    assert stored_count(api_key) == 0


def test_a_flush_that_finds_the_database_down_keeps_the_buffer(clock, keyed, monkeypatch):
    api_key, client = keyed
    client.get(VERIFY)
    monkeypatch.setattr(usage, "_apply", _database_down)

    clock[0] += 11
    client.get(VERIFY)
    monkeypatch.undo()

    assert stored_count(api_key) == 0
    assert usage.usage_flush() == 2


def _database_down(*args, **kwargs):
    from django.db import OperationalError

    raise OperationalError("the database system is shutting down")


def test_a_clean_exit_flushes_an_in_process_buffer(keyed):
    if not backends.active().buffers_in_process:
        pytest.skip("with Redis, the buffer outlives the process")
    api_key, client = keyed
    client.get(VERIFY)

    usage.usage_flush_safely()  # what the process registers with atexit

    assert stored_count(api_key) == 1
