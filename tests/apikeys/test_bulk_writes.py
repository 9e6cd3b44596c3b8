"""Bulk writes to keys reach every process's cached records, as saves and deletes do (SPEC §10).

``QuerySet.update``, ``bulk_update`` and ``bulk_create`` send no ``post_save``; the key's
queryset says what they wrote instead (``core.bulk_writes.rows_written``), so a key revoked or
narrowed in bulk — from a shell, a data migration, a script — is refused at once, a change the
shared cache cannot confirm is not written, and a key created in bulk is found at once.
"""

import pytest
from django.db import transaction

from apikeys import crypto, known_keys
from apikeys.models import ApiKey, KeyType
from metering import verified
from tests.apikeys.conftest import INFO_URL, key_client
from tests.factories import UserFactory, issued_key
from tests.metering.test_narrowing import unconfirmed  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

VERIFY_URL = "/api/v1/auth/verify"  # describes the credential as this process has it cached


@pytest.fixture
def warm_key():
    """A key this process has verified and cached (its first request read it)."""
    api_key, raw = issued_key(UserFactory(), scopes=["read:all"])
    assert key_client(raw).get(VERIFY_URL).status_code == 200
    return api_key, raw


def committed(django_capture_on_commit_callbacks, write):
    with django_capture_on_commit_callbacks(execute=True):
        return write()


def test_a_key_revoked_by_queryset_update_is_refused_at_once(
    warm_key, django_capture_on_commit_callbacks
):
    api_key, raw = warm_key

    committed(
        django_capture_on_commit_callbacks,
        lambda: ApiKey.objects.filter(pk=api_key.pk).update(is_active=False),
    )

    response = key_client(raw).get(INFO_URL)
    assert (response.status_code, response.json()["code"]) == (401, "api_key_disabled")


def test_scopes_narrowed_by_queryset_update_hold_at_once(
    warm_key, django_capture_on_commit_callbacks
):
    api_key, raw = warm_key

    committed(
        django_capture_on_commit_callbacks,
        lambda: ApiKey.objects.filter(pk=api_key.pk).update(scopes=["agents:read"]),
    )

    assert key_client(raw).get(VERIFY_URL).json()["scopes"] == ["agents:read"]


def test_a_key_revoked_by_bulk_update_is_refused_at_once(
    warm_key, django_capture_on_commit_callbacks
):
    api_key, raw = warm_key
    api_key.is_active = False

    committed(
        django_capture_on_commit_callbacks,
        lambda: ApiKey.objects.bulk_update([api_key], ["is_active"]),
    )

    assert key_client(raw).get(INFO_URL).status_code == 401


def test_keys_deleted_by_queryset_delete_are_refused_at_once(
    warm_key, django_capture_on_commit_callbacks
):
    api_key, raw = warm_key

    committed(
        django_capture_on_commit_callbacks,
        lambda: ApiKey.objects.filter(pk=api_key.pk).delete(),
    )

    assert key_client(raw).get(INFO_URL).json()["code"] == "invalid_api_key"


def test_a_key_created_by_bulk_create_is_found_at_once(django_capture_on_commit_callbacks):
    user = UserFactory()
    issued_key(user)
    key_client(crypto.generate_key()).get(INFO_URL)  # this process has read the stored hashes
    assert known_keys._known is not None
    raw = crypto.generate_key()
    row = ApiKey(
        user=user,
        name="made in bulk",
        key_prefix=crypto.display_prefix(raw),
        key_hash=crypto.hash_key(raw),
        key_type=KeyType.PRODUCTION,
    )

    committed(django_capture_on_commit_callbacks, lambda: ApiKey.objects.bulk_create([row]))

    assert key_client(raw).get(INFO_URL).status_code == 200


def test_a_bulk_revoke_the_cache_cannot_confirm_is_not_written(warm_key, unconfirmed):  # noqa: F811
    api_key, _ = warm_key

    with pytest.raises(verified.ChangeNotPropagated), transaction.atomic():
        ApiKey.objects.filter(pk=api_key.pk).update(is_active=False)

    assert ApiKey.objects.get(pk=api_key.pk).is_active


def test_a_bulk_rename_stands_when_the_cache_cannot_confirm(warm_key, unconfirmed):  # noqa: F811
    api_key, _ = warm_key

    ApiKey.objects.filter(pk=api_key.pk).update(name="renamed")

    assert ApiKey.objects.get(pk=api_key.pk).name == "renamed"


def test_the_usage_flush_writes_without_reading_or_retiring_anything(
    warm_key, django_assert_num_queries, monkeypatch
):
    api_key, _ = warm_key
    retired = []
    monkeypatch.setattr(verified, "retire_on_commit", lambda *keys: retired.extend(keys))
    monkeypatch.setattr(verified, "invalidate_on_commit", lambda *keys: retired.extend(keys))

    with django_assert_num_queries(1):
        ApiKey.objects.filter(pk=api_key.pk).update(request_count=7, last_used_ip="192.0.2.1")

    assert retired == []
