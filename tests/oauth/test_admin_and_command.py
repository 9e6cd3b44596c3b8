"""Operators: the Django admin, the createserviceclient command, and where secrets never land."""

import logging
import re
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from oauth.crypto import client_secret_matches
from oauth.models import ServiceClient
from tests.factories import ServiceClientFactory, TenantFactory, UserFactory
from tests.oauth.conftest import token_by_basic

pytestmark = pytest.mark.django_db

ADMIN = "/admin/oauth/serviceclient/"
SECRET = re.compile(r"kwcs_[A-Za-z0-9_-]{43}")


@pytest.fixture
def admin_user():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def shown_secrets(response) -> list[str]:
    return SECRET.findall(response.content.decode())


def test_admin_add_creates_through_the_service_and_shows_the_secret_once(admin_client, admin_user):
    tenant = TenantFactory()

    response = admin_client.post(
        f"{ADMIN}add/",
        {"name": "reports", "tenant": str(tenant.pk), "scopes": "agents:read, read:all"},
        follow=True,
    )

    assert response.status_code == 200
    client = ServiceClient.objects.get(name="reports")
    assert (client.scopes, client.tenant, client.created_by) == (
        ["agents:read", "read:all"],
        tenant,
        admin_user,
    )
    [secret] = shown_secrets(response)
    assert client_secret_matches(secret, client.secret_hash)
    assert str(client.client_id) in response.content.decode()
    assert AuditEvent.objects.filter(
        event_type="service_client.created", target_id=str(client.client_id)
    ).exists()
    again = admin_client.get(ADMIN)
    assert shown_secrets(again) == []


def test_admin_add_refuses_bad_scopes(admin_client):
    response = admin_client.post(f"{ADMIN}add/", {"name": "x", "scopes": "NOT A SCOPE"})

    assert response.status_code == 200
    assert b"Not a scope" in response.content
    assert not ServiceClient.objects.exists()


def test_admin_change_page_never_shows_secret_or_hash(admin_client, service_client):
    response = admin_client.get(f"{ADMIN}{service_client.client_id}/change/")

    assert response.status_code == 200
    content = response.content.decode()
    assert service_client.secret_hash not in content
    assert service_client.raw_secret not in content
    assert "secret_hash" not in content
    assert "probe:read, agents:read" in content


def test_admin_change_goes_through_the_service(admin_client, service_client):
    response = admin_client.post(
        f"{ADMIN}{service_client.client_id}/change/",
        {"name": "renamed", "scopes": "agents:read", "is_active": ""},
    )

    assert response.status_code == 302
    service_client.refresh_from_db()
    assert (service_client.name, service_client.scopes, service_client.is_active) == (
        "renamed",
        ["agents:read"],
        False,
    )
    assert AuditEvent.objects.filter(event_type="service_client.updated").exists()


def test_admin_list_shows_the_columns(admin_client, service_client):
    response = admin_client.get(ADMIN)

    content = response.content.decode()
    assert "billing" in content and str(service_client.client_id) in content
    assert "probe:read agents:read" in content
    assert service_client.secret_hash not in content


@pytest.mark.parametrize("query", ["billing", "BILL", "client_id_part"])
def test_admin_search_finds_a_client_by_name_or_part_of_its_id(admin_client, service_client, query):
    ServiceClientFactory(name="other")
    if query == "client_id_part":
        query = str(service_client.client_id)[:8]

    response = admin_client.get(ADMIN, {"q": query})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [service_client]


def test_the_admin_never_carries_a_secret_in_a_cookie_or_a_redirect(admin_client):
    response = admin_client.post(f"{ADMIN}add/", {"name": "reports", "scopes": "agents:read"})

    assert response.status_code == 200  # the page itself, not a redirect to it
    [secret] = shown_secrets(response)
    assert all(secret not in morsel.value for morsel in response.cookies.values())
    assert "no-store" in response["Cache-Control"]


def test_admin_rotate_action_shows_the_new_secret_once(admin_client, service_client, api_client):
    old_hash = service_client.secret_hash

    response = admin_client.post(
        ADMIN,
        {"action": "rotate_secret", "_selected_action": [str(service_client.client_id)]},
        follow=True,
    )

    service_client.refresh_from_db()
    [secret] = shown_secrets(response)
    assert service_client.secret_hash != old_hash
    assert client_secret_matches(secret, service_client.secret_hash)
    service_client.raw_secret = secret
    assert token_by_basic(api_client, service_client).status_code == 200
    assert shown_secrets(admin_client.get(ADMIN)) == []


def test_admin_delete_goes_through_the_service(admin_client, service_client):
    response = admin_client.post(
        f"{ADMIN}{service_client.client_id}/delete/", {"post": "yes"}, follow=True
    )

    assert response.status_code == 200
    assert not ServiceClient.objects.exists()
    assert AuditEvent.objects.filter(event_type="service_client.deleted").exists()


def createserviceclient(*args) -> str:
    out = StringIO()
    call_command("createserviceclient", *args, stdout=out)
    return out.getvalue()


def test_command_prints_exactly_the_id_and_secret_lines(api_client):
    tenant = TenantFactory()
    creator = UserFactory(email="ops@example.com")

    output = createserviceclient(
        "--name",
        "etl",
        "--scopes",
        "agents:read,agents:write",
        "--tenant",
        str(tenant.pk),
        "--created-by",
        "OPS@example.com",
    )

    lines = output.splitlines()
    assert len(lines) == 2
    id_match = re.fullmatch(r"client_id: (\S+)", lines[0])
    secret_match = re.fullmatch(r"client_secret: (\S+)", lines[1])
    assert id_match and secret_match
    client = ServiceClient.objects.get(client_id=uuid.UUID(id_match[1]))
    assert (client.name, client.scopes, client.tenant, client.created_by) == (
        "etl",
        ["agents:read", "agents:write"],
        tenant,
        creator,
    )
    client.raw_secret = secret_match[1]
    assert token_by_basic(api_client, client).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "x", "--scopes", ""], "--scopes"),
        (["--name", "x", "--scopes", "Bad Scope"], "--scopes"),
        (["--name", " ", "--scopes", "a:read"], "--name"),
        (["--name", "x", "--scopes", "a:read", "--tenant", "nope"], "--tenant"),
        (["--name", "x", "--scopes", "a:read", "--tenant", str(uuid.uuid4())], "--tenant"),
        (["--name", "x", "--scopes", "a:read", "--created-by", "no@example.com"], "--created-by"),
    ],
)
def test_command_refuses_bad_input_and_creates_nothing(db, args, message):
    with pytest.raises(CommandError, match=message):
        createserviceclient(*args)

    assert not ServiceClient.objects.exists()


def test_no_raw_secret_in_a_database_dump_or_the_logs(admin_client, api_client, caplog):
    caplog.set_level(logging.DEBUG)
    created = ServiceClientFactory(scopes=["agents:read"])
    secrets = [created.raw_secret]
    token_by_basic(api_client, created)
    response = admin_client.post(
        ADMIN, {"action": "rotate_secret", "_selected_action": [str(created.client_id)]}
    )
    assert response.status_code == 200
    secrets += shown_secrets(response)  # the page the rotation rendered, shown once
    secrets.append(
        createserviceclient("--name", "cli", "--scopes", "a:read").split("client_secret: ")[1]
    )
    assert len(secrets) == 3
    dump = StringIO()

    call_command("dumpdata", stdout=dump)

    text = dump.getvalue()
    assert '"model": "oauth.serviceclient"' in text
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    for secret in secrets:
        assert secret.strip() not in text
        assert secret.strip() not in logged
