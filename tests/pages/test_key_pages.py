import re
import uuid

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from tests.factories import MembershipFactory, StaffUserFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

VALID_FORM = {"name": "Billing service", "key_type": "development", "scopes": ["agents:read"]}


def _raw_keys_in(content: str) -> list[str]:
    return re.findall(r"kw_[A-Za-z0-9_\-]{30,}", content)


@pytest.mark.parametrize("path", ["/keys", "/keys/new", "/tenants"])
def test_pages_send_anonymous_visitors_to_login(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/login?next={path}"


def test_settings_api_keys_leads_to_the_key_list(logged_in):
    response = logged_in.get("/settings/api-keys")

    assert response.status_code == 303
    assert response["Location"] == "/keys"


def test_empty_key_list_offers_to_create_a_key(logged_in):
    response = logged_in.get("/keys")

    assert response.status_code == 200
    assert b"You have no API keys yet" in response.content
    assert b'href="/keys/new"' in response.content


def test_key_list_shows_prefix_name_type_tenant_scopes_status_and_usage(logged_in, user, make_key):
    tenant = user.memberships.get().tenant
    key = make_key(name="Reporting", scopes=["agents:read"], tenant=tenant)

    content = logged_in.get("/keys").content.decode()

    assert key.key_prefix in content
    assert "Reporting" in content
    assert "Development" in content
    assert tenant.name in content
    assert "agents:read" in content
    assert "Active" in content
    assert f'href="/keys/{key.pk}"' in content


def test_key_list_flags_a_full_access_key(logged_in, make_key):
    make_key(name="Everything")

    response = logged_in.get("/keys")

    assert "⚠ Full access" in response.content.decode()


def test_key_list_shows_revoked_and_expired_status(logged_in, make_key):
    revoked = make_key(name="Old", scopes=["agents:read"])
    ApiKey.objects.filter(pk=revoked.pk).update(is_active=False)
    expired = make_key(name="Gone", scopes=["agents:read"])
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now())

    content = logged_in.get("/keys").content.decode()

    assert "status-revoked" in content
    assert "status-expired" in content


def test_key_list_shows_only_the_users_own_keys(logged_in, make_key):
    other_key = make_key(owner=UserFactory(), name="Someone else's")

    content = logged_in.get("/keys").content.decode()

    assert other_key.key_prefix not in content


def test_key_list_shows_usage_buffered_in_the_cache(logged_in, api_key, client):
    for _ in range(3):
        assert (
            client.get(
                "/api/v1/api-keys/info", HTTP_AUTHORIZATION=f"Bearer {api_key.raw_key}"
            ).status_code
            == 200
        )

    content = logged_in.get("/keys").content.decode()

    assert re.search(r'data-label="Requests" class="num">3<', content)


def test_create_form_renders_every_field_with_a_label_and_csrf(logged_in):
    content = logged_in.get("/keys/new").content.decode()

    assert 'name="csrfmiddlewaretoken"' in content
    for field in ("name", "description", "key_type", "tenant", "expires_on", "endpoints"):
        assert f'<label for="id_{field}"' in content
    assert "<legend>Scopes</legend>" in content
    assert 'type="checkbox" name="scopes" value="keys:verify"' in content
    assert '<label for="id_allowed_ips"' in content
    assert 'name="key_manager"' in content


def test_create_form_offers_the_users_tenants_only(logged_in, user):
    mine = MembershipFactory(user=user, tenant__name="Acme").tenant
    theirs = TenantFactory(name="Not mine")

    content = logged_in.get("/keys/new").content.decode()

    assert f'value="{mine.pk}"' in content
    assert str(theirs.pk) not in content


def test_create_form_preselects_the_current_tenant(logged_in, user):
    acme = MembershipFactory(user=user, tenant__name="Acme").tenant
    logged_in.post("/tenants/switch", {"tenant_id": str(acme.pk)})

    content = logged_in.get("/keys/new").content.decode()

    assert f'<option value="{acme.pk}" selected>' in content


def test_create_form_hides_the_admin_type_and_scope_from_non_staff(logged_in):
    content = logged_in.get("/keys/new").content.decode()

    assert 'value="admin"' not in content


def test_create_form_offers_the_admin_type_and_scope_to_staff(client):
    client.force_login(StaffUserFactory())

    content = client.get("/keys/new").content.decode()

    assert '<option value="admin">' in content
    assert 'name="scopes" value="admin"' in content


def test_create_shows_the_new_key_once_with_a_warning(logged_in, user):
    posted = logged_in.post("/keys/new", VALID_FORM)
    key = ApiKey.objects.get(user=user)
    assert posted.status_code == 303
    assert posted["Location"] == f"/keys/{key.pk}/reveal"
    response = logged_in.get(posted["Location"])
    content = response.content.decode()
    raw_keys = _raw_keys_in(content)
    assert len(set(raw_keys)) == 1
    assert raw_keys[0].startswith(key.key_prefix)
    assert "You will not see it again" in content
    assert 'id="copy-key"' in content
    assert "no-store" in response["Cache-Control"]


def test_created_key_keeps_the_form_settings(logged_in, user):
    tenant = user.memberships.get().tenant
    logged_in.post(
        "/keys/new",
        {
            "name": "Agents reader",
            "description": "Reads agents",
            "key_type": "production",
            "tenant": str(tenant.pk),
            "scopes": ["agents:read", "keys:verify"],
            "expires_on": (timezone.now().date().replace(year=timezone.now().year + 1)).isoformat(),
            "endpoints": "GET,POST /api/v1/agents\n/api/v1/tenants",
            "allowed_ips": "203.0.113.0/24\n198.51.100.7",
            "key_manager": "on",
        },
    )

    key = ApiKey.objects.get(user=user)
    assert key.key_type == "production"
    assert key.tenant_id == tenant.pk
    assert key.scopes == ["agents:read", "keys:verify"]
    assert key.endpoints == [
        {"path": "/api/v1/agents", "methods": ["GET", "POST"]},
        {"path": "/api/v1/tenants", "methods": ["*"]},
    ]
    assert key.allowed_ips == ["198.51.100.7/32", "203.0.113.0/24"]
    assert key.key_manager is True
    assert key.expires_at is not None


def test_raw_key_is_not_kept_in_the_session(logged_in, user):
    posted = logged_in.post("/keys/new", VALID_FORM)
    session = logged_in.session  # between the POST and the reveal: only the encrypted half
    raw_key = _raw_keys_in(logged_in.get(posted["Location"]).content.decode())[0]

    assert all(raw_key not in str(value) for value in session.values())
    assert all(raw_key not in str(value) for value in logged_in.session.values())


def test_key_list_and_key_page_never_show_the_raw_key(logged_in, user):
    posted = logged_in.post("/keys/new", VALID_FORM, follow=True)
    raw_key = _raw_keys_in(posted.content.decode())[0]
    key = ApiKey.objects.get(user=user)

    assert raw_key not in logged_in.get("/keys").content.decode()
    assert raw_key not in logged_in.get(f"/keys/{key.pk}").content.decode()
    assert key.key_hash not in logged_in.get(f"/keys/{key.pk}").content.decode()


def test_create_without_a_name_shows_the_error_beside_the_field(logged_in, user):
    response = logged_in.post("/keys/new", {**VALID_FORM, "name": ""})

    assert response.status_code == 400
    content = response.content.decode()
    assert re.search(r'id="id_name_error".*This field is required', content, re.S)
    assert not ApiKey.objects.filter(user=user).exists()


def test_restricted_key_without_scopes_gets_the_services_error_beside_scopes(logged_in):
    response = logged_in.post(
        "/keys/new", {"name": "Browser", "key_type": "restricted", "full_access": "on"}
    )

    assert response.status_code == 400
    assert re.search(
        r'id="id_scopes_error".*A restricted key needs explicit scopes',
        response.content.decode(),
        re.S,
    )


@pytest.mark.parametrize(
    "grants, message",
    [
        ("GET api/v1/agents", "Line 1.*starting with /"),
        ("FETCH /api/v1/agents", "not a valid choice"),
        ("GET /api/v1/agents\nGET /a/..%2Fb", "Line 2.*encoded slash"),
    ],
)
def test_malformed_endpoint_grants_are_shown_beside_the_field(logged_in, grants, message):
    response = logged_in.post("/keys/new", {**VALID_FORM, "endpoints": grants})

    assert response.status_code == 400
    assert re.search(rf'id="id_endpoints_error".*{message}', response.content.decode(), re.S)


def test_malformed_allowed_ip_is_shown_beside_the_field(logged_in):
    response = logged_in.post("/keys/new", {**VALID_FORM, "allowed_ips": "10.0.0.300"})

    assert response.status_code == 400
    assert re.search(
        r'id="id_allowed_ips_error".*is not an IP or CIDR', response.content.decode(), re.S
    )


def test_past_expiry_date_is_refused_beside_the_field(logged_in):
    response = logged_in.post("/keys/new", {**VALID_FORM, "expires_on": "2001-01-01"})

    assert response.status_code == 400
    assert re.search(
        r'id="id_expires_on_error".*today or a later day', response.content.decode(), re.S
    )


def test_non_staff_posting_the_admin_type_is_refused_beside_the_field(logged_in):
    response = logged_in.post("/keys/new", {**VALID_FORM, "key_type": "admin"})

    assert response.status_code == 400
    assert re.search(r'id="id_key_type_error"', response.content.decode())


def test_tenant_of_another_user_is_refused(logged_in):
    other = TenantFactory()

    response = logged_in.post("/keys/new", {**VALID_FORM, "tenant": str(other.pk)})

    assert response.status_code == 400
    assert re.search(r'id="id_tenant_error"', response.content.decode())


def test_key_page_shows_details_chart_and_audit_trail(logged_in, api_key):
    response = logged_in.get(f"/keys/{api_key.pk}")

    assert response.status_code == 200
    content = response.content.decode()
    assert api_key.key_prefix in content
    assert '<svg class="chart"' in content
    assert "<title" in content and "<desc" in content
    assert "Requests per day, last 30 days" in content
    assert "api_key.created" in content


def test_key_page_chart_counts_todays_requests(logged_in, api_key, client):
    client.get("/api/v1/api-keys/info", HTTP_AUTHORIZATION=f"Bearer {api_key.raw_key}")
    client.get("/api/v1/api-keys/info", HTTP_AUTHORIZATION=f"Bearer {api_key.raw_key}")

    content = logged_in.get(f"/keys/{api_key.pk}").content.decode()

    today = timezone.now().date().isoformat()
    assert f'data-date="{today}" data-count="2"' in content
    assert 'id="request-count">2<' in content


def test_key_page_of_another_users_key_is_404(logged_in, make_key):
    other_key = make_key(owner=UserFactory())

    assert logged_in.get(f"/keys/{other_key.pk}").status_code == 404


def test_key_page_of_an_unknown_key_is_404(logged_in):
    assert logged_in.get(f"/keys/{uuid.uuid4()}").status_code == 404


def test_key_page_flags_full_access(logged_in, make_key):
    key = make_key(name="Everything")

    assert "⚠ Full access." in logged_in.get(f"/keys/{key.pk}").content.decode()
