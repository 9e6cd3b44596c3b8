"""``end_grace_when_idle_seconds``: a rotation's grace ends once the old key has been quiet."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys.expiry import api_key_end_idle_graces
from apikeys.models import ApiKey
from audit.models import AuditEvent
from tests.factories import ApiKeyFactory
from tests.tenants.helpers import jwt_for

pytestmark = pytest.mark.django_db

INFO_URL = "/api/v1/api-keys/info"
START = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)


def person(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_for(user)}")
    return client


def use(raw_key) -> int:
    return APIClient().get(INFO_URL, HTTP_AUTHORIZATION=f"Bearer {raw_key}").status_code


def rotate(owner, api_key, **body):
    return person(owner).post(
        f"/api/v1/user/api-keys/{api_key.pk}/rotate",
        {"grace_period_seconds": 24 * 3600, **body},
        format="json",
    )


def test_rotate_records_the_quiet_period_on_the_old_key(owner):
    old = ApiKeyFactory(user=owner)

    response = rotate(owner, old, end_grace_when_idle_seconds=600)

    assert response.status_code == 201, response.content
    old.refresh_from_db()
    assert old.end_grace_when_idle_seconds == 600
    assert (
        person(owner).get(f"/api/v1/user/api-keys/{old.pk}").json()["end_grace_when_idle_seconds"]
        == 600
    )


@pytest.mark.parametrize("value", [0, 59, 7 * 24 * 3600 + 1, "soon", -1])
def test_out_of_range_quiet_period_is_400(owner, value):
    old = ApiKeyFactory(user=owner)

    response = rotate(owner, old, end_grace_when_idle_seconds=value)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert not ApiKey.objects.filter(rotated_from=old).exists()


def test_a_use_of_the_old_key_restarts_the_quiet_period(owner):
    with time_machine.travel(START, tick=False) as clock:
        old = ApiKeyFactory(user=owner)
        assert rotate(owner, old, end_grace_when_idle_seconds=600).status_code == 201

        clock.shift(timedelta(seconds=599))
        assert api_key_end_idle_graces() == 0
        assert use(old.raw_key) == 200

    # Usage is recorded to the minute: the use at START + 599 s counts as at the end of its
    # minute, START + 600 s, and the quiet period runs from there.
    with time_machine.travel(START + timedelta(seconds=600 + 600 - 1), tick=False):
        assert api_key_end_idle_graces() == 0
    with time_machine.travel(START + timedelta(seconds=600 + 600), tick=False):
        assert api_key_end_idle_graces() == 1
        old.refresh_from_db()
        assert old.expires_at == timezone.now()
        assert use(old.raw_key) == 401


def test_grace_ends_quiet_period_after_rotation_when_unused(owner):
    with time_machine.travel(START, tick=False) as clock:
        old = ApiKeyFactory(user=owner)
        rotate(owner, old, end_grace_when_idle_seconds=300)

        clock.shift(timedelta(seconds=299))
        assert api_key_end_idle_graces() == 0
        clock.shift(timedelta(seconds=1))
        assert api_key_end_idle_graces() == 1

        event = AuditEvent.objects.get(event_type="api_key.grace_ended_idle")
        assert event.target_id == str(old.pk)
        assert use(old.raw_key) == 401
        successor = ApiKey.objects.get(rotated_from=old)
        assert successor.is_active and not successor.is_expired()


def test_a_key_in_steady_use_keeps_its_whole_grace(owner):
    with time_machine.travel(START, tick=False) as clock:
        old = ApiKeyFactory(user=owner)
        rotate(owner, old, grace_period_seconds=3600, end_grace_when_idle_seconds=300)
        for _ in range(11):
            clock.shift(timedelta(seconds=240))
            assert use(old.raw_key) == 200
            assert api_key_end_idle_graces() == 0
        old.refresh_from_db()
        assert old.expires_at == START + timedelta(hours=1)


def test_rotation_without_a_quiet_period_is_never_ended_early(owner):
    with time_machine.travel(START, tick=False) as clock:
        old = ApiKeyFactory(user=owner)
        rotate(owner, old)
        clock.shift(timedelta(hours=23))
        assert api_key_end_idle_graces() == 0
        assert use(old.raw_key) == 200
