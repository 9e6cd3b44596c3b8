"""A client secret stored under a retired pepper moves to the current one on its first token
request, so a pepper rotation finishes for service clients as it does for API keys."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from oauth.crypto import hash_client_secret
from oauth.models import ServiceClient
from tests.factories import ServiceClientFactory
from tests.oauth.conftest import token_by_basic

pytestmark = pytest.mark.django_db

OLD = "old-pepper-0123456789-0123456789-0123456789-0123456789"
NEW = "new-pepper-9876543210-9876543210-9876543210-9876543210"


def test_a_token_request_under_the_fallback_re_hashes_the_secret_under_the_current_pepper():
    with override_settings(KEYWARD_KEY_PEPPER=OLD):
        client = ServiceClientFactory()

    with override_settings(KEYWARD_KEY_PEPPER=NEW, KEYWARD_KEY_PEPPER_FALLBACKS=[OLD]):
        assert token_by_basic(APIClient(), client).status_code == 200

    stored = ServiceClient.objects.get(pk=client.pk).secret_hash
    assert stored == hash_client_secret(client.raw_secret, NEW)


def test_a_re_hashed_secret_works_once_the_fallback_is_removed():
    with override_settings(KEYWARD_KEY_PEPPER=OLD):
        client = ServiceClientFactory()
    with override_settings(KEYWARD_KEY_PEPPER=NEW, KEYWARD_KEY_PEPPER_FALLBACKS=[OLD]):
        token_by_basic(APIClient(), client)

    with override_settings(KEYWARD_KEY_PEPPER=NEW, KEYWARD_KEY_PEPPER_FALLBACKS=[]):
        response = token_by_basic(APIClient(), client)

    assert response.status_code == 200, response.content


def test_a_wrong_secret_changes_nothing():
    with override_settings(KEYWARD_KEY_PEPPER=OLD):
        client = ServiceClientFactory()
    before = ServiceClient.objects.get(pk=client.pk).secret_hash
    client.raw_secret = "kwcs_" + "x" * 43

    with override_settings(KEYWARD_KEY_PEPPER=NEW, KEYWARD_KEY_PEPPER_FALLBACKS=[OLD]):
        assert token_by_basic(APIClient(), client).status_code == 401

    assert ServiceClient.objects.get(pk=client.pk).secret_hash == before
