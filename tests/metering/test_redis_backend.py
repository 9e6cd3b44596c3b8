"""The per-request script's own connection: it survives what a pooled connection survives."""

import os

import pytest

from metering import backends
from metering.meter import Meter, Window, take

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

METER = Meter(bucket="key:held", windows=(Window(100, 60),))


def test_counting_after_redis_dropped_the_connection_reconnects_and_counts_once():
    backend = backends.active()
    assert take(METER).remaining == 99
    backend._client.client_kill_filter(_id=backend._held.call("CLIENT", "ID"))

    assert take(METER).remaining == 98


def test_counting_after_redis_lost_its_scripts_loads_the_script_again():
    backend = backends.active()
    take(METER)
    backend._client.script_flush()

    assert take(METER).remaining == 98


def test_a_forked_process_counts_on_a_connection_of_its_own(monkeypatch):
    backend = backends.active()
    take(METER)
    parents = backend._held._connection
    monkeypatch.setattr(os, "getpid", lambda: -1)

    assert take(METER).remaining == 98
    assert backend._held._connection is not parents


def test_counting_with_polling_turned_off_blocks_for_the_reply_and_counts(settings):
    settings.KEYWARD_REDIS_POLL_MICROSECONDS = 0
    assert backends.active()._held._poll_seconds == 0

    assert take(METER).remaining == 99
    assert take(METER).remaining == 98
