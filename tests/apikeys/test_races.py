"""Revoke takes effect before its response returns, for requests on other connections and threads.

PostgreSQL only: SQLite has no concurrent writers for this to mean anything.
"""

import threading
import time

import pytest
from django.db import connection

from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from tests.apikeys.conftest import INFO_URL, key_client, key_url, make_api_key, person_client
from tests.factories import UserFactory

WORKERS = 4


def _hammer(raw, stop, seen, changed):
    """Use the key until told to stop; record (start, status) of every request."""
    client = key_client(raw)
    try:
        while not stop.is_set():
            started = time.monotonic()
            status = client.get(INFO_URL).status_code
            with changed:
                seen.append((started, status))
                changed.notify_all()
    finally:
        connection.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_request_started_after_revoke_returned_is_served():
    user = UserFactory()
    api_key, raw = make_api_key(user, key_type="production")
    stop, changed, seen = threading.Event(), threading.Condition(), []
    workers = [
        threading.Thread(target=_hammer, args=(raw, stop, seen, changed)) for _ in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    with changed:  # the key is served, warm, before the revoke
        assert changed.wait_for(lambda: len(seen) >= 2 * WORKERS, timeout=30)

    response = person_client(user).post(key_url(api_key.pk, "revoke"))
    revoked_at = time.monotonic()
    with changed:  # enough requests started after the revoke returned
        assert changed.wait_for(
            lambda: sum(started > revoked_at for started, _ in seen) >= 2 * WORKERS, timeout=30
        )
    stop.set()
    for worker in workers:
        worker.join(timeout=30)
    connection.close()

    assert response.status_code == 200
    before = [status for started, status in seen if started < revoked_at]
    after = [status for started, status in seen if started > revoked_at]
    assert 200 in before
    assert set(after) == {401}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_revoke_committed_on_another_connection_refuses_the_next_use():
    user = UserFactory()
    api_key, raw = make_api_key(user)
    assert key_client(raw).get(INFO_URL).status_code == 200

    def revoke_on_its_own_connection():  # Django connections are per thread
        try:
            api_key_revoke(api_key=api_key)
        finally:
            connection.close()

    thread = threading.Thread(target=revoke_on_its_own_connection)
    thread.start()
    thread.join(timeout=30)

    response = key_client(raw).get(INFO_URL)
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_disabled"
    assert ApiKey.objects.get(pk=api_key.pk).is_active is False
