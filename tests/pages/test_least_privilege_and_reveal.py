"""SPEC §13 on the key pages: a least-privileged create form, and a key revealed once after a
redirect (POST/redirect/GET)."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.utils import timezone

from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db

RAW_KEY = re.compile(r"kw_[A-Za-z0-9_\-]{30,}")


def _create(client, **fields):
    form = {"name": "Billing", "key_type": "development", "scopes": ["agents:read"], **fields}
    return client.post("/keys/new", form)


def test_the_create_form_starts_with_no_scope_ticked_and_full_access_unticked(logged_in):
    content = logged_in.get("/keys/new").content.decode()

    assert 'name="scopes"' in content
    assert not re.search(r'<input[^>]*name="scopes"[^>]*checked', content)
    assert not re.search(r'<input[^>]*name="full_access"[^>]*checked', content)
    assert "⚠ The key can then do everything you can" in content


@time_machine.travel("2026-12-07 12:00Z", tick=False)
def test_the_create_form_fills_in_an_expiry_90_days_ahead(logged_in):
    content = logged_in.get("/keys/new").content.decode()

    assert 'name="expires_on" value="2027-03-07"' in content


def test_a_name_alone_is_refused_asking_for_scopes_or_grants(logged_in, user):
    response = logged_in.post("/keys/new", {"name": "Billing", "key_type": "development"})

    assert response.status_code == 400
    assert re.search(
        r'id="id_scopes_error".*tick at least one scope', response.content.decode(), re.S
    )
    assert not ApiKey.objects.filter(user=user).exists()


def test_full_access_is_made_only_when_chosen(logged_in, user):
    response = _create(logged_in, scopes=[], full_access="on")

    assert response.status_code == 303
    assert ApiKey.objects.get(user=user).full_access


def test_full_access_with_scopes_is_refused_as_contradictory(logged_in, user):
    response = _create(logged_in, full_access="on")

    assert response.status_code == 400
    assert 'id="id_full_access_error"' in response.content.decode()
    assert not ApiKey.objects.filter(user=user).exists()


def test_endpoint_grants_alone_are_enough(logged_in, user):
    response = _create(logged_in, scopes=[], endpoints="GET /api/v1/agents")

    assert response.status_code == 303
    assert ApiKey.objects.get(user=user).endpoints == [
        {"path": "/api/v1/agents", "methods": ["GET"]}
    ]


def test_create_redirects_to_the_reveal_page(logged_in, user):
    response = _create(logged_in)

    key = ApiKey.objects.get(user=user)
    assert response.status_code == 303
    assert response["Location"] == f"/keys/{key.pk}/reveal"
    assert not RAW_KEY.search(response.content.decode())


def test_the_reveal_page_shows_the_key_once_and_a_reload_shows_it_gone(logged_in, user):
    location = _create(logged_in)["Location"]

    first = logged_in.get(location)
    again = logged_in.get(location)

    [raw_key] = set(RAW_KEY.findall(first.content.decode()))
    assert raw_key.startswith(ApiKey.objects.get(user=user).key_prefix)
    assert "no-store" in first["Cache-Control"]
    assert again.status_code == 200
    assert not RAW_KEY.search(again.content.decode())
    assert "shown once and is gone" in again.content.decode()
    assert ApiKey.objects.filter(user=user).count() == 1


def test_the_reveal_page_says_what_the_key_can_do_and_until_when(logged_in, user):
    day = timezone.now().date() + timedelta(days=10)
    location = _create(
        logged_in, endpoints="GET /api/v1/agents", expires_on=day.isoformat(), time_zone="UTC"
    )["Location"]

    content = logged_in.get(location).content.decode()

    summary = content[content.index('id="key-summary"') :]
    assert "agents:read" in summary
    assert "GET /api/v1/agents" in summary
    assert f"end of {day.isoformat()}, UTC" in summary
    assert "in 10 days" in summary


def test_the_raw_key_is_in_no_session_row_between_create_and_reveal(logged_in, user):
    location = _create(logged_in)["Location"]
    stored = [(row.session_data, repr(row.get_decoded())) for row in Session.objects.all()]

    raw_key = RAW_KEY.search(logged_in.get(location).content.decode()).group()

    assert stored
    assert all(raw_key not in data and raw_key not in decoded for data, decoded in stored)


def test_the_reveal_needs_the_cookie_half_as_well_as_the_session_half(logged_in):
    location = _create(logged_in)["Location"]
    cookie = logged_in.cookies["kw_reveal"]
    assert cookie["path"] == location
    assert cookie["httponly"]
    del logged_in.cookies["kw_reveal"]

    content = logged_in.get(location).content.decode()

    assert not RAW_KEY.search(content)


def test_another_users_reveal_page_is_404(logged_in, make_key):
    from tests.factories import UserFactory

    other = make_key(owner=UserFactory(), scopes=["agents:read"])

    assert logged_in.get(f"/keys/{other.pk}/reveal").status_code == 404


def test_rotate_redirects_to_the_successors_reveal_with_the_chosen_expiry(logged_in, api_key):
    day = timezone.now().date() + timedelta(days=30)

    response = logged_in.post(
        f"/keys/{api_key.pk}/rotate",
        {"grace_period": "3600", "expires_on": day.isoformat(), "time_zone": "UTC"},
    )

    successor = ApiKey.objects.get(rotated_from=api_key)
    assert response.status_code == 303
    assert response["Location"] == f"/keys/{successor.pk}/reveal"
    assert successor.expires_at.date() == day + timedelta(days=1)
    assert "old key" in logged_in.get(response["Location"]).content.decode()


def test_rotate_with_an_empty_expiry_makes_a_key_that_never_expires(logged_in, make_key):
    api_key = make_key(scopes=["agents:read"], expires_at=timezone.now() + timedelta(days=3))

    logged_in.post(f"/keys/{api_key.pk}/rotate", {"grace_period": "0", "expires_on": ""})

    assert ApiKey.objects.get(rotated_from=api_key).expires_at is None


def test_rotate_refuses_a_past_expiry_beside_the_field(logged_in, api_key):
    response = logged_in.post(
        f"/keys/{api_key.pk}/rotate", {"grace_period": "0", "expires_on": "2001-01-01"}
    )

    assert response.status_code == 400
    assert 'id="id_expires_on_error"' in response.content.decode()
    assert not ApiKey.objects.filter(rotated_from=api_key).exists()
