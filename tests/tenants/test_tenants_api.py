"""/api/v1/tenants and /api/v1/tenants/{id}: who sees, changes and deletes which tenant."""

import uuid

import pytest

from agents.models import Agent
from apikeys.models import ApiKey
from audit.models import AuditEvent
from tenants.models import Membership, Tenant
from tests.factories import AgentFactory, MembershipFactory, TenantFactory, UserFactory
from tests.tenants.helpers import client_for, jwt_for, make_admin_key_then_demote, make_key

pytestmark = pytest.mark.django_db

LIST = "/api/v1/tenants"
Role = Membership.Role


def detail(tenant) -> str:
    return f"{LIST}/{tenant.pk}"


def events(event_type):
    return list(AuditEvent.objects.filter(event_type=event_type))


# --- list ---------------------------------------------------------------------------------


def test_the_list_shows_the_callers_tenants_with_their_role(owner, tenant, outsider):
    response = client_for(jwt_for(owner)).get(LIST)

    assert response.status_code == 200
    rows = {row["id"]: row["role"] for row in response.json()["results"]}
    assert rows[str(tenant.pk)] == "owner"
    assert len(rows) == 2  # the tenant and the personal one; never the outsider's
    assert not set(rows) & {str(t.pk) for t in Tenant.objects.filter(memberships__user=outsider)}


def test_a_tenant_bound_key_lists_only_its_own_tenant(member, tenant):
    raw_key = make_key(member, tenant=tenant)

    response = client_for(raw_key).get(LIST)

    assert [row["id"] for row in response.json()["results"]] == [str(tenant.pk)]


def test_staff_with_the_admin_scope_may_list_every_tenant(staff, tenant):
    raw_key = make_key(staff, scopes=["admin"], key_type="admin")

    response = client_for(raw_key).get(LIST, {"all": "true"})

    assert response.status_code == 200
    rows = {row["id"]: row["role"] for row in response.json()["results"]}
    assert set(rows) == {str(pk) for pk in Tenant.objects.values_list("pk", flat=True)}
    assert rows[str(tenant.pk)] is None


def test_listing_every_tenant_without_the_admin_scope_gets_403(member):
    response = client_for(jwt_for(member)).get(LIST, {"all": "true"})

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"


# --- create -------------------------------------------------------------------------------


def test_creating_a_tenant_makes_the_caller_its_owner(outsider):
    response = client_for(jwt_for(outsider)).post(LIST, {"name": "Acme Rockets"})

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Acme Rockets" and body["slug"] == "acme-rockets"
    assert body["role"] == "owner"
    stored = Membership.objects.get(tenant_id=body["id"], user=outsider)
    assert stored.role == Role.OWNER
    assert events("tenant.created")[0].tenant_id == uuid.UUID(body["id"])


def test_a_derived_slug_steps_around_taken_ones(outsider):
    TenantFactory(slug="acme")

    response = client_for(jwt_for(outsider)).post(LIST, {"name": "Acme"})

    assert response.json()["slug"] == "acme-2"
    assert Tenant.objects.get(pk=response.json()["id"]).slug == "acme-2"


def test_an_explicit_slug_that_is_taken_gets_400_and_creates_nothing(outsider, tenant):
    before = Tenant.objects.count()

    response = client_for(jwt_for(outsider)).post(LIST, {"name": "Copy", "slug": tenant.slug})

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "slug" in response.json()["errors"]
    assert Tenant.objects.count() == before


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "x" * 151}, {"name": "ok", "slug": "no spaces"}]
)
def test_bad_input_to_create_gets_400_validation_error(outsider, body):
    response = client_for(jwt_for(outsider)).post(LIST, body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_a_tenant_bound_key_cannot_create_tenants(member, tenant):
    raw_key = make_key(member, tenant=tenant)
    before = Tenant.objects.count()

    response = client_for(raw_key).post(LIST, {"name": "Escape"})

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"
    assert Tenant.objects.count() == before


# --- scopes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "method", "allowed"),
    [
        (["tenants:read"], "get", True),
        (["read:all"], "get", True),
        (["agents:read"], "get", False),
        (["tenants:read"], "post", False),
        (["tenants:write"], "post", True),
        (["write:all"], "post", True),
        (["agents:write"], "post", False),
    ],
)
def test_tenant_endpoints_take_tenants_or_wide_scopes(outsider, scopes, method, allowed):
    client = client_for(make_key(outsider, scopes=scopes))
    before = Tenant.objects.count()

    response = getattr(client, method)(LIST, {"name": "Scoped"} if method == "post" else None)

    if allowed:
        assert response.status_code in (200, 201)
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "insufficient_permissions"
        assert Tenant.objects.count() == before


# --- read ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
def test_every_member_reads_the_tenant_with_their_role(member_with_role, tenant, role):
    user = member_with_role(role)

    response = client_for(jwt_for(user)).get(detail(tenant))

    assert response.status_code == 200
    assert response.json()["role"] == role
    assert response.json()["id"] == str(tenant.pk)


@pytest.mark.parametrize("tenant_id", ["other", "random", "not-a-uuid", "1"])
def test_a_tenant_out_of_reach_gets_404_tenant_not_found(outsider, tenant, tenant_id):
    path = {"other": detail(tenant), "random": f"{LIST}/{uuid.uuid4()}"}.get(
        tenant_id, f"{LIST}/{tenant_id}"
    )

    response = client_for(jwt_for(outsider)).get(path)

    assert response.status_code == 404
    assert response.json() == {
        "detail": "Tenant not found, or you are not a member of it.",
        "code": "tenant_not_found",
    }


def test_a_tenant_bound_key_gets_404_for_its_owners_other_tenants(member, tenant):
    other = Membership.objects.exclude(tenant=tenant).get(user=member).tenant
    raw_key = make_key(member, tenant=tenant)

    response = client_for(raw_key).get(detail(other))

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"


def test_staff_with_the_admin_scope_read_any_tenant_with_no_role(staff, tenant):
    raw_key = make_key(staff, scopes=["admin"], key_type="admin")

    response = client_for(raw_key).get(detail(tenant))

    assert response.status_code == 200
    assert response.json()["role"] is None


def test_the_admin_scope_of_a_non_staff_user_reads_no_foreign_tenant(outsider, tenant):
    raw_key = make_admin_key_then_demote(outsider, scopes=["admin", "tenants:read"])

    response = client_for(raw_key).get(detail(tenant))

    assert response.status_code == 404


# --- update -------------------------------------------------------------------------------


def test_the_owner_renames_the_tenant(owner, tenant):
    response = client_for(jwt_for(owner)).patch(
        detail(tenant), {"name": "Renamed", "slug": "renamed"}
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    tenant.refresh_from_db()
    assert (tenant.name, tenant.slug) == ("Renamed", "renamed")
    assert events("tenant.updated")[0].data["after"] == {"name": "Renamed", "slug": "renamed"}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_a_non_owner_cannot_change_the_tenant(member_with_role, tenant, role):
    user = member_with_role(role)

    response = client_for(jwt_for(user)).patch(detail(tenant), {"name": "Mine now", "slug": "mine"})

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"
    tenant.refresh_from_db()
    assert tenant.name != "Mine now"
    assert tenant.slug != "mine"
    assert events("tenant.updated") == []


def test_staff_looking_on_cannot_change_a_tenant_they_are_not_in(staff, tenant):
    raw_key = make_key(staff, scopes=["admin"], key_type="admin")

    response = client_for(raw_key).patch(detail(tenant), {"name": "Staff was here"})

    assert response.status_code == 403
    tenant.refresh_from_db()
    assert tenant.name != "Staff was here"


def test_an_outsider_changing_a_tenant_gets_404_and_changes_nothing(outsider, tenant):
    response = client_for(jwt_for(outsider)).patch(detail(tenant), {"name": "Hijacked"})

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"
    tenant.refresh_from_db()
    assert tenant.name != "Hijacked"


def test_a_slug_taken_by_another_tenant_gets_400(owner, tenant):
    other = TenantFactory()

    response = client_for(jwt_for(owner)).patch(detail(tenant), {"slug": other.slug})

    assert response.status_code == 400
    assert response.json()["errors"]["slug"]
    tenant.refresh_from_db()
    assert tenant.slug != other.slug


# --- delete -------------------------------------------------------------------------------


def test_an_owner_deletes_the_tenant_with_its_agents_and_bound_keys(owner, member, tenant):
    agent = AgentFactory(tenant=tenant)
    make_key(member, tenant=tenant)
    make_key(member)

    response = client_for(jwt_for(owner)).delete(detail(tenant))

    assert response.status_code == 204
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert not Agent.objects.filter(pk=agent.pk).exists()
    assert not ApiKey.objects.filter(tenant_id=tenant.pk).exists()
    assert ApiKey.objects.filter(user=member).count() == 1  # the unbound key lives on
    assert not Membership.objects.filter(tenant_id=tenant.pk).exists()
    assert str(events("tenant.deleted")[0].tenant_id) == str(tenant.pk)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_only_an_owner_deletes_a_tenant(member_with_role, tenant, role):
    user = member_with_role(role)
    agent = AgentFactory(tenant=tenant)

    response = client_for(jwt_for(user)).delete(detail(tenant))

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"
    assert Tenant.objects.filter(pk=tenant.pk).exists()
    assert Agent.objects.filter(pk=agent.pk).exists()


def test_an_outsider_deleting_a_tenant_gets_404_and_it_survives(outsider, tenant):
    response = client_for(jwt_for(outsider)).delete(detail(tenant))

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"
    assert Tenant.objects.filter(pk=tenant.pk).exists()


def test_a_bound_key_of_an_owner_cannot_delete_another_tenant_of_theirs(owner, tenant):
    personal = Membership.objects.exclude(tenant=tenant).get(user=owner).tenant
    raw_key = make_key(owner, tenant=tenant)

    response = client_for(raw_key).delete(detail(personal))

    assert response.status_code == 404
    assert Tenant.objects.filter(pk=personal.pk).exists()


def test_a_tenant_that_is_some_members_only_one_cannot_be_deleted(owner, tenant):
    lonely = UserFactory()
    MembershipFactory(tenant=tenant, user=lonely)

    response = client_for(jwt_for(owner)).delete(detail(tenant))

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert lonely.email in response.json()["errors"]["non_field_errors"][0]
    assert Tenant.objects.filter(pk=tenant.pk).exists()


def test_a_user_cannot_delete_their_only_tenant(db):
    user = UserFactory()
    only = MembershipFactory(user=user, role=Role.OWNER).tenant

    response = client_for(jwt_for(user)).delete(detail(only))

    assert response.status_code == 400
    assert Tenant.objects.filter(pk=only.pk).exists()


def test_put_replaces_the_tenants_name_and_keeps_its_slug(owner, tenant):
    slug = tenant.slug

    response = client_for(jwt_for(owner)).put(detail(tenant), {"name": "Replaced"})

    assert response.status_code == 200
    assert response.json()["name"] == "Replaced"
    tenant.refresh_from_db()
    assert (tenant.name, tenant.slug) == ("Replaced", slug)


def test_put_without_a_name_gets_400_and_changes_nothing(owner, tenant):
    name = tenant.name

    response = client_for(jwt_for(owner)).put(detail(tenant), {"slug": "no-name"})

    assert response.status_code == 400
    assert response.json()["errors"]["name"]
    tenant.refresh_from_db()
    assert (tenant.name, tenant.slug) != ("", "no-name")
    assert tenant.name == name
