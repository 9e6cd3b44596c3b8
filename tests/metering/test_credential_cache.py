"""The credential cache is one module: records, tokens and sessions, one bound, one way to forget.

Every table is bounded the same way (``core.lru``: the least recently used entry goes, not all
at once), and a session rests on its user's record: whatever forgets the record — a change to
the user, by save or in bulk, or a shared cache that stops answering — forgets the session too.
"""

import pytest
from django.test import override_settings

from accounts.models import User
from core.lru import LRU
from identity.policy import cache_key_of_user
from metering import verified
from tests.factories import UserFactory
from tests.metering.test_hot_path import warm_session_client
from tests.metering.test_limits_api import UNREACHABLE_REDIS
from tests.tenants.helpers import client_for, jwt_for

pytestmark = pytest.mark.django_db

VERIFY = "/api/v1/auth/verify"


def session_digest(client) -> bytes:
    return verified.secret_digest(client.cookies["sessionid"].value)


@pytest.fixture
def room_for_two(monkeypatch):
    monkeypatch.setattr(verified, "_tokens", LRU(maxsize=2))
    monkeypatch.setattr(verified, "_sessions", LRU(maxsize=2))


def test_a_token_in_steady_use_stays_verified_while_others_pass_through(room_for_two):
    steady, *passing = (jwt_for(UserFactory()) for _ in range(4))
    for token in passing:
        client_for(steady).get(VERIFY)
        client_for(token).get(VERIFY)

    assert verified.verified_token(verified.secret_digest(steady)) is not None
    assert verified.verified_token(verified.secret_digest(passing[0])) is None


def test_a_session_in_steady_use_stays_remembered_while_others_pass_through(room_for_two):
    steady = warm_session_client(UserFactory())
    passing = [warm_session_client(UserFactory()) for _ in range(3)]
    for client in passing:
        steady.get(VERIFY)
        client.get(VERIFY)

    assert verified.known_session(session_digest(steady)) is not None
    assert verified.known_session(session_digest(passing[0])) is None


def test_a_session_pushed_out_at_the_bound_leaves_nothing_behind(room_for_two):
    clients = [warm_session_client(UserFactory()) for _ in range(3)]

    remembered = {digest for digests in verified._sessions_of.values() for digest in digests}
    assert remembered == {session_digest(client) for client in clients[1:]}


def test_forgetting_a_users_record_forgets_their_sessions():
    user = UserFactory()
    client = warm_session_client(user)

    verified.forget(cache_key_of_user(user.pk))

    assert verified.known_session(session_digest(client)) is None


def test_a_user_written_in_bulk_has_their_sessions_forgotten(django_capture_on_commit_callbacks):
    user = UserFactory()
    client = warm_session_client(user)

    with django_capture_on_commit_callbacks(execute=True):
        User.objects.filter(pk=user.pk).update(first_name="Renamed")

    assert verified.known_session(session_digest(client)) is None
    assert client.get(VERIFY).status_code == 200  # checked again, not refused


def test_a_cache_that_stops_answering_takes_sessions_with_the_records_but_not_tokens():
    user = UserFactory()
    client = warm_session_client(user)
    token = jwt_for(user)
    client_for(token).get(VERIFY)

    with override_settings(CACHES=UNREACHABLE_REDIS):
        assert client_for(token).get(VERIFY).status_code == 200  # served, unconfirmed

    assert verified.get(cache_key_of_user(user.pk)) is None
    assert verified.known_session(session_digest(client)) is None
    assert verified.verified_token(verified.secret_digest(token)) is not None
