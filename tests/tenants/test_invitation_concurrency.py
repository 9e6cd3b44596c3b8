"""Invitations under concurrent requests: the tenant's row lock keeps every answer consistent.

Only PostgreSQL has real row locks and concurrent writers; the tests are skipped on SQLite.
"""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tenants.models import Membership, TenantInvitation
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.tenants.helpers import jwt_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Role = Membership.Role
INVITERS = 6


def at_once(calls) -> list:
    """Run each ``(user, method, url, body)`` in its own thread, released together."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, user, method, url, body):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_for(user)}")
            barrier.wait(timeout=10)
            results[index] = getattr(client, method)(url, body, format="json")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def owner_of(tenant):
    user = UserFactory()
    MembershipFactory(user=user, role=Role.OWNER)
    MembershipFactory(tenant=tenant, user=user, role=Role.OWNER)
    return user


def test_owners_inviting_one_email_at_once_make_one_invitation():
    tenant = TenantFactory()
    owners = [owner_of(tenant) for _ in range(INVITERS)]
    url = f"/api/v1/tenants/{tenant.pk}/members"

    responses = at_once([(o, "post", url, {"email": "grace@example.com"}) for o in owners])

    assert [r.status_code for r in responses] == [202] * INVITERS
    assert len({r.json()["invitation_id"] for r in responses}) == 1
    assert TenantInvitation.objects.filter(tenant=tenant).count() == 1


@pytest.mark.parametrize("attempt", range(3))
def test_an_accept_and_a_cancel_at_once_end_one_way_or_the_other(attempt):
    tenant = TenantFactory()
    owner = owner_of(tenant)
    person = UserFactory()
    MembershipFactory(user=person, role=Role.OWNER)
    invitation = TenantInvitation.objects.create(
        tenant=tenant, email=person.email, role=Role.MEMBER, invited_by=owner
    )

    accepted, cancelled = at_once(
        [
            (person, "post", f"/api/v1/user/invitations/{invitation.pk}/accept", None),
            (owner, "delete", f"/api/v1/tenants/{tenant.pk}/invitations/{invitation.pk}", None),
        ]
    )

    invitation.refresh_from_db()
    member = Membership.objects.filter(tenant=tenant, user=person).exists()
    if accepted.status_code == 200:
        assert cancelled.status_code == 404
        assert member and invitation.status == TenantInvitation.Status.ACCEPTED
    else:
        assert (accepted.status_code, cancelled.status_code) == (404, 204)
        assert not member and invitation.status == TenantInvitation.Status.CANCELLED
