"""Redis Sentinel: the master killed under two nodes' traffic, and what SPEC §10 still holds.

A master, one replica and three sentinels (``servers.SentinelSet``; a master is judged down
after 1 s of silence), two gunicorn nodes of two workers each with
``REDIS_URL=redis+sentinel://…/keyward/0``, flushing usage themselves every second.

What a failover may cost, stated: Redis replicates asynchronously, so the increments the old
master acknowledged but had not yet sent to the replica are lost with it — counters and usage
of the last moments before the kill, never more than what was admitted in the failover window
(the test measures it; on this machine it is usually none). Until the sentinels promote the
replica, requests are served as with Redis down (SPEC §10: unmetered, from the database; a
narrowing change answers 503); no node is restarted.
"""

import time

import pytest
import redis

from apikeys.models import ApiKey
from apikeys.services import api_key_create
from tests.factories import UserFactory
from tests.faults.conftest import Load
from tests.multinode.client import burst, fetch
from tests.multinode.conftest import (  # noqa: F401 - quiet_nodes_at_teardown is a fixture
    key_with_room,
    quiet_nodes_at_teardown,
    start_nodes,
    stop_nodes,
)
from tests.topology.conftest import record

pytestmark = [
    pytest.mark.topology,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("quiet_nodes_at_teardown"),
]

VERIFY = "/api/v1/auth/verify"
DIRTY_SET = "kw:1:usage:dirty"  # metering.backends.DIRTY_SET under the cache's key prefix
RECOVERY_BOUND = 20.0  # seconds from the kill to metered traffic on every node


@pytest.fixture(scope="module")
def nodes(sentinel_set, django_db_setup):
    started = start_nodes(
        2,
        workers=2,
        threads=4,
        extra_env={
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "REDIS_URL": sentinel_set.url,
            "KEYWARD_USAGE_FLUSH_SECONDS": "1",
            "KEYWARD_ANON_RATE_PER_IP": "100000/m",
        },
    )
    yield started
    stop_nodes(started)


def keyed(raw) -> dict:
    return {"X-API-Key": raw}


def master(sentinel_set) -> redis.Redis:
    host, port = sentinel_set.master_address()
    return redis.Redis(host=host, port=port, socket_timeout=2)


def settle_usage(nodes, sentinel_set) -> None:
    """Let the nodes' own flush empty the buffer on whichever server is master now."""
    time.sleep(1.1)
    deadline = time.monotonic() + 15
    while master(sentinel_set).scard(DIRTY_SET):
        assert time.monotonic() < deadline, "the nodes did not flush usage by themselves"
        for node in nodes:
            fetch(node.port, "GET", "/api/v1/health")
        time.sleep(0.2)
    time.sleep(0.3)


def exactly_limited(nodes, user, limit: int) -> tuple[int, int]:
    """A fresh key of ``limit``/min hit 1.5 times that across both nodes: (200s, 429s)."""
    _, raw = key_with_room(
        user, key_type="production", seconds=20, rate_limit={"per_minute": limit}
    )
    calls = [(nodes[i % 2].port, "GET", VERIFY, keyed(raw)) for i in range(limit * 3 // 2)]
    statuses = [r.status for r in burst(calls)]
    return statuses.count(200), statuses.count(429)


def metered_everywhere(nodes, raw) -> bool:
    for node in nodes:
        response = fetch(node.port, "GET", VERIFY, keyed(raw), timeout=5)
        if response.status != 200 or "x-ratelimit-limit" not in response.headers:
            return False
    return True


def test_a_master_failover_keeps_section_10_and_recovers_without_a_restart(nodes, sentinel_set):
    user = UserFactory()
    used, used_raw = api_key_create(user=user, name="used", key_type="production")
    revoked, revoked_raw = api_key_create(user=user, name="revoked", key_type="production")
    during, during_raw = api_key_create(user=user, name="revoked during", key_type="production")
    _, manager = api_key_create(user=user, name="manager", key_type="production", key_manager=True)
    for node in nodes:  # cached on every node before the revokes
        for raw in (revoked_raw, during_raw):
            assert fetch(node.port, "GET", VERIFY, keyed(raw)).status == 200
    answer = fetch(
        nodes[0].port, "POST", f"/api/v1/user/api-keys/{revoked.pk}/revoke", keyed(manager)
    )
    assert answer.status == 200, answer.body
    old_master = sentinel_set.master_address()

    assert exactly_limited(nodes, user, 30) == (30, 15)  # before

    targets = []
    for node in nodes:
        targets += [
            ("used", node.port, "GET", VERIFY, keyed(used_raw)),
            ("revoked", node.port, "GET", VERIFY, keyed(revoked_raw)),
        ]
    with Load(targets, threads=6, limit=100_000, seconds=60, pace=0.02) as load:
        time.sleep(1.5)
        killed_at = time.monotonic()
        sentinel_set.kill_master()
        # A revoke while there is no master: everywhere (200) or nowhere (503, unchanged).
        during_answer = fetch(
            nodes[1].port, "POST", f"/api/v1/user/api-keys/{during.pk}/revoke", keyed(manager)
        )
        while not metered_everywhere(nodes, manager):
            assert time.monotonic() - killed_at < RECOVERY_BOUND, [n.log_tail() for n in nodes]
            time.sleep(0.05)
        recovered_at = time.monotonic()
        time.sleep(1.5)
    assert sentinel_set.master_address() != old_master

    assert exactly_limited(nodes, user, 30) == (30, 15)  # after
    statuses = load.statuses()
    assert 500 not in statuses, statuses
    assert set(statuses) <= {200, 401, 429, 503}, statuses
    assert set(load.statuses("revoked")) == {401}, load.statuses("revoked")
    assert during_answer.status in (200, 503), during_answer.body
    if during_answer.status == 503:
        assert during_answer.json()["code"] == "service_unavailable"
        assert ApiKey.objects.get(pk=during.pk).is_active
        assert {fetch(n.port, "GET", VERIFY, keyed(during_raw)).status for n in nodes} == {200}
    else:
        assert {fetch(n.port, "GET", VERIFY, keyed(during_raw)).status for n in nodes} == {401}
    settle_usage(nodes, sentinel_set)
    admitted = [s for s in load.sent if s.label == "used" and 200 <= s.status < 300]
    counted = ApiKey.objects.get(pk=used.pk).request_count
    in_window = sum(1 for s in admitted if killed_at - 1 <= s.ended <= recovered_at)
    lost = len(admitted) - counted
    # Lost only what the dead master acknowledged and never replicated; never counted twice.
    assert 0 <= lost <= in_window, (len(admitted), counted, in_window)
    # A narrowing change after the failover goes to the new master, and holds everywhere.
    answer = fetch(nodes[1].port, "POST", f"/api/v1/user/api-keys/{used.pk}/revoke", keyed(manager))
    assert answer.status == 200, answer.body
    assert {fetch(n.port, "GET", VERIFY, keyed(used_raw)).status for n in nodes} == {401}
    failover = recovered_at - killed_at
    record(
        f"sentinel failover: metered again on both nodes {failover:.2f} s after the master's "
        f"SIGKILL (down-after {sentinel_set.DOWN_AFTER_MS} ms); {len(load.sent)} requests, "
        f"{statuses.get(503, 0)} x 503, 0 x 500; usage counted {counted} of {len(admitted)} "
        f"admitted (lost {lost}, {in_window} admitted in the window); a revoke during it: "
        f"{during_answer.status}"
    )
