import re

import pytest

from audit.models import AuditEvent
from tenants.models import Membership, Tenant, TenantInvitation
from tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db
Role = Membership.Role


@pytest.fixture
def team(user):
    """A tenant the logged-in user owns, besides their personal one."""
    return MembershipFactory(user=user, role=Role.OWNER, tenant__name="Analytical Engines").tenant


def _member(tenant, role=Role.MEMBER, **user_fields):
    user = UserFactory(**user_fields)
    MembershipFactory(user=user, role=Role.OWNER)  # their personal tenant
    return MembershipFactory(tenant=tenant, user=user, role=role)


def test_tenant_list_shows_the_users_tenants_with_role_and_switch(logged_in, team):
    content = logged_in.get("/tenants").content.decode()

    assert "Personal" in content
    assert "Analytical Engines" in content
    assert "Owner" in content
    assert 'action="/tenants/switch"' in content
    assert str(team.pk) in content


def test_tenant_list_hides_other_tenants(logged_in):
    other = TenantFactory(name="Somebody Else Ltd")

    assert other.name not in logged_in.get("/tenants").content.decode()


def test_create_tenant_makes_the_user_its_owner_without_switching_to_it(logged_in, user):
    personal = user.memberships.get().tenant
    logged_in.get("/tenants")  # working in the personal tenant

    response = logged_in.post("/tenants", {"name": "Difference Engines"})

    assert response.status_code == 303
    tenant = Tenant.objects.get(name="Difference Engines")
    assert Membership.objects.get(tenant=tenant, user=user).role == Role.OWNER
    assert logged_in.session["current_tenant"] == {"id": str(personal.pk), "name": "Personal"}
    message = logged_in.get("/tenants").content.decode()
    assert "You are still working in “Personal”" in message


def test_create_tenant_with_a_taken_slug_shows_the_error_beside_the_field(logged_in):
    TenantFactory(slug="taken")

    response = logged_in.post("/tenants", {"name": "Dup", "slug": "taken"})

    assert response.status_code == 400
    assert re.search(r'id="id_slug_error".*already taken', response.content.decode(), re.S)


def test_create_tenant_without_a_name_shows_the_error_beside_the_field(logged_in):
    response = logged_in.post("/tenants", {"name": ""})

    assert response.status_code == 400
    assert re.search(r'id="id_name_error"', response.content.decode())


def test_switch_sets_the_current_tenant_shown_in_the_header(logged_in, team):
    response = logged_in.post("/tenants/switch", {"tenant_id": str(team.pk)})

    assert response.status_code == 303
    header = logged_in.get("/").content.decode().split("</header>")[0]
    assert "Tenant:</span> Analytical Engines" in header


def test_switch_to_a_tenant_of_others_is_404(logged_in):
    other = TenantFactory()

    response = logged_in.post("/tenants/switch", {"tenant_id": str(other.pk)})

    assert response.status_code == 404
    assert logged_in.session.get("current_tenant", {}) in ({}, None) or logged_in.session[
        "current_tenant"
    ]["id"] != str(other.pk)


def test_switch_follows_a_same_site_next_only(logged_in, team):
    safe = logged_in.post("/tenants/switch", {"tenant_id": str(team.pk), "next": "/keys"})
    unsafe = logged_in.post(
        "/tenants/switch", {"tenant_id": str(team.pk), "next": "https://evil.example/"}
    )

    assert safe["Location"] == "/keys"
    assert unsafe["Location"] == "/tenants"


def test_switch_refuses_a_post_without_a_csrf_token(csrf_client, team):
    assert csrf_client.post("/tenants/switch", {"tenant_id": str(team.pk)}).status_code == 403


def test_members_page_lists_members_with_role_forms(logged_in, team):
    colleague = _member(team, email="babbage@example.com")

    content = logged_in.get(f"/tenants/{team.pk}/members").content.decode()

    assert "babbage@example.com" in content
    assert f'action="/tenants/{team.pk}/members/{colleague.user_id}/role"' in content
    assert f'<label class="visually-hidden" for="role-{colleague.user_id}">' in content


def test_members_page_of_a_tenant_the_user_is_not_in_is_404(logged_in):
    other = TenantFactory()

    assert logged_in.get(f"/tenants/{other.pk}/members").status_code == 404


def test_invite_by_email_invites_without_adding(logged_in, team):
    invitee = UserFactory(email="babbage@example.com")

    response = logged_in.post(
        f"/tenants/{team.pk}/members", {"email": "babbage@example.com", "role": "admin"}
    )

    assert response.status_code == 303
    assert not Membership.objects.filter(tenant=team, user=invitee).exists()
    assert TenantInvitation.objects.get(tenant=team, email=invitee.email).role == Role.ADMIN
    assert AuditEvent.objects.filter(event_type="invitation.created", tenant_id=team.pk).exists()


def test_invite_of_an_existing_member_shows_the_error_beside_the_field(logged_in, team):
    colleague = _member(team)

    response = logged_in.post(
        f"/tenants/{team.pk}/members", {"email": colleague.user.email, "role": "member"}
    )

    assert response.status_code == 400
    assert re.search(r'id="id_email_error".*already a member', response.content.decode(), re.S)


def test_plain_member_sees_no_invite_form(client, team):
    member = _member(team)
    client.force_login(member.user)

    content = client.get(f"/tenants/{team.pk}/members").content.decode()

    assert "Invite by email" not in content
    assert "/role" not in content


def test_plain_member_posting_an_invite_is_refused(client, team):
    member = _member(team)
    UserFactory(email="babbage@example.com")
    client.force_login(member.user)

    response = client.post(
        f"/tenants/{team.pk}/members", {"email": "babbage@example.com", "role": "member"}
    )

    assert response.status_code == 403
    assert b"Only an owner or admin may invite members." in response.content
    assert not TenantInvitation.objects.exists()


def test_change_role_updates_the_membership(logged_in, team):
    colleague = _member(team)

    response = logged_in.post(
        f"/tenants/{team.pk}/members/{colleague.user_id}/role", {"role": "admin"}
    )

    assert response.status_code == 303
    colleague.refresh_from_db()
    assert colleague.role == Role.ADMIN


def test_demoting_the_last_owner_shows_why_not(logged_in, user, team):
    response = logged_in.post(
        f"/tenants/{team.pk}/members/{user.pk}/role", {"role": "member"}, follow=True
    )

    assert "A tenant must keep at least one owner" in response.content.decode()
    assert Membership.objects.get(tenant=team, user=user).role == Role.OWNER


def test_remove_asks_for_confirmation_then_removes(logged_in, team):
    colleague = _member(team, email="babbage@example.com")
    url = f"/tenants/{team.pk}/members/{colleague.user_id}/remove"

    confirm = logged_in.get(url)
    response = logged_in.post(url)

    assert "Remove babbage@example.com?" in confirm.content.decode()
    assert response.status_code == 303
    assert not Membership.objects.filter(pk=colleague.pk).exists()


def test_remove_of_a_non_member_is_404(logged_in, team):
    stranger = UserFactory()

    assert logged_in.post(f"/tenants/{team.pk}/members/{stranger.pk}/remove").status_code == 404


def test_remove_refuses_a_post_without_a_csrf_token(csrf_client, team):
    colleague = _member(team)

    response = csrf_client.post(f"/tenants/{team.pk}/members/{colleague.user_id}/remove")

    assert response.status_code == 403
    assert Membership.objects.filter(pk=colleague.pk).exists()


def test_logging_in_chooses_a_current_tenant_shown_from_the_first_page(client):
    from tests.factories import DEFAULT_PASSWORD

    user = UserFactory()
    tenant = MembershipFactory(user=user, role=Role.OWNER, tenant__name="Difference Engines").tenant

    client.post("/login", {"email": user.email, "password": DEFAULT_PASSWORD})
    page = client.get("/")

    assert client.session["current_tenant"]["id"] == str(tenant.pk)
    assert "Difference Engines" in page.content.decode()
