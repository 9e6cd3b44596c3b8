"""Owners stepping down at the same moment: the tenant's row lock keeps one of them an owner.

Only PostgreSQL has real row locks and concurrent writers; the test is skipped on SQLite.
"""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tenants.models import Membership
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.tenants.helpers import jwt_for

OWNERS = 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_owners_demoting_themselves_at_once_leave_exactly_one_owner():
    tenant = TenantFactory()
    owners = [UserFactory() for _ in range(OWNERS)]
    for user in owners:
        MembershipFactory(user=user, role=Membership.Role.OWNER)  # each keeps another tenant
        MembershipFactory(tenant=tenant, user=user, role=Membership.Role.OWNER)
    barrier = threading.Barrier(OWNERS)
    statuses: list[int] = []
    lock = threading.Lock()

    def step_down(user):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_for(user)}")
            barrier.wait(timeout=10)
            response = client.patch(
                f"/api/v1/tenants/{tenant.pk}/members/{user.pk}", {"role": "member"}
            )
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=step_down, args=(user,)) for user in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses) == [200] * (OWNERS - 1) + [400]
    assert Membership.objects.filter(tenant=tenant, role=Membership.Role.OWNER).count() == 1
