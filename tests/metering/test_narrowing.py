"""A change that narrows access is everywhere, or nowhere (SPEC §10).

"The shared cache cannot confirm" is made by having the backend's retire step fail as an
unreachable Redis does, so these run on the embedded default and on Redis alike; the real
outages (Redis killed, stalled) are in tests/faults.
"""

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.test import APIClient

from apikeys.models import ApiKey
from apikeys.services import api_key_create, api_key_revoke
from audit.models import AuditEvent
from identity.policy import cache_key_of_key
from metering import backends, verified
from tenants.models import Membership
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.tenants.helpers import jwt_for

pytestmark = pytest.mark.django_db

INFO = "/api/v1/api-keys/info"


@pytest.fixture
def unconfirmed(monkeypatch):
    """The shared cache takes no change: every retire fails as a dead or stalled Redis does."""

    def refuse(*args, **kwargs):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(backends.active(), "generation_retire", refuse)


def owned_key(**fields):
    user = UserFactory()
    api_key, raw = api_key_create(user=user, created_by=user, name="narrowed", **fields)
    owner = APIClient()
    owner.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_for(user)}")
    return api_key, raw, owner


def key_client(raw) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client


def assert_unavailable(response):
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "service_unavailable"


def test_a_revoke_the_cache_cannot_confirm_answers_503_and_changes_nothing(unconfirmed):
    api_key, raw, owner = owned_key()

    response = owner.post(f"/api/v1/user/api-keys/{api_key.pk}/revoke")

    assert_unavailable(response)
    assert ApiKey.objects.get(pk=api_key.pk).is_active
    assert not AuditEvent.objects.filter(event_type="api_key.revoked").exists()
    assert key_client(raw).get(INFO).status_code == 200


def test_a_delete_the_cache_cannot_confirm_answers_503_and_keeps_the_key(unconfirmed):
    api_key, _, owner = owned_key()

    response = owner.delete(f"/api/v1/user/api-keys/{api_key.pk}")

    assert_unavailable(response)
    assert ApiKey.objects.filter(pk=api_key.pk).exists()


def test_a_narrowing_of_scopes_the_cache_cannot_confirm_changes_nothing(unconfirmed):
    api_key, _, owner = owned_key(scopes=["read:all", "write:all"])

    response = owner.patch(
        f"/api/v1/user/api-keys/{api_key.pk}", {"scopes": ["read:all"]}, format="json"
    )

    assert_unavailable(response)
    assert ApiKey.objects.get(pk=api_key.pk).scopes == ["read:all", "write:all"]


def test_a_rotation_the_cache_cannot_confirm_issues_no_successor(unconfirmed):
    api_key, _, owner = owned_key()

    response = owner.post(
        f"/api/v1/user/api-keys/{api_key.pk}/rotate", {"grace_period_seconds": 0}, format="json"
    )

    assert_unavailable(response)
    assert ApiKey.objects.filter(user=api_key.user).count() == 1
    assert ApiKey.objects.get(pk=api_key.pk).is_active


def test_deactivating_a_user_the_cache_cannot_confirm_changes_nothing(unconfirmed):
    user = UserFactory()

    with pytest.raises(verified.ChangeNotPropagated), transaction.atomic():
        user.is_active = False
        user.save()

    user.refresh_from_db()
    assert user.is_active


def test_removing_a_member_the_cache_cannot_confirm_keeps_the_membership(unconfirmed):
    membership = MembershipFactory(tenant=TenantFactory(), user=UserFactory())

    with pytest.raises(verified.ChangeNotPropagated), transaction.atomic():
        membership.delete()

    assert Membership.objects.filter(pk=membership.pk).exists()


def test_a_new_membership_stands_when_the_cache_cannot_confirm(unconfirmed):
    user = UserFactory()

    MembershipFactory(tenant=TenantFactory(), user=user)

    assert Membership.objects.filter(user=user).exists()


def test_a_bulk_change_named_by_its_cache_keys_is_refused_too(unconfirmed):
    api_key, _, _ = owned_key()
    cache_key = cache_key_of_key(api_key.key_hash)

    with pytest.raises(verified.ChangeNotPropagated), verified.narrowing_change(cache_key):
        ApiKey.objects.filter(pk=api_key.pk).update(name="renamed in bulk")

    assert ApiKey.objects.get(pk=api_key.pk).name == "narrowed"


def test_the_revoke_page_answers_503_when_the_cache_cannot_confirm(client, unconfirmed):
    api_key, _, _ = owned_key()
    client.force_login(api_key.user)

    response = client.post(f"/keys/{api_key.pk}/revoke")

    assert response.status_code == 503
    assert b"Nothing was changed" in response.content
    assert ApiKey.objects.get(pk=api_key.pk).is_active


def test_revokeapikey_fails_with_service_unavailable_when_the_cache_cannot_confirm(unconfirmed):
    api_key, _, _ = owned_key()

    with pytest.raises(CommandError, match="could not be confirmed on every node"):
        call_command("revokeapikey", str(api_key.pk))

    assert ApiKey.objects.get(pk=api_key.pk).is_active


def test_the_admin_revoke_action_says_why_the_key_was_not_revoked(admin_client, unconfirmed):
    api_key, _, _ = owned_key()

    response = admin_client.post(
        "/admin/apikeys/apikey/",
        {"action": "revoke_keys", "_selected_action": [str(api_key.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert any("could not be confirmed on every node" in message for message in shown), shown
    assert ApiKey.objects.get(pk=api_key.pk).is_active


# --- the order of a confirmed change ------------------------------------------------------


def test_a_key_read_while_a_change_is_under_way_is_not_remembered():
    api_key, raw, _ = owned_key()
    cache_key = cache_key_of_key(api_key.key_hash)
    key_client(raw).get(INFO)
    assert verified.get(cache_key) is not None

    verified.retire(cache_key)  # another node's change, not committed yet
    response = key_client(raw).get(INFO)

    assert response.status_code == 200
    assert verified.get(cache_key) is None  # read under a marker: never the new generation's


def test_after_the_commit_a_key_is_remembered_again_under_a_fresh_generation(
    django_capture_on_commit_callbacks,
):
    api_key, raw, _ = owned_key()
    cache_key = cache_key_of_key(api_key.key_hash)
    with django_capture_on_commit_callbacks(execute=True), verified.narrowing_change(cache_key):
        pass

    key_client(raw).get(INFO)

    entry = verified.get(cache_key)
    assert entry is not None
    assert not entry.generation.startswith(backends.MARKER_PREFIX)


def test_settling_leaves_another_changes_marker_in_place():
    backend = backends.active()
    backend.generation_ensure("settled")
    backend.generation_retire(["settled"], marker="~ours", ttl=60)
    backend.generation_retire(["settled"], marker="~theirs", ttl=60)

    backend.generation_settle(["settled"], marker="~ours")

    assert backend.generation_ensure("settled").startswith("~theirs")


def test_a_revoked_key_cached_elsewhere_is_refused_once_the_revoke_answers(
    django_capture_on_commit_callbacks,
):
    api_key, raw, _ = owned_key()
    key_client(raw).get(INFO)
    cached = verified.get(cache_key_of_key(api_key.key_hash))
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=api_key)
    # As another process holds it: the old record, under the generation it was read with.
    verified.remember(
        cache_key_of_key(api_key.key_hash), cached.record, cached.meter, cached.generation
    )

    response = key_client(raw).get(INFO)

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_disabled"


# --- a use the cache may still count -------------------------------------------------------


def _count_fails_with(monkeypatch, exc):
    def count(*args, **kwargs):
        raise exc

    monkeypatch.setattr(backends.active(), "count", count)


def test_a_use_the_cache_refused_is_written_to_the_database(monkeypatch):
    api_key, raw, _ = owned_key()
    _count_fails_with(monkeypatch, RedisConnectionError("refused"))

    assert key_client(raw).get(INFO).status_code == 200

    assert ApiKey.objects.get(pk=api_key.pk).request_count == 1


def test_a_use_sent_to_a_stalled_cache_is_left_for_the_cache_to_count(monkeypatch):
    api_key, raw, _ = owned_key()
    stalled = RedisTimeoutError("Timeout reading from 127.0.0.1:6379")
    stalled.maybe_run = True  # sent, then no reply: Redis runs it when it resumes
    _count_fails_with(monkeypatch, stalled)

    assert key_client(raw).get(INFO).status_code == 200

    assert ApiKey.objects.get(pk=api_key.pk).request_count == 0
