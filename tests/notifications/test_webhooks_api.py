"""The webhooks API: a user's own and a tenant's, the secret shown once, the SSRF guard."""

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from notifications.models import Webhook
from tenants.models import Membership
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.notifications.conftest import USER_WEBHOOKS, secret_of
from tests.tenants.helpers import jwt_for

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_for(user)}")
    return client


def test_create_answers_the_secret_once_and_stores_it_encrypted(owner):
    client = client_for(owner)

    created = client.post(USER_WEBHOOKS, {"url": "https://hooks.example.com/kw"}, format="json")

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == [
        "api_key.expiring",
        "api_key.leaked",
        "api_key.canary_touched",
        "api_key.proposal_would_refuse_spike",
        "rate_limit.exhausted",
    ]
    assert created["Cache-Control"].startswith("no-store")
    webhook = Webhook.objects.get(pk=body["id"])
    assert (webhook.user, webhook.tenant) == (owner, None)
    assert body["secret"] not in webhook.secret_encrypted
    assert secret_of(webhook) == body["secret"]
    listed = client.get(USER_WEBHOOKS).json()["results"]
    assert [item["id"] for item in listed] == [body["id"]]
    assert "secret" not in listed[0]
    event = AuditEvent.objects.get(event_type="webhook.created")
    assert body["secret"] not in str(event.data)


def test_create_with_chosen_events(owner):
    response = client_for(owner).post(
        USER_WEBHOOKS,
        {"url": "https://hooks.example.com/kw", "events": ["api_key.leaked"]},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["events"] == ["api_key.leaked"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://hooks.example.com/kw"},
        {"url": "not a url"},
        {"url": "https://hooks.example.com/kw", "events": ["api_key.created"]},
        {"url": "https://hooks.example.com/kw", "events": []},
        {"url": "https://hooks.example.com/kw", "events": "api_key.leaked"},
        {},
    ],
)
def test_malformed_webhook_is_400_validation_error(owner, body):
    response = client_for(owner).post(USER_WEBHOOKS, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_private_and_loopback_destinations_are_refused(owner, url):
    response = client_for(owner).post(USER_WEBHOOKS, {"url": url}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert "url" in response.json()["errors"]


def test_loopback_is_allowed_when_the_setting_says_so(owner, allow_loopback):
    response = client_for(owner).post(
        USER_WEBHOOKS, {"url": "http://127.0.0.1:9/hook"}, format="json"
    )

    assert response.status_code == 201


def test_delete_removes_my_webhook(owner):
    client = client_for(owner)
    webhook_id = client.post(
        USER_WEBHOOKS, {"url": "https://h.example.com/"}, format="json"
    ).json()["id"]

    response = client.delete(f"{USER_WEBHOOKS}/{webhook_id}")

    assert response.status_code == 204
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("suffix", ["", "/deliveries"])
def test_another_users_webhook_is_404(owner, suffix):
    theirs = client_for(owner).post(USER_WEBHOOKS, {"url": "https://h.example.com/"}, format="json")
    url = f"{USER_WEBHOOKS}/{theirs.json()['id']}{suffix}"
    stranger = client_for(UserFactory())

    response = stranger.delete(url) if not suffix else stranger.get(url)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert Webhook.objects.count() == 1


@pytest.mark.parametrize("webhook_id", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_unknown_or_malformed_webhook_id_is_404(owner, webhook_id):
    response = client_for(owner).get(f"{USER_WEBHOOKS}/{webhook_id}/deliveries")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_anonymous_caller_is_401():
    response = APIClient().get(USER_WEBHOOKS)

    assert response.status_code == 401


# --- tenant webhooks ------------------------------------------------------------------------


def tenant_with(role):
    tenant = TenantFactory()
    user = UserFactory()
    MembershipFactory(user=user, tenant=tenant, role=role)
    return tenant, user


@pytest.mark.parametrize("role", [Membership.Role.OWNER, Membership.Role.ADMIN])
def test_tenant_owners_and_admins_add_tenant_webhooks(db, role):
    tenant, user = tenant_with(role)
    url = f"/api/v1/tenants/{tenant.pk}/webhooks"

    response = client_for(user).post(url, {"url": "https://h.example.com/t"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["tenant_id"] == str(tenant.pk)
    webhook = Webhook.objects.get()
    assert (webhook.tenant, webhook.user) == (tenant, None)
    assert [w["id"] for w in client_for(user).get(url).json()["results"]] == [str(webhook.pk)]


def test_tenant_member_may_not_see_or_add_tenant_webhooks(db):
    tenant, member = tenant_with(Membership.Role.MEMBER)
    url = f"/api/v1/tenants/{tenant.pk}/webhooks"

    added = client_for(member).post(url, {"url": "https://h.example.com/t"}, format="json")
    listed = client_for(member).get(url)

    assert (added.status_code, listed.status_code) == (403, 403)
    assert added.json()["code"] == "insufficient_permissions"
    assert not Webhook.objects.exists()


def test_another_tenants_webhooks_are_404_tenant_not_found(db):
    tenant, _ = tenant_with(Membership.Role.OWNER)
    _, outsider = tenant_with(Membership.Role.OWNER)

    response = client_for(outsider).get(f"/api/v1/tenants/{tenant.pk}/webhooks")

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"


@pytest.mark.parametrize(
    ("scopes", "status"),
    [(["webhooks:read"], 200), (["read:all"], 200), (["keys:read"], 403)],
)
def test_a_key_reads_its_owners_webhooks_only_with_a_fitting_scope(owner, scopes, status):
    from tests.factories import ApiKeyFactory

    api_key = ApiKeyFactory(user=owner, scopes=scopes)

    response = APIClient().get(USER_WEBHOOKS, HTTP_AUTHORIZATION=f"Bearer {api_key.raw_key}")

    assert response.status_code == status
