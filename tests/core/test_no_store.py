"""Every response that carries a raw key, a client secret or a token says
``Cache-Control: no-store`` (SPEC §9): the API, the token endpoints, the pages and the admin.

One walk through every door that hands a secret out, each checked on its successful answer.
"""

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apikeys.models import ApiKey
from tests.factories import DEFAULT_PASSWORD, ServiceClientFactory, UserFactory, issued_key
from tests.oauth.conftest import token_by_basic
from tests.tenants.helpers import jwt_for

pytestmark = pytest.mark.django_db

RAW_KEY = re.compile(r"kw_[0-9A-Za-z]{49}")


def person(user=None) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_for(user or UserFactory())}")
    return client


def superuser_session() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def api_key_create_call():
    return person().post("/api/v1/user/api-keys", {"name": "ci"}, format="json")


def api_key_rotate_call():
    user = UserFactory()
    api_key, _ = issued_key(user=user, name="ci")
    return person(user).post(f"/api/v1/user/api-keys/{api_key.pk}/rotate", {}, format="json")


def bootstrap_call():
    return APIClient().post("/api/v1/api-keys/bootstrap", {"name": "first"}, format="json")


def login_json_call():
    user = UserFactory()
    body = {"email": user.email, "password": DEFAULT_PASSWORD}
    return APIClient().post("/api/v1/auth/login", body, format="json")


def login_form_call():
    user = UserFactory()
    return Client().post("/login", {"email": user.email, "password": DEFAULT_PASSWORD})


def login_form_api_call():
    user = UserFactory()
    return Client().post("/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD})


def admin_login_call():
    """Django's own login views (admin, browsable API) are ``never_cache``: checked, not changed."""
    user = UserFactory(is_staff=True)
    body = {"username": user.email, "password": DEFAULT_PASSWORD, "next": "/admin/"}
    return Client().post("/admin/login/", body)


def refresh_call():
    refresh_token = login_json_call().json()["refresh_token"]
    body = {"refresh_token": refresh_token}
    return APIClient().post("/api/v1/auth/refresh", body, format="json")


def oauth_token_call():
    return token_by_basic(APIClient(), ServiceClientFactory(scopes=["agents:read"]))


def service_client_create_call():
    client = APIClient()
    client.force_authenticate(UserFactory(is_staff=True, is_superuser=True))
    body = {"name": "billing", "scopes": "agents:read"}
    return client.post("/api/v1/service-clients", body, format="json")


def service_client_rotate_call():
    client = APIClient()
    client.force_authenticate(UserFactory(is_staff=True, is_superuser=True))
    service_client = ServiceClientFactory()
    return client.post(f"/api/v1/service-clients/{service_client.client_id}/rotate-secret")


def page_create_call():
    client = Client()
    client.force_login(UserFactory())
    form = {"name": "Billing", "key_type": "development", "scopes": ["read:all"]}
    return client.post("/keys/new", form, follow=True)  # the reveal page, after the 303


def page_rotate_call():
    user = UserFactory()
    api_key, _ = issued_key(user=user, name="ci")
    client = Client()
    client.force_login(user)
    return client.post(f"/keys/{api_key.pk}/rotate", {"grace_period": "0"}, follow=True)


def page_client_create_call():
    form = {"name": "reports", "scopes": "agents:read"}
    return superuser_session().post("/service-clients", form, follow=True)


def admin_key_add_call():
    owner = UserFactory()
    form = {
        "user": str(owner.pk),
        "name": "deploy bot",
        "key_type": "development",
        **{"endpoints": "[]", "metadata": "{}", "expires_at_0": "", "expires_at_1": ""},
    }
    return superuser_session().post("/admin/apikeys/apikey/add/", form)


def admin_key_rotate_call():
    api_key, _ = issued_key(user=UserFactory(), name="ci")
    return superuser_session().post(
        "/admin/apikeys/apikey/",
        {
            "action": "rotate_keys",
            "_selected_action": [str(api_key.pk)],
            "apply": "yes",
            "grace_period_seconds": "0",
        },
    )


def admin_client_add_call():
    return superuser_session().post(
        "/admin/oauth/serviceclient/add/", {"name": "reports", "scopes": "agents:read"}
    )


def admin_client_rotate_call():
    service_client = ServiceClientFactory()
    return superuser_session().post(
        "/admin/oauth/serviceclient/",
        {"action": "rotate_secret", "_selected_action": [str(service_client.pk)]},
    )


DOORS = {
    "POST /api/v1/user/api-keys": (api_key_create_call, 201),
    "POST /api/v1/user/api-keys/{id}/rotate": (api_key_rotate_call, 201),
    "POST /api/v1/api-keys/bootstrap": (bootstrap_call, 201),
    "POST /api/v1/auth/login (JSON)": (login_json_call, 200),
    "POST /api/v1/auth/login (form)": (login_form_api_call, 303),
    "POST /login (page)": (login_form_call, 303),
    "POST /admin/login/": (admin_login_call, 302),
    "POST /api/v1/auth/refresh": (refresh_call, 200),
    "POST /oauth2/token": (oauth_token_call, 200),
    "POST /api/v1/service-clients": (service_client_create_call, 201),
    "POST /api/v1/service-clients/{id}/rotate-secret": (service_client_rotate_call, 200),
    "POST /keys/new (page)": (page_create_call, 200),
    "POST /keys/{id}/rotate (page)": (page_rotate_call, 200),
    "POST /service-clients (page)": (page_client_create_call, 200),
    "admin: add an API key": (admin_key_add_call, 200),
    "admin: rotate API keys": (admin_key_rotate_call, 200),
    "admin: add a service client": (admin_client_add_call, 200),
    "admin: rotate client secrets": (admin_client_rotate_call, 200),
}


@pytest.mark.parametrize("door", DOORS)
def test_every_response_that_carries_a_secret_says_no_store(door):
    call, expected_status = DOORS[door]

    response = call()

    assert response.status_code == expected_status, response.content[:500]
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    assert "no-store" in directives, (door, response.get("Cache-Control"))


@pytest.mark.parametrize("call", [bootstrap_call, api_key_create_call, page_create_call])
def test_the_walk_sees_the_raw_key_it_checks(call):
    """The key doors above do answer with a raw key: the walk checks the right responses."""
    response = call()

    [raw_key] = set(RAW_KEY.findall(response.content.decode()))
    assert raw_key.startswith(ApiKey.objects.get().key_prefix)


def test_an_answer_that_sets_no_credential_is_left_cacheable(client):
    assert "no-store" not in client.get("/api/v1/health").get("Cache-Control", "")
