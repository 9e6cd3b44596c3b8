"""Rotating the pepper (docs/apikeys.md): new keys under the new one, old keys through a
fallback that moves them to the new one on their first use, a pepper in neither setting
refused — and a changed setting is used at once, although the keyed HMAC of the current pepper
is built only once."""

import hashlib
import hmac

import pytest
from django.test import override_settings

from apikeys import crypto, selectors
from apikeys.models import ApiKey
from identity.policy import cache_key_of_key
from metering import verified
from tests.apikeys.conftest import INFO_URL, VERIFY_URL, key_client, make_api_key
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

OLD = "old-pepper-0123456789-0123456789-0123456789-0123456789"
NEW = "new-pepper-9876543210-9876543210-9876543210-9876543210"


def test_a_changed_pepper_is_used_for_the_very_next_hash():
    with override_settings(KEYWARD_KEY_PEPPER=OLD):
        under_old = crypto.hash_key("kw_same-raw-key")
    with override_settings(KEYWARD_KEY_PEPPER=NEW):
        under_new = crypto.hash_key("kw_same-raw-key")

    assert under_old != under_new
    assert under_new == crypto.hash_key("kw_same-raw-key", NEW)


@override_settings(KEYWARD_KEY_PEPPER=NEW)
def test_the_stored_hash_is_hmac_sha256_of_the_key_under_the_pepper():
    expected = hmac.new(NEW.encode(), b"kw_same-raw-key", hashlib.sha256).hexdigest()

    assert crypto.hash_key("kw_same-raw-key") == expected
    assert crypto.hash_key("kw_same-raw-key") == expected  # the keyed context, copied again


@pytest.fixture
def fresh_keyed_hmacs():
    """Keyed HMACs built anew, and none of this test's left behind for the next."""
    for cached in (crypto._keyed_hmac, crypto._current_keyed_hmac):
        cached.cache_clear()
    yield
    for cached in (crypto._keyed_hmac, crypto._current_keyed_hmac):
        cached.cache_clear()


@override_settings(KEYWARD_KEY_PEPPER="")
def test_without_a_pepper_the_hash_is_keyed_by_one_derived_from_the_secret_key():
    with override_settings(SECRET_KEY="one-secret-key-0123456789-0123456789-0123456789"):
        first = crypto.hash_key("kw_same-raw-key")
    with override_settings(SECRET_KEY="another-secret-key-0123456789-0123456789-01234"):
        second = crypto.hash_key("kw_same-raw-key")

    assert first != second


def test_a_key_issued_under_the_old_pepper_authenticates_through_the_fallback():
    with override_settings(KEYWARD_KEY_PEPPER=OLD):
        _, raw = make_api_key()

    with override_settings(KEYWARD_KEY_PEPPER=NEW, KEYWARD_KEY_PEPPER_FALLBACKS=[OLD]):
        response = key_client(raw).get(INFO_URL)

    assert response.status_code == 200, response.content


def test_a_key_issued_after_the_rotation_is_stored_under_the_new_pepper():
    with override_settings(KEYWARD_KEY_PEPPER=NEW, KEYWARD_KEY_PEPPER_FALLBACKS=[OLD]):
        api_key, raw = make_api_key()

    assert ApiKey.objects.get(pk=api_key.pk).key_hash == crypto.hash_key(raw, NEW)


def test_a_key_under_a_pepper_in_neither_setting_is_refused():
    with override_settings(KEYWARD_KEY_PEPPER=OLD):
        _, raw = make_api_key()

    with override_settings(KEYWARD_KEY_PEPPER=NEW, KEYWARD_KEY_PEPPER_FALLBACKS=[]):
        response = key_client(raw).get(INFO_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


# --- a rotation finishes: keys found under a fallback move to the current pepper -------------


def test_one_use_under_the_fallback_re_hashes_the_key_under_the_current_pepper():
    with override_settings(KEYWARD_KEY_PEPPER=OLD):
        api_key, raw = make_api_key()

    with override_settings(KEYWARD_KEY_PEPPER=NEW, KEYWARD_KEY_PEPPER_FALLBACKS=[OLD]):
        assert key_client(raw).get(INFO_URL).status_code == 200

    assert ApiKey.objects.get(pk=api_key.pk).key_hash == crypto.hash_key(raw, NEW)


def test_a_re_hashed_key_works_once_the_fallback_is_removed():
    with override_settings(KEYWARD_KEY_PEPPER=OLD):
        _, raw = make_api_key()
    with override_settings(KEYWARD_KEY_PEPPER=NEW, KEYWARD_KEY_PEPPER_FALLBACKS=[OLD]):
        key_client(raw).get(INFO_URL)
    verified.clear()  # another process, which never saw the key: the database must have it

    with override_settings(KEYWARD_KEY_PEPPER=NEW, KEYWARD_KEY_PEPPER_FALLBACKS=[]):
        response = key_client(raw).get(INFO_URL)

    assert response.status_code == 200, response.content


def test_the_cached_record_of_a_re_hashed_key_carries_the_current_hash():
    with override_settings(KEYWARD_KEY_PEPPER=OLD):
        _, raw = make_api_key()

    with override_settings(KEYWARD_KEY_PEPPER=NEW, KEYWARD_KEY_PEPPER_FALLBACKS=[OLD]):
        key_client(raw).get(INFO_URL)

    entry = verified.get(cache_key_of_key(crypto.hash_key(raw, NEW)))
    assert entry is not None
    assert entry.record.api_key.key_hash == crypto.hash_key(raw, NEW)
    assert entry.meter.generation_of == cache_key_of_key(crypto.hash_key(raw, NEW))


def test_keys_verify_re_hashes_a_key_found_under_the_fallback():
    with override_settings(KEYWARD_KEY_PEPPER=OLD):
        api_key, raw = make_api_key()

    with override_settings(KEYWARD_KEY_PEPPER=NEW, KEYWARD_KEY_PEPPER_FALLBACKS=[OLD]):
        _, verifier_key = make_api_key(StaffUserFactory(), scopes=["keys:verify"])
        response = key_client(verifier_key).post(VERIFY_URL, {"key": raw}, format="json")

    assert response.json()["valid"] is True, response.json()
    assert ApiKey.objects.get(pk=api_key.pk).key_hash == crypto.hash_key(raw, NEW)


def test_a_key_another_request_re_hashed_first_is_found_under_the_current_hash():
    with override_settings(KEYWARD_KEY_PEPPER=OLD):
        api_key, raw = make_api_key()
    old_hash, new_hash = crypto.hash_key(raw, OLD), crypto.hash_key(raw, NEW)
    ApiKey.objects.filter(pk=api_key.pk).update(key_hash=new_hash)  # the other request won

    found = selectors.api_key_adopt_current_pepper(
        api_key, legacy_hash=old_hash, current_hash=new_hash
    )

    assert (found.pk, found.key_hash) == (api_key.pk, new_hash)
    assert ApiKey.objects.get(pk=api_key.pk).key_hash == new_hash


def test_a_key_under_the_current_pepper_is_not_written_on_use(django_assert_num_queries):
    with override_settings(KEYWARD_KEY_PEPPER=NEW, KEYWARD_KEY_PEPPER_FALLBACKS=[OLD]):
        _, raw = make_api_key()
        with django_assert_num_queries(1):
            selectors.api_key_get_for_authentication(raw)
