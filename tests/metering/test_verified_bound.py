"""What a process remembers of verified credentials is bounded, and a busy one stays warm.

At the bound the least recently used record goes (``core.lru``), not every record at once: a
key in steady use keeps costing no query however many other keys pass through.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.lru import LRU
from metering import verified
from tests.apikeys.conftest import key_client, make_api_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

VERIFY = "/api/v1/auth/verify"


@pytest.fixture
def room_for_two(monkeypatch):
    monkeypatch.setattr(verified, "_entries", LRU(maxsize=2))


def test_a_key_in_steady_use_stays_warm_while_others_pass_through(
    room_for_two, django_assert_num_queries
):
    user = UserFactory()
    steady = key_client(make_api_key(user)[1])
    passing = [key_client(make_api_key(user)[1]) for _ in range(3)]
    for client in passing:
        steady.get(VERIFY)  # used before each other key: never the least recently used
        client.get(VERIFY)

    with django_assert_num_queries(0):
        assert steady.get(VERIFY).status_code == 200


def test_a_record_pushed_out_at_the_bound_is_read_again(room_for_two):
    user = UserFactory()
    first, second, third = (key_client(make_api_key(user)[1]) for _ in range(3))
    for client in (first, second, third):
        client.get(VERIFY)

    assert len(verified._entries) == 2
    with CaptureQueriesContext(connection) as queries:
        assert first.get(VERIFY).status_code == 200

    assert any('FROM "apikeys_apikey"' in query["sql"] for query in queries.captured_queries)
