import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

INFO = "/api/v1/api-keys/info"


def _info_status(client, raw_key: str) -> int:
    return client.get(INFO, HTTP_AUTHORIZATION=f"Bearer {raw_key}").status_code


@pytest.mark.parametrize("action", ["revoke", "rotate", "delete"])
def test_confirmation_page_shows_a_post_form_with_csrf(logged_in, api_key, action):
    response = logged_in.get(f"/keys/{api_key.pk}/{action}")

    assert response.status_code == 200
    content = response.content.decode()
    assert f'<form method="post" action="/keys/{api_key.pk}/{action}">' in content
    assert 'name="csrfmiddlewaretoken"' in content
    assert api_key.key_prefix in content


def test_confirmation_page_changes_nothing(logged_in, api_key):
    logged_in.get(f"/keys/{api_key.pk}/revoke")
    logged_in.get(f"/keys/{api_key.pk}/delete")

    api_key.refresh_from_db()
    assert api_key.is_active


@pytest.mark.parametrize("action", ["revoke", "activate", "rotate", "delete"])
def test_actions_on_another_users_key_are_404(logged_in, make_key, action):
    other_key = make_key(owner=UserFactory(), scopes=["agents:read"])

    assert logged_in.get(f"/keys/{other_key.pk}/{action}").status_code == 404
    assert logged_in.post(f"/keys/{other_key.pk}/{action}").status_code == 404
    assert ApiKey.objects.filter(pk=other_key.pk, is_active=True).exists()


def test_revoke_disables_the_key_and_redirects_to_its_page(logged_in, api_key, client):
    response = logged_in.post(f"/keys/{api_key.pk}/revoke")

    assert response.status_code == 303
    assert response["Location"] == f"/keys/{api_key.pk}"
    api_key.refresh_from_db()
    assert not api_key.is_active
    assert _info_status(client, api_key.raw_key) == 401


def test_revoke_is_audited_and_shown_on_the_key_page(logged_in, api_key):
    logged_in.post(f"/keys/{api_key.pk}/revoke")

    assert AuditEvent.objects.filter(event_type="api_key.revoked", target_id=str(api_key.pk))
    assert "api_key.revoked" in logged_in.get(f"/keys/{api_key.pk}").content.decode()


def test_activate_reenables_a_revoked_key(logged_in, api_key, client):
    logged_in.post(f"/keys/{api_key.pk}/revoke")

    response = logged_in.post(f"/keys/{api_key.pk}/activate")

    assert response.status_code == 303
    api_key.refresh_from_db()
    assert api_key.is_active
    assert _info_status(client, api_key.raw_key) == 200


def test_activate_of_an_expired_key_explains_why_not(logged_in, api_key):
    ApiKey.objects.filter(pk=api_key.pk).update(
        is_active=False, expires_at=timezone.now() - timedelta(days=1)
    )

    response = logged_in.post(f"/keys/{api_key.pk}/activate")

    assert response.status_code == 400
    assert b"An expired key cannot be activated." in response.content


def test_rotate_shows_the_successor_once_and_ends_the_old_key_after_grace(logged_in, api_key):
    posted = logged_in.post(f"/keys/{api_key.pk}/rotate", {"grace_period": "3600"})
    successor = ApiKey.objects.get(rotated_from=api_key)
    assert posted.status_code == 303
    assert posted["Location"] == f"/keys/{successor.pk}/reveal"
    response = logged_in.get(posted["Location"])
    assert "no-store" in response["Cache-Control"]
    raw_keys = set(re.findall(r"kw_[A-Za-z0-9_\-]{30,}", response.content.decode()))
    assert len(raw_keys) == 1
    assert raw_keys.pop().startswith(successor.key_prefix)
    api_key.refresh_from_db()
    assert api_key.is_active
    assert timezone.now() + timedelta(minutes=59) < api_key.expires_at
    assert api_key.expires_at <= timezone.now() + timedelta(hours=1)


def test_rotate_without_grace_stops_the_old_key_at_once(logged_in, api_key, client):
    logged_in.post(f"/keys/{api_key.pk}/rotate", {"grace_period": "0"})

    assert _info_status(client, api_key.raw_key) == 401


def test_rotate_with_an_unknown_grace_period_is_refused_beside_the_field(logged_in, api_key):
    response = logged_in.post(f"/keys/{api_key.pk}/rotate", {"grace_period": "999999999"})

    assert response.status_code == 400
    assert re.search(r'id="id_grace_period_error"', response.content.decode())
    assert not ApiKey.objects.filter(rotated_from=api_key).exists()


def test_rotating_twice_explains_the_conflict(logged_in, api_key):
    logged_in.post(f"/keys/{api_key.pk}/rotate", {"grace_period": "3600"})

    response = logged_in.post(f"/keys/{api_key.pk}/rotate", {"grace_period": "3600"})

    assert response.status_code == 409
    assert b"already been rotated" in response.content


def test_key_page_of_a_rotated_key_links_its_successor(logged_in, api_key):
    logged_in.post(f"/keys/{api_key.pk}/rotate", {"grace_period": "3600"})
    successor = ApiKey.objects.get(rotated_from=api_key)

    content = logged_in.get(f"/keys/{api_key.pk}").content.decode()

    assert f'href="/keys/{successor.pk}"' in content


def test_delete_removes_the_key_and_returns_to_the_list(logged_in, api_key, client):
    response = logged_in.post(f"/keys/{api_key.pk}/delete")

    assert response.status_code == 303
    assert response["Location"] == "/keys"
    assert not ApiKey.objects.filter(pk=api_key.pk).exists()
    assert _info_status(client, api_key.raw_key) == 401


@pytest.mark.parametrize("action", ["revoke", "activate", "rotate", "delete"])
def test_actions_refuse_a_post_without_a_csrf_token(csrf_client, api_key, action):
    response = csrf_client.post(f"/keys/{api_key.pk}/{action}", {"grace_period": "0"})

    assert response.status_code == 403
    assert ApiKey.objects.filter(pk=api_key.pk, is_active=True).exists()
    assert not ApiKey.objects.filter(rotated_from=api_key).exists()


def test_create_refuses_a_post_without_a_csrf_token(csrf_client, user):
    response = csrf_client.post("/keys/new", {"name": "x", "key_type": "development"})

    assert response.status_code == 403
    assert not ApiKey.objects.filter(user=user).exists()


def test_create_accepts_a_post_with_the_pages_csrf_token(csrf_client, user):
    page = csrf_client.get("/keys/new").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    response = csrf_client.post(
        "/keys/new",
        {
            "csrfmiddlewaretoken": token,
            "name": "x",
            "key_type": "development",
            "scopes": ["read:all"],
        },
    )

    assert response.status_code == 303
    assert ApiKey.objects.filter(user=user).exists()


def test_actions_refuse_get_as_a_way_to_change_anything(logged_in, api_key):
    logged_in.get(f"/keys/{api_key.pk}/revoke?confirm=1")

    assert ApiKey.objects.get(pk=api_key.pk).is_active


def test_the_revoke_message_is_shown_once_on_the_next_page(logged_in, api_key):
    logged_in.post(f"/keys/{api_key.pk}/revoke")

    assert "is revoked." in logged_in.get(f"/keys/{api_key.pk}").content.decode()
    assert "is revoked." not in logged_in.get(f"/keys/{api_key.pk}").content.decode()
