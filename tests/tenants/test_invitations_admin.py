"""Invitations in the Django admin: listed for operators, read-only."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tenants.models import Membership
from tenants.services import invitation_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client():
    operator = get_user_model().objects.create_superuser("operator@example.com", "pw-0123456789")
    client = Client()
    client.force_login(operator)
    return client


def test_the_admin_lists_invitations_read_only(operator_client, owner, tenant):
    invitation = invitation_create(
        tenant=tenant,
        actor=owner,
        actor_role=Membership.Role.OWNER,
        email="grace@example.com",
        role=Membership.Role.ADMIN,
    )
    changelist = operator_client.get("/admin/tenants/tenantinvitation/")
    detail = operator_client.get(f"/admin/tenants/tenantinvitation/{invitation.pk}/change/")

    assert changelist.status_code == 200
    assert "grace@example.com" in changelist.content.decode()
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert operator_client.get("/admin/tenants/tenantinvitation/add/").status_code == 403
    assert (
        operator_client.post(f"/admin/tenants/tenantinvitation/{invitation.pk}/delete/").status_code
        == 403
    )
