"""SPEC §9 "Members join by consent": invitations through the API, checked in the database.

The attack this closes (issue 21, row 9): user B added user A's email to B's tenant and got
201 without A's consent; A's JWT and unbound keys on ``/api/v1/agents`` went from 200 to 400
``tenant_id_required``, B's ``keys:verify`` key could read A's keys, and the answer told B
whether the email had an account.
"""

import re
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from tenants.models import Membership, TenantInvitation
from tests.factories import MembershipFactory, StaffUserFactory, TenantFactory, UserFactory
from tests.tenants.helpers import client_for, jwt_for, make_key

pytestmark = pytest.mark.django_db

Role = Membership.Role
Status = TenantInvitation.Status
OWNER, ADMIN, MEMBER = Role.OWNER, Role.ADMIN, Role.MEMBER
VERIFY_URL = "/api/v1/keys/verify"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def members_url(tenant) -> str:
    return f"/api/v1/tenants/{tenant.pk}/members"


def invitations_url(tenant, invitation_id=None) -> str:
    url = f"/api/v1/tenants/{tenant.pk}/invitations"
    return url if invitation_id is None else f"{url}/{invitation_id}"


def answer_url(invitation_id, answer: str) -> str:
    return f"/api/v1/user/invitations/{invitation_id}/{answer}"


def invite(actor, tenant, email, role=MEMBER):
    return client_for(jwt_for(actor)).post(members_url(tenant), {"email": email, "role": role})


def invited_id(actor, tenant, email, role=MEMBER) -> str:
    response = invite(actor, tenant, email, role)
    assert response.status_code == 202, response.content
    return response.json()["invitation_id"]


def role_of(tenant, user):
    return (
        Membership.objects.filter(tenant=tenant, user=user).values_list("role", flat=True).first()
    )


def tenants_of(user) -> set:
    return set(Membership.objects.filter(user=user).values_list("tenant_id", "role"))


def my_invitations(user) -> list:
    response = client_for(jwt_for(user)).get("/api/v1/user/invitations")
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.fixture
def person(outsider):
    """Someone with an account and their personal tenant only: the one invited."""
    return outsider


# --- the invitation and its answer: nothing tells whether an account exists ---------------


def headers_but_the_request_count(response) -> dict:
    """The response's headers, with the rate-limit count (one more request each time) masked."""
    headers = dict(response.headers)
    headers["X-RateLimit-Remaining"] = "N"
    headers["RateLimit"] = re.sub(r";r=\d+", ";r=N", headers["RateLimit"])
    return headers


@time_machine.travel("2026-12-07 10:00:00Z", tick=False)
def test_inviting_answers_202_with_one_body_and_headers_whether_or_not_an_account_exists(
    owner, tenant, person
):
    with_account = invite(owner, tenant, person.email)
    without_account = invite(owner, tenant, "nobody-here@example.com")

    assert with_account.status_code == without_account.status_code == 202
    masked = UUID.sub("ID", with_account.content.decode())
    assert masked == '{"status":"invited","invitation_id":"ID"}'
    assert masked == UUID.sub("ID", without_account.content.decode())
    assert headers_but_the_request_count(with_account) == headers_but_the_request_count(
        without_account
    )
    assert TenantInvitation.objects.filter(tenant=tenant, status=Status.PENDING).count() == 2


def test_an_invitation_is_stored_pending_for_seven_days_with_the_lower_cased_email(
    owner, tenant, person
):
    invitation_id = invited_id(owner, tenant, person.email.upper(), ADMIN)

    invitation = TenantInvitation.objects.get(pk=invitation_id)
    assert invitation.email == person.email
    assert (invitation.role, invitation.status, invitation.invited_by) == (
        ADMIN,
        Status.PENDING,
        owner,
    )
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    event = AuditEvent.objects.get(event_type="invitation.created")
    assert event.tenant_id == tenant.pk and event.data["email"] == person.email


@pytest.mark.parametrize(
    ("actor_role", "new_role", "allowed"),
    [
        (OWNER, MEMBER, True),
        (OWNER, ADMIN, True),
        (OWNER, OWNER, True),
        (ADMIN, MEMBER, True),
        (ADMIN, ADMIN, True),
        (ADMIN, OWNER, False),
        (MEMBER, MEMBER, False),
        (MEMBER, ADMIN, False),
    ],
)
def test_inviting_follows_the_role_matrix(
    member_with_role, tenant, person, actor_role, new_role, allowed
):
    actor = member_with_role(actor_role)

    response = invite(actor, tenant, person.email, new_role)

    if allowed:
        assert response.status_code == 202
        assert TenantInvitation.objects.get(tenant=tenant).role == new_role
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "insufficient_permissions"
        assert not TenantInvitation.objects.exists()
    assert role_of(tenant, person) is None


def test_an_outsider_inviting_gets_404_tenant_not_found(outsider, tenant):
    response = invite(outsider, tenant, "someone@example.com")

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"
    assert not TenantInvitation.objects.exists()


def test_a_key_without_a_write_scope_cannot_invite(owner, tenant):
    raw_key = make_key(owner, scopes=["tenants:read"])

    response = client_for(raw_key).post(members_url(tenant), {"email": "someone@example.com"})

    assert response.status_code == 403
    assert not TenantInvitation.objects.exists()


@pytest.mark.parametrize(
    "body", [{}, {"email": "not-an-email"}, {"email": "a@b.c", "role": "king"}]
)
def test_bad_input_to_invite_gets_400_validation_error(owner, tenant, body):
    response = client_for(jwt_for(owner)).post(members_url(tenant), body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert not TenantInvitation.objects.exists()


def test_inviting_someone_already_a_member_gets_400_and_keeps_their_role(owner, admin, tenant):
    response = invite(owner, tenant, admin.email.upper(), MEMBER)

    assert response.status_code == 400
    assert response.json()["errors"] == {"email": ["This person is already a member."]}
    assert role_of(tenant, admin) == ADMIN
    assert not TenantInvitation.objects.exists()


def test_reinviting_an_open_invitation_renews_the_same_one(owner, admin, tenant, person):
    with time_machine.travel(timezone.now() - timedelta(days=3), tick=False):
        first = invited_id(owner, tenant, person.email, MEMBER)

    second = invited_id(admin, tenant, person.email, ADMIN)

    assert first == second
    invitation = TenantInvitation.objects.get(tenant=tenant)
    assert (invitation.role, invitation.invited_by) == (ADMIN, admin)
    assert invitation.expires_at > timezone.now() + timedelta(days=6, hours=23)
    assert AuditEvent.objects.filter(event_type="invitation.created").count() == 2


def test_reinviting_after_a_decline_makes_a_fresh_invitation(owner, tenant, person):
    first = invited_id(owner, tenant, person.email)
    client_for(jwt_for(person)).post(answer_url(first, "decline"))

    second = invited_id(owner, tenant, person.email)

    assert second != first
    assert [row["id"] for row in my_invitations(person)] == [second]


# --- nothing of the invited person changes until they accept (the row-9 attack) ----------


def test_being_invited_changes_nothing_of_the_invited_person(member_with_role, tenant, person):
    attacker = member_with_role(OWNER)
    verifier_key = make_key(attacker, scopes=["keys:verify"])
    their_key = make_key(person)
    their_jwt = jwt_for(person)
    before = tenants_of(person)
    verify_before = client_for(verifier_key).post(VERIFY_URL, {"key": their_key}, format="json")

    invited_id(attacker, tenant, person.email, OWNER)

    assert tenants_of(person) == before
    assert client_for(their_jwt).get("/api/v1/agents").status_code == 200
    assert client_for(their_key).get("/api/v1/agents").status_code == 200
    verify_after = client_for(verifier_key).post(VERIFY_URL, {"key": their_key}, format="json")
    assert verify_after.json()["valid"] is False
    assert verify_after.json()["code"] == "invalid_api_key"
    assert verify_after.json()["owner"] is None
    assert verify_after.json() == verify_before.json()
    sole_tenant = client_for(their_jwt).get("/api/v1/auth/verify").json()["tenant_id"]
    assert sole_tenant == str(next(iter(before))[0])


def test_the_invited_person_sees_their_invitation(owner, tenant, person):
    invitation_id = invited_id(owner, tenant, person.email.upper(), ADMIN)

    (row,) = my_invitations(person)

    assert row["id"] == invitation_id
    assert row["tenant"] == {"id": str(tenant.pk), "name": tenant.name, "slug": tenant.slug}
    assert row["role"] == ADMIN and row["invited_by"] == owner.email


def test_nobody_else_sees_an_invitation_in_their_list(owner, tenant, person, outsider):
    invited_id(owner, tenant, person.email)

    assert my_invitations(UserFactory()) == []
    assert my_invitations(owner) == []


def test_an_invitation_to_an_email_without_an_account_waits_for_it_to_register(owner, tenant):
    invitation_id = invited_id(owner, tenant, "Newcomer@Example.com")

    response = client_for().post(
        "/api/v1/auth/register",
        {
            "email": "newcomer@example.com",
            "password": "a long enough passphrase 42",
            "confirm_password": "a long enough passphrase 42",
            "first_name": "New",
            "last_name": "Comer",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    newcomer = Membership.objects.get(user__email="newcomer@example.com").user

    assert [row["id"] for row in my_invitations(newcomer)] == [invitation_id]
    assert role_of(tenant, newcomer) is None


# --- accept, decline, cancel, expiry ------------------------------------------------------


def test_accepting_makes_the_member_with_the_invited_role(member_with_role, tenant, person):
    inviter = member_with_role(OWNER)
    verifier_key = make_key(inviter, scopes=["keys:verify"])
    their_key = make_key(person)
    invitation_id = invited_id(inviter, tenant, person.email, ADMIN)

    response = client_for(jwt_for(person)).post(answer_url(invitation_id, "accept"))

    assert response.status_code == 200
    assert response.json() == {
        "status": "accepted",
        "invitation_id": invitation_id,
        "tenant": {"id": str(tenant.pk), "name": tenant.name, "slug": tenant.slug},
        "role": ADMIN,
    }
    assert role_of(tenant, person) == ADMIN
    invitation = TenantInvitation.objects.get(pk=invitation_id)
    assert invitation.status == Status.ACCEPTED and invitation.closed_at is not None
    assert my_invitations(person) == []
    added = AuditEvent.objects.get(event_type="member.added")
    assert added.data["user_id"] == person.pk and added.data["invitation_id"] == invitation_id
    assert AuditEvent.objects.get(event_type="invitation.accepted").tenant_id == tenant.pk
    # By their consent, now: they belong to two tenants, and fellow members' verifiers see them.
    assert client_for(jwt_for(person)).get("/api/v1/agents").json()["code"] == (
        "tenant_id_required"
    )
    verdict = client_for(verifier_key).post(VERIFY_URL, {"key": their_key}, format="json")
    assert verdict.json()["valid"] is True


def test_declining_makes_nothing(owner, tenant, person):
    invitation_id = invited_id(owner, tenant, person.email)
    before = tenants_of(person)

    response = client_for(jwt_for(person)).post(answer_url(invitation_id, "decline"))

    assert response.status_code == 200
    assert response.json()["status"] == "declined" and response.json()["role"] is None
    assert tenants_of(person) == before
    assert TenantInvitation.objects.get(pk=invitation_id).status == Status.DECLINED
    assert AuditEvent.objects.filter(event_type="invitation.declined").exists()
    assert not AuditEvent.objects.filter(event_type="member.added").exists()
    assert client_for(jwt_for(person)).post(answer_url(invitation_id, "accept")).status_code == 404
    assert role_of(tenant, person) is None


def test_a_cancelled_invitation_cannot_be_accepted(owner, tenant, person):
    invitation_id = invited_id(owner, tenant, person.email)

    cancelled = client_for(jwt_for(owner)).delete(invitations_url(tenant, invitation_id))
    accepted = client_for(jwt_for(person)).post(answer_url(invitation_id, "accept"))

    assert cancelled.status_code == 204
    assert accepted.status_code == 404 and accepted.json()["code"] == "not_found"
    assert role_of(tenant, person) is None
    assert my_invitations(person) == []
    assert TenantInvitation.objects.get(pk=invitation_id).status == Status.CANCELLED
    assert AuditEvent.objects.filter(event_type="invitation.cancelled").exists()


def test_an_invitation_expires_after_seven_days(owner, tenant, person):
    created = timezone.now()
    with time_machine.travel(created, tick=False):
        invitation_id = invited_id(owner, tenant, person.email)

    with time_machine.travel(created + timedelta(days=7) - timedelta(minutes=1), tick=False):
        assert [row["id"] for row in my_invitations(person)] == [invitation_id]
    with time_machine.travel(created + timedelta(days=7, seconds=1), tick=False):
        assert my_invitations(person) == []
        assert client_for(jwt_for(owner)).get(invitations_url(tenant)).json()["results"] == []
        response = client_for(jwt_for(person)).post(answer_url(invitation_id, "accept"))

    assert response.status_code == 404
    assert role_of(tenant, person) is None


def test_someone_else_cannot_accept_another_persons_invitation(owner, tenant, person):
    intruder = UserFactory()
    MembershipFactory(user=intruder, role=OWNER)
    invitation_id = invited_id(owner, tenant, person.email)

    accepted = client_for(jwt_for(intruder)).post(answer_url(invitation_id, "accept"))
    declined = client_for(jwt_for(intruder)).post(answer_url(invitation_id, "decline"))

    assert accepted.status_code == declined.status_code == 404
    assert accepted.json()["code"] == "not_found"
    assert role_of(tenant, intruder) is None and role_of(tenant, person) is None
    assert TenantInvitation.objects.get(pk=invitation_id).status == Status.PENDING


def test_the_inviter_cannot_accept_on_the_invited_persons_behalf(owner, tenant, person):
    invitation_id = invited_id(owner, tenant, person.email)

    response = client_for(jwt_for(owner)).post(answer_url(invitation_id, "accept"))

    assert response.status_code == 404
    assert role_of(tenant, person) is None


@pytest.mark.parametrize("invitation_id", ["abc", "00000000-0000-0000-0000-000000000000"])
def test_a_malformed_or_unknown_invitation_id_gets_404(person, invitation_id):
    response = client_for(jwt_for(person)).post(answer_url(invitation_id, "accept"))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_an_api_key_cannot_answer_invitations(owner, tenant, person):
    invitation_id = invited_id(owner, tenant, person.email)
    their_key = make_key(person)

    listed = client_for(their_key).get("/api/v1/user/invitations")
    accepted = client_for(their_key).post(answer_url(invitation_id, "accept"))

    assert listed.status_code == accepted.status_code == 403
    assert accepted.json()["code"] == "insufficient_permissions"
    assert role_of(tenant, person) is None


def test_answering_needs_a_credential(owner, tenant, person):
    invitation_id = invited_id(owner, tenant, person.email)

    response = client_for().post(answer_url(invitation_id, "accept"))

    assert response.status_code == 401
    assert role_of(tenant, person) is None


def test_accepting_when_already_added_by_an_operator_keeps_the_role(owner, tenant, person):
    invitation_id = invited_id(owner, tenant, person.email, ADMIN)
    MembershipFactory(tenant=tenant, user=person, role=MEMBER)

    response = client_for(jwt_for(person)).post(answer_url(invitation_id, "accept"))

    assert response.status_code == 200 and response.json()["role"] == MEMBER
    assert role_of(tenant, person) == MEMBER
    assert TenantInvitation.objects.get(pk=invitation_id).status == Status.ACCEPTED


# --- owners and admins list and cancel -----------------------------------------------------


@pytest.mark.parametrize("role", [OWNER, ADMIN])
def test_owners_and_admins_list_open_invitations(member_with_role, tenant, role):
    actor = member_with_role(role)
    invitation_id = invited_id(actor, tenant, "someone@example.com", MEMBER)

    response = client_for(jwt_for(actor)).get(invitations_url(tenant))
    one = client_for(jwt_for(actor)).get(invitations_url(tenant, invitation_id))

    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["id"] == invitation_id and row["email"] == "someone@example.com"
    assert row["role"] == MEMBER and row["invited_by"] == actor.email
    assert one.status_code == 200 and one.json() == row


@pytest.mark.parametrize("role", [OWNER, ADMIN])
def test_owners_and_admins_cancel_invitations(member_with_role, owner, tenant, role):
    actor = member_with_role(role)
    invitation_id = invited_id(owner, tenant, "someone@example.com")

    response = client_for(jwt_for(actor)).delete(invitations_url(tenant, invitation_id))

    assert response.status_code == 204
    assert TenantInvitation.objects.get(pk=invitation_id).status == Status.CANCELLED


def test_a_plain_member_cannot_list_or_cancel_invitations(owner, member, tenant):
    invitation_id = invited_id(owner, tenant, "someone@example.com")
    client = client_for(jwt_for(member))

    listed = client.get(invitations_url(tenant))
    cancelled = client.delete(invitations_url(tenant, invitation_id))

    assert listed.status_code == cancelled.status_code == 403
    assert cancelled.json()["code"] == "insufficient_permissions"
    assert TenantInvitation.objects.get(pk=invitation_id).status == Status.PENDING


def test_an_outsider_cannot_list_or_cancel_invitations(owner, outsider, tenant):
    invitation_id = invited_id(owner, tenant, "someone@example.com")
    client = client_for(jwt_for(outsider))

    listed = client.get(invitations_url(tenant))
    cancelled = client.delete(invitations_url(tenant, invitation_id))

    assert listed.status_code == cancelled.status_code == 404
    assert cancelled.json()["code"] == "tenant_not_found"
    assert TenantInvitation.objects.get(pk=invitation_id).status == Status.PENDING


def test_an_invitation_of_another_tenant_cannot_be_cancelled_through_yours(owner, tenant):
    other = TenantFactory()
    other_owner = UserFactory()
    MembershipFactory(tenant=other, user=other_owner, role=OWNER)
    theirs = invited_id(other_owner, other, "someone@example.com")

    response = client_for(jwt_for(owner)).delete(invitations_url(tenant, theirs))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert TenantInvitation.objects.get(pk=theirs).status == Status.PENDING


def test_staff_looking_on_may_list_but_not_cancel(owner, tenant):
    staff = StaffUserFactory()
    MembershipFactory(user=staff, role=OWNER)
    invitation_id = invited_id(owner, tenant, "someone@example.com")
    client = client_for(jwt_for(staff))

    assert client.get(invitations_url(tenant)).status_code == 200
    assert client.delete(invitations_url(tenant, invitation_id)).status_code == 403
    assert TenantInvitation.objects.get(pk=invitation_id).status == Status.PENDING


# --- pruneexpired ---------------------------------------------------------------------------


def test_pruneexpired_drops_expired_invitations_and_keeps_open_ones(owner, tenant):
    with time_machine.travel(timezone.now() - timedelta(days=8), tick=False):
        expired = invited_id(owner, tenant, "late@example.com")
    open_one = invited_id(owner, tenant, "soon@example.com")
    out = StringIO()

    call_command("pruneexpired", stdout=out)

    assert set(TenantInvitation.objects.values_list("pk", flat=True)) == {
        TenantInvitation.objects.get(pk=open_one).pk
    }
    assert not TenantInvitation.objects.filter(pk=expired).exists()
    assert "1 expired invitations" in out.getvalue()


def test_inviting_defaults_to_the_member_role(owner, tenant):
    response = client_for(jwt_for(owner)).post(members_url(tenant), {"email": "a@example.com"})

    assert response.status_code == 202
    assert TenantInvitation.objects.get(tenant=tenant).role == MEMBER
