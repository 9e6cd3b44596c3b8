"""The webhooks page, the rotate page's quiet-period field, and the read-only admin."""

import re

import pytest

from apikeys.models import ApiKey
from notifications.models import Delivery, Webhook
from tests.factories import ApiKeyFactory, StaffUserFactory, UserFactory
from tests.notifications.conftest import user_webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, owner):
    client.force_login(owner)
    return client


def test_nav_links_to_the_webhooks_page(logged_in):
    assert 'href="/webhooks"' in logged_in.get("/").content.decode()


def test_adding_a_webhook_shows_its_secret_once(logged_in, owner):
    response = logged_in.post(
        "/webhooks", {"url": "https://hooks.example.com/kw", "events": ["api_key.leaked"]}
    )

    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    secrets = re.findall(r"whsec_[A-Za-z0-9_\-]+", response.content.decode())
    assert len(secrets) == 1
    webhook = Webhook.objects.get(user=owner)
    assert webhook.events == ["api_key.leaked"]
    assert secrets[0] not in logged_in.get("/webhooks").content.decode()


def test_a_private_url_is_refused_beside_the_field(logged_in):
    response = logged_in.post(
        "/webhooks", {"url": "http://127.0.0.1/hook", "events": ["api_key.leaked"]}
    )

    assert response.status_code == 400
    assert 'id="id_url_error"' in response.content.decode()
    assert not Webhook.objects.exists()


def test_page_shows_the_delivery_log(logged_in, owner):
    webhook, _ = user_webhook(owner, "https://hooks.example.com/kw")
    Delivery.objects.create(
        webhook=webhook, event_type="api_key.leaked", status="retrying", attempts=2
    )

    page = logged_in.get("/webhooks").content.decode()

    assert 'id="delivery-log"' in page and "api_key.leaked" in page and "Retrying" in page


def test_delete_from_the_page(logged_in, owner):
    webhook, _ = user_webhook(owner, "https://hooks.example.com/kw")

    response = logged_in.post(f"/webhooks/{webhook.pk}/delete")

    assert response.status_code == 303
    assert not Webhook.objects.exists()


def test_another_users_webhook_cannot_be_deleted_from_the_page(logged_in):
    webhook, _ = user_webhook(UserFactory(), "https://hooks.example.com/kw")

    assert logged_in.post(f"/webhooks/{webhook.pk}/delete").status_code == 404
    assert Webhook.objects.exists()


def test_rotate_page_sets_the_quiet_period(logged_in, owner):
    api_key = ApiKeyFactory(user=owner)

    response = logged_in.post(
        f"/keys/{api_key.pk}/rotate", {"grace_period": "86400", "end_grace_when_idle": "600"}
    )

    assert response.status_code == 303  # to the reveal page (SPEC §13)
    api_key.refresh_from_db()
    assert api_key.end_grace_when_idle_seconds == 600
    assert ApiKey.objects.filter(rotated_from=api_key).exists()


def test_rotate_page_leaves_the_quiet_period_off_by_default(logged_in, owner):
    api_key = ApiKeyFactory(user=owner)

    logged_in.post(f"/keys/{api_key.pk}/rotate", {"grace_period": "3600"})

    api_key.refresh_from_db()
    assert api_key.end_grace_when_idle_seconds is None


def test_admin_shows_deliveries_read_only_and_webhooks_without_their_secret(client, owner):
    webhook, secret = user_webhook(owner, "https://hooks.example.com/kw")
    delivery = Delivery.objects.create(webhook=webhook, event_type="api_key.leaked")
    admin = StaffUserFactory(is_superuser=True)
    client.force_login(admin)

    webhook_page = client.get(f"/admin/notifications/webhook/{webhook.pk}/change/")
    delivery_page = client.get(f"/admin/notifications/delivery/{delivery.pk}/change/")
    deliveries = client.get("/admin/notifications/delivery/")

    assert webhook_page.status_code == 200
    assert secret not in webhook_page.content.decode()
    assert webhook.secret_encrypted not in webhook_page.content.decode()
    assert (delivery_page.status_code, deliveries.status_code) == (200, 200)
    assert 'name="_save"' not in delivery_page.content.decode()
    assert client.get("/admin/notifications/delivery/add/").status_code == 403


def test_admin_rotate_action_sets_the_quiet_period(client, owner):
    api_key = ApiKeyFactory(user=owner)
    client.force_login(StaffUserFactory(is_superuser=True))

    response = client.post(
        "/admin/apikeys/apikey/",
        {
            "action": "rotate_keys",
            "_selected_action": [str(api_key.pk)],
            "apply": "yes",
            "grace_period_seconds": "3600",
            "end_grace_when_idle_seconds": "900",
        },
    )

    assert response.status_code == 200
    api_key.refresh_from_db()
    assert api_key.end_grace_when_idle_seconds == 900
    assert ApiKey.objects.filter(rotated_from=api_key).exists()


def test_admin_rotate_action_asks_for_the_quiet_period(client, owner):
    api_key = ApiKeyFactory(user=owner)
    client.force_login(StaffUserFactory(is_superuser=True))

    response = client.post(
        "/admin/apikeys/apikey/",
        {"action": "rotate_keys", "_selected_action": [str(api_key.pk)]},
    )

    assert 'name="end_grace_when_idle_seconds"' in response.content.decode()
