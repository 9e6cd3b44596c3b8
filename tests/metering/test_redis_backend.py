"""The per-request script's connection survives what a pooled connection survives, both ways.

Held: the fast path's connection of the thread's own (``core.fastpath.redis_reply``). Public:
redis-py's ``Script`` through the pool, which the fast path falls back to.
"""

import os

import pytest

from core import fastpath
from core.fastpath import redis_reply
from metering import backends
from metering.meter import Meter, Window, take

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

METER = Meter(bucket="key:held", windows=(Window(100, 60),))


@pytest.fixture(params=["held", "public"])
def runner(request, monkeypatch):
    runner_class = {
        "held": redis_reply.HeldScriptRunner,
        "public": redis_reply.PublicScriptRunner,
    }[request.param]
    monkeypatch.setattr(fastpath, "script_runner", runner_class)
    backends.active.cache_clear()
    yield request.param
    backends.active.cache_clear()


def _kill_count_connections(backend):
    """Make Redis drop every connection the count script may be sent on."""
    held = backend._run_count.held
    if held is not None:
        backend._client.client_kill_filter(_id=held.call("CLIENT", "ID"))
    else:  # the pool's: this test database's connections only, never another's on this Redis
        db = str(backend._client.connection_pool.connection_kwargs.get("db", 0))
        for client in backend._client.client_list():
            if str(client["db"]) == db:
                backend._client.client_kill_filter(_id=client["id"], skipme=False)


def test_counting_after_redis_dropped_the_connection_reconnects_and_counts_once(runner):
    backend = backends.active()
    assert take(METER).remaining == 99
    _kill_count_connections(backend)

    assert take(METER).remaining == 98


def test_counting_after_redis_lost_its_scripts_loads_the_script_again(runner):
    backend = backends.active()
    take(METER)
    backend._client.script_flush()

    assert take(METER).remaining == 98


def test_a_warm_count_sends_exactly_one_evalsha(runner, redis_calls):
    take(METER)
    redis_calls.clear()

    assert take(METER).remaining == 98
    assert redis_calls == ["EVALSHA"]


def test_the_fast_path_is_the_held_connection_on_the_pinned_redis_py():
    assert fastpath.script_runner is redis_reply.HeldScriptRunner


def test_a_forked_process_counts_on_a_connection_of_its_own(monkeypatch):
    backend = backends.active()
    take(METER)
    held = backend._run_count.held
    parents = held.connection
    monkeypatch.setattr(os, "getpid", lambda: -1)

    assert take(METER).remaining == 98
    assert held.connection is not parents


def test_polling_is_off_unless_configured():
    assert backends.active()._run_count.held.poll_seconds == 0


def test_counting_with_polling_turned_on_counts(settings):
    settings.KEYWARD_REDIS_POLL_MICROSECONDS = 200
    assert backends.active()._run_count.held.poll_seconds == 0.000_2

    assert take(METER).remaining == 99
    assert take(METER).remaining == 98
