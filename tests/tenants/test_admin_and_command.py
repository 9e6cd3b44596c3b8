"""Operators: the createtenant command and the tenants admin."""

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from tenants.models import Membership, Tenant
from tests.factories import AgentFactory, MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def createtenant(*args) -> str:
    out = StringIO()
    call_command("createtenant", *args, stdout=out)
    return out.getvalue()


def test_createtenant_prints_the_id_alone_and_makes_the_owner(db):
    owner = UserFactory(email="ops@example.com")

    output = createtenant("--name", "Acme", "--slug", "acme", "--owner", "OPS@example.com")

    tenant_id = uuid.UUID(output.strip())
    assert output.strip().splitlines() == [str(tenant_id)]
    tenant = Tenant.objects.get(pk=tenant_id)
    assert (tenant.name, tenant.slug) == ("Acme", "acme")
    assert Membership.objects.get(tenant=tenant).user == owner
    assert AuditEvent.objects.filter(event_type="tenant.created", tenant_id=tenant_id).exists()


def test_createtenant_derives_a_slug_from_the_name(db):
    UserFactory(email="ops@example.com")

    tenant_id = createtenant("--name", "Blue Moon", "--owner", "ops@example.com").strip()

    assert Tenant.objects.get(pk=tenant_id).slug == "blue-moon"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "X", "--owner", "nobody@example.com"], "No user"),
        (["--name", "X", "--slug", "taken", "--owner", "ops@example.com"], "taken"),
        (["--name", "X", "--slug", "bad slug", "--owner", "ops@example.com"], "--slug"),
        (["--name", " ", "--owner", "ops@example.com"], "--name"),
    ],
)
def test_createtenant_refuses_bad_input_and_creates_nothing(db, args, message):
    UserFactory(email="ops@example.com")
    TenantFactory(slug="taken")
    before = Tenant.objects.count()

    with pytest.raises(CommandError, match=message):
        createtenant(*args)

    assert Tenant.objects.count() == before


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_tenant_admin_searches_by_name_and_slug(admin_client):
    TenantFactory(name="Needle Corp", slug="needle")
    TenantFactory(name="Haystack", slug="hay")

    by_name = admin_client.get("/admin/tenants/tenant/", {"q": "Needle"})
    by_slug = admin_client.get("/admin/tenants/tenant/", {"q": "needle"})

    assert by_name.status_code == 200
    assert b"Needle Corp" in by_name.content and b"Haystack" not in by_name.content
    assert b"Needle Corp" in by_slug.content


def test_the_tenant_admin_shows_members_inline(admin_client):
    membership = MembershipFactory(role=Membership.Role.OWNER)

    response = admin_client.get(f"/admin/tenants/tenant/{membership.tenant.pk}/change/")

    assert response.status_code == 200
    assert b"memberships-0-role" in response.content


def test_the_tenant_admin_refuses_a_tenant_without_an_owner(admin_client):
    user = UserFactory()

    response = admin_client.post(
        "/admin/tenants/tenant/add/",
        {
            "name": "Ownerless",
            "slug": "ownerless",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": str(user.pk),
            "memberships-0-role": "member",
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert b"at least one owner" in response.content
    assert not Tenant.objects.filter(slug="ownerless").exists()


def test_adding_a_tenant_in_the_admin_is_audited(admin_client):
    user = UserFactory()

    response = admin_client.post(
        "/admin/tenants/tenant/add/",
        {
            "name": "Via Admin",
            "slug": "via-admin",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": str(user.pk),
            "memberships-0-role": "owner",
        },
    )

    assert response.status_code == 302
    tenant = Tenant.objects.get(slug="via-admin")
    assert Membership.objects.get(tenant=tenant).user == user
    types = set(AuditEvent.objects.filter(tenant_id=tenant.pk).values_list("event_type", flat=True))
    assert types == {"tenant.created", "member.added"}


def test_the_agent_admin_lists_agents(admin_client):
    agent = AgentFactory(name="Listed agent")

    response = admin_client.get("/admin/agents/agent/", {"q": agent.tenant.slug})

    assert response.status_code == 200
    assert b"Listed agent" in response.content


def change_tenant(admin_client, tenant, memberships, **fields):
    """POST the tenant's admin change form with ``memberships``: (membership|None, user, role,
    delete) rows, existing rows first."""
    data = {
        "name": fields.get("name", tenant.name),
        "slug": fields.get("slug", tenant.slug),
        "memberships-TOTAL_FORMS": str(len(memberships)),
        "memberships-INITIAL_FORMS": str(sum(1 for m, *_ in memberships if m is not None)),
    }
    for n, (membership, user, role, delete) in enumerate(memberships):
        if membership is not None:
            data[f"memberships-{n}-id"] = str(membership.pk)
            data[f"memberships-{n}-tenant"] = str(tenant.pk)
        data[f"memberships-{n}-user"] = str(user.pk)
        data[f"memberships-{n}-role"] = role
        if delete:
            data[f"memberships-{n}-DELETE"] = "on"
    return admin_client.post(f"/admin/tenants/tenant/{tenant.pk}/change/", data)


def test_renaming_a_tenant_in_the_admin_goes_through_the_service(admin_client):
    owner = MembershipFactory(role=Membership.Role.OWNER)
    tenant = owner.tenant

    response = change_tenant(
        admin_client, tenant, [(owner, owner.user, "owner", False)], name="Renamed"
    )

    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.name == "Renamed"
    event = AuditEvent.objects.get(event_type="tenant.updated", tenant_id=tenant.pk)
    assert event.data["after"] == {"name": "Renamed"}


def test_handing_over_ownership_in_one_admin_save_keeps_an_owner(admin_client):
    owner = MembershipFactory(role=Membership.Role.OWNER)
    tenant = owner.tenant
    member = MembershipFactory(tenant=tenant, role=Membership.Role.MEMBER)

    response = change_tenant(
        admin_client,
        tenant,
        [(owner, owner.user, "member", False), (member, member.user, "owner", False)],
    )

    assert response.status_code == 302
    roles = dict(Membership.objects.filter(tenant=tenant).values_list("user_id", "role"))
    assert roles == {owner.user_id: "member", member.user_id: "owner"}
    assert AuditEvent.objects.filter(event_type="member.role_changed").count() == 2


def test_the_admin_refuses_to_remove_a_member_from_their_only_tenant(admin_client):
    owner = MembershipFactory(role=Membership.Role.OWNER)
    tenant = owner.tenant
    loner = MembershipFactory(tenant=tenant, role=Membership.Role.MEMBER)

    response = change_tenant(
        admin_client,
        tenant,
        [(owner, owner.user, "owner", False), (loner, loner.user, "member", True)],
    )

    assert response.status_code == 200  # the form again, with the error
    assert b"belongs to no other tenant" in response.content
    assert Membership.objects.filter(pk=loner.pk).exists()


def test_the_admin_removes_a_member_who_keeps_another_tenant(admin_client):
    owner = MembershipFactory(role=Membership.Role.OWNER)
    tenant = owner.tenant
    leaving = MembershipFactory(tenant=tenant, role=Membership.Role.MEMBER)
    MembershipFactory(user=leaving.user)

    response = change_tenant(
        admin_client,
        tenant,
        [(owner, owner.user, "owner", False), (leaving, leaving.user, "member", True)],
    )

    assert response.status_code == 302
    assert not Membership.objects.filter(pk=leaving.pk).exists()
    assert AuditEvent.objects.filter(event_type="member.removed", tenant_id=tenant.pk).exists()


def test_the_admin_refuses_to_add_an_inactive_user(admin_client):
    owner = MembershipFactory(role=Membership.Role.OWNER)
    inactive = UserFactory(is_active=False)

    response = change_tenant(
        admin_client,
        owner.tenant,
        [(owner, owner.user, "owner", False), (None, inactive, "member", False)],
    )

    assert response.status_code == 200
    assert b"is not an active user" in response.content
    assert not Membership.objects.filter(user=inactive).exists()


def test_the_admin_will_not_delete_a_tenant_that_is_a_members_only_one(admin_client):
    owner = MembershipFactory(role=Membership.Role.OWNER)
    url = f"/admin/tenants/tenant/{owner.tenant.pk}/delete/"

    response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 200  # the confirmation page, naming what protects it
    assert owner.user.email.encode() in response.content
    assert Tenant.objects.filter(pk=owner.tenant.pk).exists()


def test_the_admin_deletes_a_tenant_through_the_service(admin_client):
    owner = MembershipFactory(role=Membership.Role.OWNER)
    MembershipFactory(user=owner.user)  # the owner keeps another tenant
    tenant = owner.tenant

    response = admin_client.post(f"/admin/tenants/tenant/{tenant.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert AuditEvent.objects.filter(event_type="tenant.deleted", tenant_id=tenant.pk).exists()
