"""Invitations on the pages: the dashboard's "Pending invitations" and the members page."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from tenants.models import Membership, TenantInvitation
from tenants.services import invitation_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

Role = Membership.Role
Status = TenantInvitation.Status


@pytest.fixture
def invitation(owner, tenant, outsider):
    return invitation_create(
        tenant=tenant, actor=owner, actor_role=Role.OWNER, email=outsider.email, role=Role.ADMIN
    )


def logged_in_as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_dashboard_shows_pending_invitations_with_accept_and_decline(
    invitation, outsider, tenant
):
    content = logged_in_as(outsider).get("/").content.decode()

    assert "Pending invitations" in content
    assert tenant.name in content
    assert f'action="/invitations/{invitation.pk}/accept"' in content
    assert f'action="/invitations/{invitation.pk}/decline"' in content


def test_the_dashboard_shows_no_invitation_section_without_one(outsider):
    assert "Pending invitations" not in logged_in_as(outsider).get("/").content.decode()


def test_the_dashboard_shows_nobody_elses_invitation(invitation, owner):
    assert "Pending invitations" not in logged_in_as(owner).get("/").content.decode()


def test_accepting_on_the_page_makes_the_member(invitation, outsider, tenant):
    response = logged_in_as(outsider).post(f"/invitations/{invitation.pk}/accept", follow=True)

    assert response.redirect_chain == [("/", 303)]
    assert f"You joined “{tenant.name}” as an admin." in response.content.decode()
    assert Membership.objects.get(tenant=tenant, user=outsider).role == Role.ADMIN
    assert AuditEvent.objects.filter(event_type="invitation.accepted").exists()


def test_declining_on_the_page_makes_nothing(invitation, outsider, tenant):
    response = logged_in_as(outsider).post(f"/invitations/{invitation.pk}/decline")

    assert response.status_code == 303
    assert not Membership.objects.filter(tenant=tenant, user=outsider).exists()
    invitation.refresh_from_db()
    assert invitation.status == Status.DECLINED


def test_someone_else_accepting_on_the_page_gets_404(invitation, tenant):
    intruder = UserFactory()

    response = logged_in_as(intruder).post(f"/invitations/{invitation.pk}/accept")

    assert response.status_code == 404
    assert not Membership.objects.filter(tenant=tenant, user=intruder).exists()


def test_the_answer_forms_are_csrf_protected(invitation, outsider, tenant):
    client = Client(enforce_csrf_checks=True)
    client.force_login(outsider)

    response = client.post(f"/invitations/{invitation.pk}/accept")

    assert response.status_code == 403
    assert not Membership.objects.filter(tenant=tenant, user=outsider).exists()


def test_the_members_page_lists_pending_invitations_with_cancel(invitation, owner, tenant):
    content = logged_in_as(owner).get(f"/tenants/{tenant.pk}/members").content.decode()

    assert "Pending invitations" in content
    assert invitation.email in content
    assert f'action="/tenants/{tenant.pk}/invitations/{invitation.pk}/cancel"' in content


def test_a_plain_member_sees_no_invitations_on_the_members_page(invitation, member, tenant):
    content = logged_in_as(member).get(f"/tenants/{tenant.pk}/members").content.decode()

    assert "Pending invitations" not in content
    assert invitation.email not in content


def test_cancelling_on_the_members_page(invitation, admin, outsider, tenant):
    response = logged_in_as(admin).post(
        f"/tenants/{tenant.pk}/invitations/{invitation.pk}/cancel", follow=True
    )

    assert response.redirect_chain == [(f"/tenants/{tenant.pk}/members", 303)]
    invitation.refresh_from_db()
    assert invitation.status == Status.CANCELLED
    assert "Pending invitations" not in logged_in_as(outsider).get("/").content.decode()


def test_a_plain_member_cannot_cancel_on_the_page(invitation, member, tenant):
    response = logged_in_as(member).post(
        f"/tenants/{tenant.pk}/invitations/{invitation.pk}/cancel", follow=True
    )

    assert "Only an owner or admin may cancel invitations." in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.status == Status.PENDING


def test_inviting_on_the_members_page_shows_the_invitation_not_a_member(owner, tenant):
    client = logged_in_as(owner)

    response = client.post(
        f"/tenants/{tenant.pk}/members",
        {"email": "Grace@Example.com", "role": "member"},
        follow=True,
    )

    content = response.content.decode()
    assert "grace@example.com is invited to join as a member;" in content
    assert 'id="invitation-list"' in content
    assert TenantInvitation.objects.get(tenant=tenant).email == "grace@example.com"
