"""``ApiKeyFactory`` issues keys as the service does, so tests cannot hold a key no door would."""

import pytest

from apikeys import crypto
from apikeys.models import ApiKey
from audit.models import AuditEvent
from core.domain_errors import Invalid
from tests.apikeys.conftest import INFO_URL, key_client
from tests.factories import ApiKeyFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_factory_key_authenticates_with_its_raw_key():
    api_key = ApiKeyFactory(scopes=["agents:read"])

    response = key_client(api_key.raw_key).get(INFO_URL)

    assert response.status_code == 200
    assert response.json()["key_prefix"] == api_key.key_prefix


def test_a_factory_key_stores_the_hash_and_never_the_raw_key():
    api_key = ApiKeyFactory()

    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.key_hash == crypto.hash_key(api_key.raw_key)
    assert stored.key_prefix == crypto.display_prefix(api_key.raw_key)
    assert not hasattr(stored, "raw_key")
    assert api_key.raw_key not in str(list(ApiKey.objects.values()))


def test_a_factory_key_is_audited_as_the_service_audits_it():
    api_key = ApiKeyFactory()

    assert AuditEvent.objects.filter(event_type="api_key.created", target_id=str(api_key.pk))


def test_the_factory_refuses_what_the_service_refuses():
    with pytest.raises(Invalid):
        ApiKeyFactory(user=UserFactory(), key_type="admin", scopes=["admin"])


def test_a_factory_key_made_inactive_is_refused():
    api_key = ApiKeyFactory(is_active=False)

    response = key_client(api_key.raw_key).get(INFO_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_disabled"
