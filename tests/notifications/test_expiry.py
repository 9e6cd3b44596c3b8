"""Keys expiring within 7 days and used within 7 days: flagged everywhere, owner told once."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from apikeys.expiry import api_key_warn_expiring
from apikeys.models import ApiKey
from audit.models import AuditEvent
from tests.factories import ApiKeyFactory
from tests.notifications.conftest import user_webhook
from tests.notifications.helpers import run_ready_tasks
from tests.tenants.helpers import jwt_for

pytestmark = pytest.mark.django_db

INFO_URL = "/api/v1/api-keys/info"


def key_expiring_in(owner, days: float, *, used: bool = True) -> ApiKey:
    api_key = ApiKeyFactory(user=owner, expires_at=timezone.now() + timedelta(days=days))
    if used:
        response = _use(api_key)
        assert response.status_code == 200, response.content
    return api_key


def _use(api_key):
    from rest_framework.test import APIClient

    return APIClient().get(INFO_URL, HTTP_AUTHORIZATION=f"Bearer {api_key.raw_key}")


def key_object(owner, api_key) -> dict:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_for(owner)}")
    return client.get(f"/api/v1/user/api-keys/{api_key.pk}").json()


def test_key_expiring_soon_and_used_is_flagged_in_the_key_object(owner):
    api_key = key_expiring_in(owner, 3)

    assert key_object(owner, api_key)["expiring_soon_in_use"] is True


@pytest.mark.parametrize(
    ("days", "used"),
    [(3, False), (8, True), (None, True)],
    ids=["unused", "expires-in-8-days", "never-expires"],
)
def test_key_not_both_expiring_soon_and_used_is_not_flagged(owner, days, used):
    if days is None:
        api_key = ApiKeyFactory(user=owner)
        _use(api_key)
    else:
        api_key = key_expiring_in(owner, days, used=used)

    assert key_object(owner, api_key)["expiring_soon_in_use"] is False


def test_owner_is_emailed_once_however_often_the_sweep_runs(owner):
    api_key = key_expiring_in(owner, 3)

    assert api_key_warn_expiring() == 1
    assert api_key_warn_expiring() == 0
    run_ready_tasks()
    call_command("notifyexpiring", stdout=StringIO())
    run_ready_tasks()

    (message,) = mail.outbox
    assert message.to == [owner.email]
    assert "expires soon and is still in use" in message.subject
    assert api_key.key_prefix in message.subject
    assert api_key.raw_key not in message.body
    api_key.refresh_from_db()
    assert api_key.expiry_warning_sent_at is not None
    assert AuditEvent.objects.filter(event_type="api_key.expiring").count() == 1


def test_unused_expiring_key_is_not_warned(owner):
    key_expiring_in(owner, 3, used=False)

    assert api_key_warn_expiring() == 0
    run_ready_tasks()
    assert mail.outbox == []


def test_owners_webhook_hears_of_the_expiring_key(owner, receiver, allow_loopback):
    user_webhook(owner, receiver.url)
    api_key = key_expiring_in(owner, 2)

    api_key_warn_expiring()
    run_ready_tasks()

    (event,) = receiver.events()
    assert event["type"] == "api_key.expiring"
    assert event["api_key"]["id"] == str(api_key.pk)
    assert event["data"]["expires_at"] == api_key.expires_at.isoformat()


def test_listapikeys_flags_the_key(owner):
    key_expiring_in(owner, 3)
    ApiKeyFactory(user=owner, name="quiet")
    out = StringIO()

    call_command("listapikeys", stdout=out)

    lines = out.getvalue().splitlines()
    assert "FLAG" in lines[0].split()
    flagged = [line for line in lines[1:] if "EXPIRING-IN-USE" in line.split()]
    assert len(flagged) == 1 and "test key" in flagged[0]


def test_key_list_page_and_dashboard_flag_the_key(client, owner):
    api_key = key_expiring_in(owner, 3)
    client.force_login(owner)

    key_list = client.get("/keys").content.decode()
    dashboard = client.get("/").content.decode()

    assert 'data-flag="expiring-soon-in-use"' in key_list
    assert 'id="expiring-soon-in-use"' in dashboard
    assert api_key.key_prefix in dashboard


def test_dashboard_shows_no_notice_without_such_keys(client, owner):
    key_expiring_in(owner, 30)
    client.force_login(owner)

    assert 'id="expiring-soon-in-use"' not in client.get("/").content.decode()
