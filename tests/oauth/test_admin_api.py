"""/api/v1/service-clients: the admin API, its permissions, validation and audit trail."""

import uuid

import pytest

from audit.models import AuditEvent
from oauth.crypto import client_secret_matches
from oauth.models import ServiceClient
from tests.factories import (
    MembershipFactory,
    ServiceClientFactory,
    StaffUserFactory,
    TenantFactory,
    UserFactory,
)
from tests.oauth.conftest import bearer, token_by_basic
from tests.tenants.helpers import jwt_for, make_admin_key_then_demote, make_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/service-clients"
FIELDS = {
    "id",
    "client_id",
    "name",
    "tenant_id",
    "scopes",
    "allowed_scopes",
    "is_active",
    "created_by",
    "created_at",
    "secret_rotated_at",
}


@pytest.fixture
def staff():
    return StaffUserFactory()


@pytest.fixture
def admin_api(staff):
    """A staff user's key with the admin scope, as an operator's script holds it."""
    return bearer(make_key(staff, scopes=["admin"], key_type="admin"))


def own_tenant(user):
    """A tenant ``user`` belongs to: the service binds a key only to its owner's tenant."""
    return MembershipFactory(user=user).tenant


def create(api, **body):
    return api.post(URL, {"name": "billing", "scopes": ["agents:read"], **body}, format="json")


# --- who may call it -----------------------------------------------------------------------


def test_anonymous_gets_401(api_client):
    response = api_client.get(URL)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_required"


def test_non_staff_user_gets_403():
    response = bearer(jwt_for(UserFactory())).get(URL)

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"


def test_admin_scope_of_a_non_staff_owner_gets_403():
    api = bearer(make_admin_key_then_demote(UserFactory(), scopes=["admin"]))

    response = create(api)

    assert response.status_code == 403
    assert not ServiceClient.objects.exists()


def test_staff_key_without_the_admin_scope_gets_403(staff):
    api = bearer(make_key(staff, scopes=["read:all", "write:all"]))

    response = api.get(URL)

    assert response.status_code == 403


def test_staff_key_with_the_admin_scope_may_list(admin_api):
    ServiceClientFactory(name="one")

    response = admin_api.get(URL)

    assert response.status_code == 200
    assert [c["name"] for c in response.json()["results"]] == ["one"]
    assert set(response.json()["results"][0]) == FIELDS


def test_staff_user_jwt_may_list(staff):
    assert bearer(jwt_for(staff)).get(URL).status_code == 200


def test_staff_session_may_list(api_client, staff):
    api_client.force_login(staff)

    assert api_client.get(URL).status_code == 200


# --- create --------------------------------------------------------------------------------


def test_create_returns_201_with_the_secret_once(admin_api, staff):
    tenant = TenantFactory()

    response = create(admin_api, scopes="agents:read, agents:write", tenant_id=str(tenant.pk))

    assert response.status_code == 201
    body = response.json()
    assert set(body) == FIELDS | {"client_secret"}
    assert response["Cache-Control"] == "no-store"
    client = ServiceClient.objects.get(client_id=body["client_id"])
    assert (client.name, client.scopes, client.tenant_id) == (
        "billing",
        ["agents:read", "agents:write"],
        tenant.pk,
    )
    assert body["created_by"] == staff.pk and client.created_by == staff
    assert body["client_secret"].startswith("kwcs_") and len(body["client_secret"]) >= 48
    assert body["client_secret"] not in client.secret_hash
    assert client_secret_matches(body["client_secret"], client.secret_hash)
    detail = admin_api.get(f"{URL}/{client.client_id}").json()
    assert "client_secret" not in detail and "secret_hash" not in detail


def test_the_created_credentials_obtain_a_token(admin_api, api_client):
    body = create(admin_api).json()
    client = ServiceClient.objects.get(client_id=body["client_id"])
    client.raw_secret = body["client_secret"]

    response = token_by_basic(api_client, client)

    assert response.status_code == 200
    assert response.json()["scope"] == "agents:read"


def test_create_is_audited_without_the_secret(admin_api, staff):
    body = create(admin_api).json()

    event = AuditEvent.objects.get(event_type="service_client.created")
    assert event.target_id == body["client_id"]
    assert event.actor == staff
    assert event.actor_key_prefix
    assert body["client_secret"] not in str(event.data)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ""}, "scopes"),
        ({"scopes": "Agents:Read"}, "scopes"),
        ({"scopes": [1, 2]}, "scopes"),
        ({"scopes": {"a": 1}}, "scopes"),
        ({"scopes": ["x" * 65]}, "scopes"),
        ({"scopes": [f"s{n}:read" for n in range(51)]}, "scopes"),
        ({"tenant_id": "not-a-uuid"}, "tenant_id"),
        ({"tenant_id": str(uuid.uuid4())}, "tenant_id"),
    ],
)
def test_invalid_create_gets_400_validation_error(admin_api, body, field):
    response = create(admin_api, **body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["errors"]
    assert not ServiceClient.objects.exists()


def test_create_without_a_name_gets_400(admin_api):
    response = admin_api.post(URL, {"scopes": ["a:read"]}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["errors"]


def test_create_by_form_post_works_too(admin_api):
    response = admin_api.post(URL, {"name": "form", "scopes": "a:read b:read"})

    assert response.status_code == 201
    assert response.json()["scopes"] == ["a:read", "b:read"]


def test_create_by_form_post_with_the_scopes_field_repeated(admin_api):
    response = admin_api.post(
        URL,
        "name=form&scopes=a:read&scopes=b:read",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 201, response.content
    assert ServiceClient.objects.get(name="form").scopes == ["a:read", "b:read"]


def test_create_accepts_allowed_scopes_as_the_name_of_scopes(admin_api):
    response = admin_api.post(
        URL, {"name": "alias", "allowed_scopes": ["agents:read"]}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["allowed_scopes"] == ["agents:read"]
    assert ServiceClient.objects.get(name="alias").scopes == ["agents:read"]


def test_the_id_field_addresses_the_client(admin_api):
    created = create(admin_api).json()

    response = admin_api.get(f"{URL}/{created['id']}")

    assert created["id"] == created["client_id"]
    assert response.status_code == 200
    assert response.json()["id"] == created["client_id"]


def test_patch_accepts_allowed_scopes_as_the_name_of_scopes(admin_api, service_client):
    response = admin_api.patch(
        f"{URL}/{service_client.client_id}", {"allowed_scopes": "agents:read"}, format="json"
    )

    assert response.status_code == 200, response.content
    service_client.refresh_from_db()
    assert service_client.scopes == ["agents:read"]


# --- tenant-bound callers --------------------------------------------------------------------


def test_tenant_bound_admin_key_creates_in_its_own_tenant_and_sees_only_it(staff):
    tenant = own_tenant(staff)
    ServiceClientFactory(name="elsewhere", tenant=TenantFactory())
    api = bearer(make_key(staff, scopes=["admin"], key_type="admin", tenant=tenant))

    created = create(api)
    listed = api.get(URL).json()["results"]

    assert created.status_code == 201
    assert created.json()["tenant_id"] == str(tenant.pk)
    assert [c["name"] for c in listed] == ["billing"]


def test_tenant_bound_admin_key_naming_another_tenant_gets_403(staff):
    api = bearer(make_key(staff, scopes=["admin"], key_type="admin", tenant=own_tenant(staff)))

    response = create(api, tenant_id=str(TenantFactory().pk))

    assert response.status_code == 403
    assert response.json()["code"] == "tenant_mismatch"


def test_tenant_bound_admin_key_gets_404_for_another_tenants_client(staff):
    api = bearer(make_key(staff, scopes=["admin"], key_type="admin", tenant=own_tenant(staff)))
    other = ServiceClientFactory(tenant=TenantFactory())

    assert api.get(f"{URL}/{other.client_id}").status_code == 404


# --- list filters ------------------------------------------------------------------------------


def test_list_filters_by_active_and_tenant(admin_api):
    tenant = TenantFactory()
    ServiceClientFactory(name="active", tenant=tenant)
    ServiceClientFactory(name="inactive", is_active=False)

    inactive = admin_api.get(URL, {"is_active": "false"}).json()["results"]
    of_tenant = admin_api.get(URL, {"tenant_id": str(tenant.pk)}).json()["results"]

    assert [c["name"] for c in inactive] == ["inactive"]
    assert [c["name"] for c in of_tenant] == ["active"]


@pytest.mark.parametrize("params", [{"is_active": "maybe"}, {"tenant_id": "nope"}])
def test_malformed_filters_get_400(admin_api, params):
    response = admin_api.get(URL, params)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


# --- read, update, delete ------------------------------------------------------------------


@pytest.mark.parametrize("client_id", [str(uuid.uuid4()), "not-a-uuid", "1", "%00"])
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_or_malformed_id_gets_404_not_found(admin_api, client_id, method):
    response = getattr(admin_api, method)(f"{URL}/{client_id}", {}, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_unknown_id_gets_404_on_rotate(admin_api):
    response = admin_api.post(f"{URL}/{uuid.uuid4()}/rotate-secret")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_read_one(admin_api, service_client):
    response = admin_api.get(f"{URL}/{service_client.client_id}")

    assert response.status_code == 200
    assert response.json()["client_id"] == str(service_client.client_id)
    assert response.json()["scopes"] == ["probe:read", "agents:read"]


def test_patch_renames_rescopes_and_deactivates(admin_api, service_client):
    response = admin_api.patch(
        f"{URL}/{service_client.client_id}",
        {"name": "renamed", "scopes": ["agents:read"], "is_active": False},
        format="json",
    )

    assert response.status_code == 200
    service_client.refresh_from_db()
    assert (service_client.name, service_client.scopes, service_client.is_active) == (
        "renamed",
        ["agents:read"],
        False,
    )
    event = AuditEvent.objects.get(event_type="service_client.updated")
    assert event.data["changes"]["is_active"] == [True, False]


def test_deactivated_client_gets_invalid_client_at_the_token_endpoint(
    admin_api, service_client, api_client
):
    admin_api.patch(f"{URL}/{service_client.client_id}", {"is_active": False}, format="json")

    response = token_by_basic(api_client, service_client)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_patch_cannot_move_a_client_to_another_tenant(admin_api, service_client):
    response = admin_api.patch(
        f"{URL}/{service_client.client_id}", {"tenant_id": str(TenantFactory().pk)}, format="json"
    )

    assert response.status_code == 400
    assert "tenant_id" in response.json()["errors"]


def test_patch_echoing_the_same_tenant_is_fine(admin_api, service_client):
    response = admin_api.patch(
        f"{URL}/{service_client.client_id}", {"tenant_id": None, "name": "same"}, format="json"
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    "body", [{"scopes": []}, {"name": "  "}, {"is_active": "perhaps"}, {"scopes": "BAD SCOPE!"}]
)
def test_invalid_patch_gets_400_and_changes_nothing(admin_api, service_client, body):
    response = admin_api.patch(f"{URL}/{service_client.client_id}", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    service_client.refresh_from_db()
    assert service_client.name == "billing" and service_client.is_active


def test_put_is_not_allowed(admin_api, service_client):
    response = admin_api.put(f"{URL}/{service_client.client_id}", {}, format="json")

    assert response.status_code == 405


def test_delete_removes_the_client_and_is_audited(admin_api, service_client):
    response = admin_api.delete(f"{URL}/{service_client.client_id}")

    assert response.status_code == 204
    assert not ServiceClient.objects.exists()
    event = AuditEvent.objects.get(event_type="service_client.deleted")
    assert event.target_id == str(service_client.client_id)


# --- rotate ----------------------------------------------------------------------------------


def test_rotate_returns_the_new_secret_once_and_the_old_stops(
    admin_api, service_client, api_client
):
    old_secret = service_client.raw_secret

    response = admin_api.post(f"{URL}/{service_client.client_id}/rotate-secret")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == FIELDS | {"client_secret"}
    assert body["client_secret"] != old_secret
    assert body["secret_rotated_at"] is not None
    assert response["Cache-Control"] == "no-store"
    assert token_by_basic(api_client, service_client).status_code == 401
    service_client.raw_secret = body["client_secret"]
    assert token_by_basic(api_client, service_client).status_code == 200
    event = AuditEvent.objects.get(event_type="service_client.rotated")
    assert body["client_secret"] not in str(event.data) and old_secret not in str(event.data)


def test_rotate_needs_admin(service_client):
    response = bearer(jwt_for(UserFactory())).post(
        f"{URL}/{service_client.client_id}/rotate-secret"
    )

    assert response.status_code == 403
