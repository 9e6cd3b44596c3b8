"""The API-key admin: columns, search, filters, the add form that shows a key once, the change
form and the actions — every write through ``apikeys.services``, never a secret or hash shown.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys.models import ApiKey, KeyType
from audit.models import AuditEvent
from tests.apikeys_admin.conftest import (
    ADMIN,
    INFO_URL,
    add_form,
    info_status,
    make_key,
    shown_keys,
    use,
)
from tests.factories import MembershipFactory, StaffUserFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def change_form(api_key, **fields):
    """A complete POST of the change form with the key's current values."""
    import json

    return {
        "name": api_key.name,
        "description": api_key.description,
        "scopes": ", ".join(api_key.scopes),
        "endpoints": json.dumps(api_key.endpoints),
        "allowed_ips": ", ".join(api_key.allowed_ips),
        "rate_limit": json.dumps(api_key.rate_limit) if api_key.rate_limit else "",
        "metadata": json.dumps(api_key.metadata),
        "expires_at_0": "",
        "expires_at_1": "",
        **fields,
    }


def action(admin_client, name, keys, **extra):
    return admin_client.post(
        ADMIN, {"action": name, "_selected_action": [str(k.pk) for k in keys], **extra}
    )


def listed(response) -> set[str]:
    return {key.key_prefix for key in response.context["cl"].result_list}


# --- the list -------------------------------------------------------------------------------


def test_changelist_shows_the_columns_and_no_secret_or_hash(admin_client, member):
    tenant = member.memberships.get().tenant
    api_key, raw_key = make_key(member, name="billing sync", tenant=tenant, scopes=["agents:read"])

    response = admin_client.get(ADMIN)

    assert response.status_code == 200
    html = response.content.decode()
    for header in (
        "column-prefix",
        "column-name",
        "column-owner_email",
        "column-access",
        "column-status",
        "column-expires",
        "column-last_used",
        "column-request_count",
    ):
        assert header in html
    for value in (api_key.key_prefix, "billing sync", member.email, tenant.name, "agents:read"):
        assert value in html
    assert raw_key not in html
    assert api_key.key_hash not in html
    assert shown_keys(response) == []


def test_changelist_shows_exact_request_counts_from_buffered_usage(admin_client, member):
    api_key, raw_key = make_key(member)
    use(raw_key, times=3)
    assert ApiKey.objects.get().request_count == 0  # still buffered in the cache

    response = admin_client.get(ADMIN)

    [shown] = response.context["cl"].result_list
    assert (shown.request_count, shown.last_used_at is not None) == (3, True)
    assert '<td class="field-request_count">3</td>' in response.content.decode()
    api_key.refresh_from_db()
    assert api_key.request_count == 3


def test_full_access_is_flagged_in_the_list(admin_client, member):
    make_key(member, name="wide")
    make_key(member, name="narrow", scopes=["agents:read"])

    response = admin_client.get(ADMIN)

    flags = {key.name: key.full_access for key in response.context["cl"].result_list}
    assert flags == {"wide": True, "narrow": False}
    html = response.content.decode()
    assert html.count("⚠ full access") == 1  # a warning on the wide key, not a tick or cross
    assert 'class="field-full_access"' not in html


@pytest.mark.parametrize("field", ["name", "prefix", "email"])
def test_search_finds_a_key_by_name_prefix_or_owner_email(admin_client, field):
    owner = UserFactory(email="searched-owner@example.com")
    wanted, _ = make_key(owner, name="searched name")
    make_key(UserFactory(), name="other")
    term = {"name": "searched name", "prefix": wanted.key_prefix, "email": "searched-owner"}[field]

    response = admin_client.get(ADMIN, {"q": term})

    assert listed(response) == {wanted.key_prefix}


def test_filters_by_type_status_tenant_key_manager_and_expiry(admin_client, member):
    tenant = member.memberships.get().tenant
    plain, _ = make_key(member, name="plain")
    production, _ = make_key(member, key_type=KeyType.PRODUCTION)
    in_tenant, _ = make_key(member, tenant=tenant)
    manager, _ = make_key(member, key_manager=True)
    revoked, _ = make_key(member)
    ApiKey.objects.filter(pk=revoked.pk).update(is_active=False)
    expired, _ = make_key(member, expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(hours=1))

    def filtered(**query):
        return listed(admin_client.get(ADMIN, query))

    assert filtered(key_type__exact="production") == {production.key_prefix}
    assert filtered(status="revoked") == {revoked.key_prefix}
    assert filtered(tenant__id__exact=str(tenant.pk)) == {in_tenant.key_prefix}
    assert filtered(key_manager__exact="1") == {manager.key_prefix}
    assert filtered(expired="yes") == {expired.key_prefix}
    assert expired.key_prefix not in filtered(expired="no")
    assert plain.key_prefix in filtered(expired="no")


# --- adding: the key is shown once ----------------------------------------------------------


def test_add_creates_through_the_service_and_shows_the_key_once(admin_client, admin_user, member):
    tenant = member.memberships.get().tenant

    response = admin_client.post(
        f"{ADMIN}add/",
        add_form(
            member,
            tenant=str(tenant.pk),
            scopes="read:all, agents:write",
            allowed_ips="127.0.0.1, 10.0.0.0/8",
            rate_limit='{"per_minute": 30}',
            metadata='{"team": "ops"}',
        ),
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    [raw_key] = set(shown_keys(response))
    api_key = ApiKey.objects.get(name="deploy bot")
    assert (api_key.user, api_key.tenant, api_key.created_by) == (member, tenant, admin_user)
    assert api_key.scopes == ["agents:write", "read:all"]
    assert api_key.allowed_ips == ["10.0.0.0/8", "127.0.0.1/32"]
    assert (api_key.rate_limit, api_key.metadata) == ({"per_minute": 30}, {"team": "ops"})
    assert raw_key.startswith(api_key.key_prefix)
    assert "will not see it again" in response.content.decode()
    assert info_status(raw_key) == 200
    event = AuditEvent.objects.get(event_type="api_key.created", target_id=str(api_key.pk))
    assert event.actor == admin_user
    assert raw_key not in str(event.data)
    assert shown_keys(admin_client.get(ADMIN)) == []
    assert shown_keys(admin_client.get(f"{ADMIN}{api_key.pk}/change/")) == []


def test_added_key_authenticates_with_its_settings(admin_client, member):
    response = admin_client.post(f"{ADMIN}add/", add_form(member, scopes="agents:read"))
    [raw_key] = set(shown_keys(response))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    info = client.get(INFO_URL)

    assert info.status_code == 200
    assert (info.json()["owner"]["email"], info.json()["scopes"]) == (member.email, ["agents:read"])


def test_staff_creates_an_admin_key_for_a_staff_owner(admin_client):
    staff = StaffUserFactory()

    response = admin_client.post(
        f"{ADMIN}add/", add_form(staff, key_type=KeyType.ADMIN, scopes="admin", key_manager="on")
    )

    assert response.status_code == 200
    api_key = ApiKey.objects.get()
    assert (api_key.key_type, api_key.key_manager, api_key.scopes) == ("admin", True, ["admin"])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"scopes": "not a scope"}, "scopes"),
        ({"scopes": "admin"}, "scopes"),
        ({"key_type": KeyType.ADMIN}, "key_type"),
        ({"key_type": KeyType.RESTRICTED}, "scopes"),
        ({"endpoints": '[{"path": "no-slash", "methods": ["GET"]}]'}, "endpoints"),
        ({"endpoints": "not json"}, "endpoints"),
        ({"allowed_ips": "300.1.1.1"}, "allowed_ips"),
        ({"rate_limit": '{"per_minute": 0}'}, "rate_limit"),
        ({"expires_at_0": "2001-01-01", "expires_at_1": "00:00:00"}, "expires_at"),
        ({"name": ""}, "name"),
    ],
)
def test_add_refuses_what_the_api_refuses_beside_the_field(admin_client, member, fields, field):
    response = admin_client.post(f"{ADMIN}add/", add_form(member, **fields))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors.get(field), response.context[
        "adminform"
    ].form.errors
    assert not ApiKey.objects.exists()
    assert not AuditEvent.objects.filter(event_type="api_key.created").exists()
    assert shown_keys(response) == []


def test_add_refuses_a_tenant_the_owner_is_not_a_member_of(admin_client, member):
    other_tenant = TenantFactory()

    response = admin_client.post(f"{ADMIN}add/", add_form(member, tenant=str(other_tenant.pk)))

    errors = response.context["adminform"].form.errors
    assert errors["tenant"] == ["The owner is not a member of this tenant."]
    assert not ApiKey.objects.exists()


# --- the change form ------------------------------------------------------------------------


def test_change_page_shows_no_secret_or_hash(admin_client, member):
    api_key, raw_key = make_key(member, scopes=["agents:read"])

    response = admin_client.get(f"{ADMIN}{api_key.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert api_key.key_prefix in html
    assert raw_key not in html
    assert api_key.key_hash not in html
    assert "key_hash" not in html
    assert "key_hash" not in response.context["adminform"].form.fields


def test_change_page_shows_exact_usage(admin_client, member):
    api_key, raw_key = make_key(member)
    use(raw_key, times=2)

    response = admin_client.get(f"{ADMIN}{api_key.pk}/change/")

    assert response.context["original"].request_count == 2
    assert f"<td>{timezone.now().date()}</td><td>2</td>" in response.content.decode()


def test_change_narrows_scopes_through_the_service(admin_client, admin_user, member):
    api_key, _ = make_key(member, scopes=["agents:read", "read:all"])

    response = admin_client.post(
        f"{ADMIN}{api_key.pk}/change/",
        change_form(api_key, scopes="agents:read", description="narrowed"),
    )

    assert response.status_code == 302
    api_key.refresh_from_db()
    assert (api_key.scopes, api_key.description) == (["agents:read"], "narrowed")
    event = AuditEvent.objects.get(event_type="api_key.updated", target_id=str(api_key.pk))
    assert event.actor == admin_user
    assert event.data["changed"] == {"scopes": ["agents:read"], "description": "narrowed"}


def test_change_refuses_to_widen_scopes(admin_client, member):
    api_key, _ = make_key(member, scopes=["agents:read"])

    response = admin_client.post(
        f"{ADMIN}{api_key.pk}/change/", change_form(api_key, scopes="agents:read, write:all")
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["scopes"] == [
        "Scopes can only be narrowed: remove, never add."
    ]
    api_key.refresh_from_db()
    assert api_key.scopes == ["agents:read"]
    assert not AuditEvent.objects.filter(event_type="api_key.updated").exists()


def test_change_without_changes_writes_nothing(admin_client, member):
    api_key, _ = make_key(member, scopes=["agents:read"], metadata={"a": 1})

    response = admin_client.post(f"{ADMIN}{api_key.pk}/change/", change_form(api_key))

    assert response.status_code == 302
    assert not AuditEvent.objects.filter(event_type="api_key.updated").exists()


def test_frozen_fields_cannot_be_changed_by_the_change_form(admin_client, member):
    api_key, _ = make_key(member)
    other = UserFactory()

    admin_client.post(
        f"{ADMIN}{api_key.pk}/change/",
        change_form(api_key, user=str(other.pk), key_type="admin", key_manager="on"),
    )

    api_key.refresh_from_db()
    assert (api_key.user, api_key.key_type, api_key.key_manager) == (member, "development", False)


# --- actions and delete ---------------------------------------------------------------------


def test_revoke_action_disables_the_key_and_is_audited(admin_client, admin_user, member):
    api_key, raw_key = make_key(member)
    assert info_status(raw_key) == 200

    response = action(admin_client, "revoke_keys", [api_key])

    assert response.status_code == 302
    assert info_status(raw_key) == 401
    api_key.refresh_from_db()
    assert api_key.is_active is False
    event = AuditEvent.objects.get(event_type="api_key.revoked", target_id=str(api_key.pk))
    assert event.actor == admin_user


def test_activate_action_re_enables_the_key_and_is_audited(admin_client, admin_user, member):
    api_key, raw_key = make_key(member)
    action(admin_client, "revoke_keys", [api_key])

    response = action(admin_client, "activate_keys", [api_key])

    assert response.status_code == 302
    assert info_status(raw_key) == 200
    event = AuditEvent.objects.get(event_type="api_key.activated", target_id=str(api_key.pk))
    assert event.actor == admin_user


def test_activate_action_reports_an_expired_key_and_leaves_it(admin_client, member):
    api_key, _ = make_key(member, expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.filter(pk=api_key.pk).update(
        is_active=False, expires_at=timezone.now() - timedelta(hours=1)
    )

    response = action(admin_client, "activate_keys", [api_key])

    shown = [str(m) for m in admin_client.get(response.url).context["messages"]]
    assert shown == [f"{api_key.key_prefix}: An expired key cannot be activated."]
    api_key.refresh_from_db()
    assert api_key.is_active is False


def test_rotate_action_asks_for_a_grace_period_first(admin_client, member):
    api_key, _ = make_key(member)

    response = action(admin_client, "rotate_keys", [api_key])

    assert response.status_code == 200
    assert "grace_period_seconds" in response.content.decode()
    assert ApiKey.objects.count() == 1
    assert shown_keys(response) == []


def test_rotate_action_shows_the_new_keys_once_and_is_audited(admin_client, admin_user, member):
    first, first_raw = make_key(member, name="first", scopes=["agents:read"])
    second, second_raw = make_key(member, name="second")

    response = action(
        admin_client, "rotate_keys", [first, second], apply="yes", grace_period_seconds="0"
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new_keys = set(shown_keys(response))
    assert len(new_keys) == 2
    assert {info_status(raw) for raw in new_keys} == {200}
    assert (info_status(first_raw), info_status(second_raw)) == (401, 401)
    successor = ApiKey.objects.get(rotated_from=first)
    assert (successor.name, successor.scopes, successor.created_by) == (
        "first",
        ["agents:read"],
        admin_user,
    )
    assert AuditEvent.objects.filter(event_type="api_key.rotated", actor=admin_user).count() == 2
    assert shown_keys(admin_client.get(ADMIN)) == []


def test_rotate_action_with_a_grace_period_keeps_the_old_key_working(admin_client, member):
    api_key, raw_key = make_key(member)

    action(admin_client, "rotate_keys", [api_key], apply="yes", grace_period_seconds="3600")

    assert info_status(raw_key) == 200
    api_key.refresh_from_db()
    assert api_key.expires_at - timezone.now() <= timedelta(seconds=3600)


def test_rotate_action_refuses_a_grace_period_out_of_range(admin_client, member):
    api_key, _ = make_key(member)

    response = action(
        admin_client, "rotate_keys", [api_key], apply="yes", grace_period_seconds="604801"
    )

    assert response.status_code == 200
    assert response.context["form"].errors["grace_period_seconds"]
    assert ApiKey.objects.count() == 1


def test_rotate_action_reports_a_key_rotated_before(admin_client, member):
    api_key, _ = make_key(member)
    action(admin_client, "rotate_keys", [api_key], apply="yes", grace_period_seconds="60")

    response = action(
        admin_client, "rotate_keys", [api_key], apply="yes", grace_period_seconds="60"
    )

    assert response.status_code == 302
    [message] = [str(m) for m in admin_client.get(response.url).context["messages"]]
    assert "already been rotated" in message
    assert ApiKey.objects.count() == 2


def test_delete_goes_through_the_service(admin_client, admin_user, member):
    api_key, raw_key = make_key(member)

    response = admin_client.post(f"{ADMIN}{api_key.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not ApiKey.objects.exists()
    assert info_status(raw_key) == 401
    event = AuditEvent.objects.get(event_type="api_key.deleted", target_id=str(api_key.pk))
    assert (event.actor, event.data["key_prefix"]) == (admin_user, api_key.key_prefix)


def test_bulk_delete_goes_through_the_service(admin_client, member):
    keys = [make_key(member)[0] for _ in range(2)]

    response = action(admin_client, "delete_selected", keys, post="yes")

    assert response.status_code == 302
    assert not ApiKey.objects.exists()
    assert AuditEvent.objects.filter(event_type="api_key.deleted").count() == 2


# --- the installation state -----------------------------------------------------------------


def test_installation_state_is_read_only(admin_client):
    url = "/admin/apikeys/installationstate/"

    assert admin_client.get(url).status_code == 200
    assert admin_client.get(f"{url}add/").status_code == 403
    assert admin_client.post(f"{url}1/change/", {"keys_ever_issued": ""}).status_code == 403
    assert admin_client.post(f"{url}1/delete/", {"post": "yes"}).status_code == 403


def test_a_member_of_several_tenants_gets_a_key_for_the_chosen_one(admin_client, member):
    second = MembershipFactory(user=member).tenant

    admin_client.post(f"{ADMIN}add/", add_form(member, tenant=str(second.pk)))

    assert ApiKey.objects.get().tenant == second
