"""Users written in bulk reach every process's cached records, as a save does (SPEC §10).

``QuerySet.update`` and ``bulk_update`` send no ``post_save``; the user's queryset says what
they wrote (``core.bulk_writes.rows_written``), so a user deactivated in bulk — from a shell,
a script — has their keys and tokens refused at once, or is not deactivated at all.
"""

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from metering import verified
from tests.apikeys.conftest import key_client
from tests.factories import UserFactory, issued_key
from tests.metering.test_narrowing import unconfirmed  # noqa: F401 - a fixture
from tests.tenants.helpers import client_for, jwt_for

pytestmark = pytest.mark.django_db

VERIFY_URL = "/api/v1/auth/verify"


@pytest.fixture
def warm_user():
    """A user whose key and access token this process has verified and cached."""
    user = UserFactory()
    _, raw = issued_key(user)
    token = jwt_for(user)
    assert key_client(raw).get(VERIFY_URL).status_code == 200
    assert client_for(token).get(VERIFY_URL).status_code == 200
    return user, raw, token


def test_a_user_deactivated_by_queryset_update_is_refused_at_once(
    warm_user, django_capture_on_commit_callbacks
):
    user, raw, token = warm_user

    with django_capture_on_commit_callbacks(execute=True):
        User.objects.filter(pk=user.pk).update(is_active=False)

    assert key_client(raw).get(VERIFY_URL).status_code == 401
    assert client_for(token).get(VERIFY_URL).status_code == 401


def test_a_user_deactivated_by_bulk_update_is_refused_at_once(
    warm_user, django_capture_on_commit_callbacks
):
    user, raw, _ = warm_user
    user.is_active = False

    with django_capture_on_commit_callbacks(execute=True):
        User.objects.bulk_update([user], ["is_active"])

    assert key_client(raw).get(VERIFY_URL).status_code == 401


def test_a_bulk_deactivation_the_cache_cannot_confirm_is_not_written(warm_user, unconfirmed):  # noqa: F811
    user, _, _ = warm_user

    with pytest.raises(verified.ChangeNotPropagated), transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)

    user.refresh_from_db()
    assert user.is_active


def test_a_bulk_write_of_last_login_reads_and_retires_nothing(warm_user, django_assert_num_queries):
    user, _, _ = warm_user

    with django_assert_num_queries(1):
        User.objects.filter(pk=user.pk).update(last_login=timezone.now())
