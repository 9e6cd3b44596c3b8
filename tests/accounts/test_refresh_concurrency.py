"""Concurrent refreshes of one token: the family's row lock lets exactly one win.

Only PostgreSQL has real row locks and concurrent writers; the test is skipped on SQLite.
"""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import RefreshTokenFamily
from tests.accounts.conftest import login_json
from tests.factories import UserFactory

THREADS = 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_one_token_let_exactly_one_succeed():
    user = UserFactory()
    refresh_token = login_json(APIClient(), user).json()["refresh_token"]
    barrier = threading.Barrier(THREADS)
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def refresh_once():
        try:
            client = APIClient()
            barrier.wait(timeout=10)
            response = client.post(
                "/api/v1/auth/refresh", {"refresh_token": refresh_token}, format="json"
            )
            code = response.json().get("code") if response.status_code != 200 else None
            with lock:
                results.append((response.status_code, code))
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh_once) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [401] * (THREADS - 1)
    assert {code for status, code in results if status == 401} == {"token_reused"}
    # One login token plus exactly one successor: no second branch of the family was minted.
    family = RefreshTokenFamily.objects.get(user=user)
    assert OutstandingToken.objects.filter(keyward_issue__family=family).count() == 2
    assert family.revoked_reason == RefreshTokenFamily.RevokedReason.REUSE
