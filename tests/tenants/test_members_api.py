"""/api/v1/tenants/{id}/members: the role matrix of docs/tenants.md, checked in the database.

Adding is by invitation and consent (SPEC §9): ``test_invitations_api.py``.
"""

import pytest

from audit.models import AuditEvent
from tenants.models import Membership
from tests.factories import MembershipFactory, UserFactory
from tests.tenants.helpers import client_for, jwt_for

pytestmark = pytest.mark.django_db

Role = Membership.Role
OWNER, ADMIN, MEMBER = Role.OWNER, Role.ADMIN, Role.MEMBER


def members_url(tenant) -> str:
    return f"/api/v1/tenants/{tenant.pk}/members"


def member_url(tenant, user) -> str:
    return f"{members_url(tenant)}/{user.pk}"


def role_of(tenant, user):
    return (
        Membership.objects.filter(tenant=tenant, user=user).values_list("role", flat=True).first()
    )


@pytest.fixture
def last_owner(owner):
    """``owner`` is the tenant's only owner."""
    return owner


# --- list ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [OWNER, ADMIN, MEMBER])
def test_every_member_lists_the_members(member_with_role, tenant, role):
    user = member_with_role(role)
    other = member_with_role(MEMBER)

    response = client_for(jwt_for(user)).get(members_url(tenant))

    assert response.status_code == 200
    rows = {row["email"]: row for row in response.json()["results"]}
    assert set(rows) == {user.email, other.email}
    assert rows[user.email]["role"] == role
    assert rows[other.email]["user_id"] == other.pk


def test_an_outsider_listing_members_gets_404_tenant_not_found(outsider, tenant):
    response = client_for(jwt_for(outsider)).get(members_url(tenant))

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"


def test_reading_a_user_who_is_not_a_member_gets_404_not_found(member, outsider, tenant):
    response = client_for(jwt_for(member)).get(member_url(tenant, outsider))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- add: POST members invites instead (SPEC §9), see test_invitations_api.py ---------------


# --- change role --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor_role", "target_role", "new_role", "allowed"),
    [
        (OWNER, MEMBER, ADMIN, True),
        (OWNER, ADMIN, MEMBER, True),
        (OWNER, MEMBER, OWNER, True),
        (OWNER, OWNER, ADMIN, True),  # another owner remains: the actor
        (ADMIN, MEMBER, ADMIN, True),
        (ADMIN, ADMIN, MEMBER, True),
        (ADMIN, MEMBER, OWNER, False),
        (ADMIN, OWNER, MEMBER, False),
        (MEMBER, MEMBER, ADMIN, False),
        (MEMBER, ADMIN, MEMBER, False),
    ],
)
def test_changing_roles_follows_the_role_matrix(
    member_with_role, tenant, actor_role, target_role, new_role, allowed
):
    actor = member_with_role(actor_role)
    target = member_with_role(target_role)

    response = client_for(jwt_for(actor)).patch(member_url(tenant, target), {"role": new_role})

    if allowed:
        assert response.status_code == 200
        assert response.json()["role"] == new_role
        assert role_of(tenant, target) == new_role
        event = AuditEvent.objects.get(event_type="member.role_changed")
        assert event.data == {"user_id": target.pk, "from": target_role, "to": new_role}
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "insufficient_permissions"
        assert role_of(tenant, target) == target_role


def test_the_last_owner_cannot_be_demoted(last_owner, tenant):
    response = client_for(jwt_for(last_owner)).patch(
        member_url(tenant, last_owner), {"role": ADMIN}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "owner" in response.json()["errors"]["role"][0]
    assert role_of(tenant, last_owner) == OWNER


def test_an_owner_may_step_down_while_another_owner_remains(member_with_role, tenant):
    first, second = member_with_role(OWNER), member_with_role(OWNER)

    response = client_for(jwt_for(first)).patch(member_url(tenant, first), {"role": MEMBER})

    assert response.status_code == 200
    assert role_of(tenant, first) == MEMBER
    assert role_of(tenant, second) == OWNER


def test_an_admin_may_step_down_but_not_up(admin, tenant):
    client = client_for(jwt_for(admin))

    up = client.patch(member_url(tenant, admin), {"role": OWNER})
    down = client.patch(member_url(tenant, admin), {"role": MEMBER})

    assert up.status_code == 403
    assert down.status_code == 200
    assert role_of(tenant, admin) == MEMBER


def test_put_changes_a_members_role_like_patch(owner, member, tenant):
    response = client_for(jwt_for(owner)).put(member_url(tenant, member), {"role": ADMIN})

    assert response.status_code == 200
    assert response.json()["role"] == ADMIN
    assert role_of(tenant, member) == ADMIN


def test_changing_the_role_of_a_non_member_gets_404_not_found(owner, outsider, tenant):
    response = client_for(jwt_for(owner)).patch(member_url(tenant, outsider), {"role": ADMIN})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert role_of(tenant, outsider) is None


@pytest.mark.parametrize("user_id", ["abc", "99999999999999999999999999"])
def test_a_malformed_user_id_gets_404(owner, tenant, user_id):
    response = client_for(jwt_for(owner)).patch(f"{members_url(tenant)}/{user_id}", {"role": ADMIN})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- remove -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor_role", "target_role", "allowed"),
    [
        (OWNER, MEMBER, True),
        (OWNER, ADMIN, True),
        (OWNER, OWNER, True),  # another owner remains: the actor
        (ADMIN, MEMBER, True),
        (ADMIN, ADMIN, True),
        (ADMIN, OWNER, False),
        (MEMBER, MEMBER, False),
        (MEMBER, ADMIN, False),
        (MEMBER, OWNER, False),
    ],
)
def test_removing_members_follows_the_role_matrix(
    member_with_role, tenant, actor_role, target_role, allowed
):
    actor = member_with_role(actor_role)
    target = member_with_role(target_role)

    response = client_for(jwt_for(actor)).delete(member_url(tenant, target))

    if allowed:
        assert response.status_code == 204
        assert role_of(tenant, target) is None
        event = AuditEvent.objects.get(event_type="member.removed")
        assert event.tenant_id == tenant.pk and event.data["user_id"] == target.pk
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "insufficient_permissions"
        assert role_of(tenant, target) == target_role


@pytest.mark.parametrize("role", [MEMBER, ADMIN])
def test_a_member_may_leave_on_their_own(member_with_role, tenant, role):
    user = member_with_role(role)

    response = client_for(jwt_for(user)).delete(member_url(tenant, user))

    assert response.status_code == 204
    assert role_of(tenant, user) is None


def test_the_last_owner_cannot_leave(last_owner, tenant):
    response = client_for(jwt_for(last_owner)).delete(member_url(tenant, last_owner))

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert role_of(tenant, last_owner) == OWNER


def test_a_user_cannot_be_removed_from_their_only_tenant(owner, tenant):
    lonely = UserFactory()
    MembershipFactory(tenant=tenant, user=lonely)

    response = client_for(jwt_for(owner)).delete(member_url(tenant, lonely))

    assert response.status_code == 400
    assert role_of(tenant, lonely) == MEMBER


def test_removing_a_member_from_a_tenant_out_of_reach_gets_404(outsider, member, tenant):
    response = client_for(jwt_for(outsider)).delete(member_url(tenant, member))

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"
    assert role_of(tenant, member) == MEMBER
