"""Redis Cluster: three masters, two nodes, and no trip that spans two hash slots.

``REDIS_URL=redis+cluster://…`` on a cluster of three masters (``servers.ClusterSet``). Every
script Keyward runs names its keys with one hash tag (``metering.keys``), so each runs in one
slot; a ``CROSSSLOT`` anywhere would surface as a 5xx, or as a logged cache error and an
unmetered answer, which these tests look for too.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import override_settings

from apikeys.models import ApiKey
from apikeys.services import api_key_create
from core.redis_topology import cache_location
from metering import backends
from metering.meter import Meter, Window, take
from tests.factories import UserFactory
from tests.multinode.client import burst, fetch
from tests.multinode.conftest import (  # noqa: F401 - quiet_nodes_at_teardown is a fixture
    database_url,
    key_with_room,
    quiet_nodes_at_teardown,
    start_nodes,
    stop_nodes,
)
from tests.tenants.helpers import jwt_for
from tests.topology.conftest import record

pytestmark = [
    pytest.mark.topology,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("quiet_nodes_at_teardown"),
]

ROOT = Path(__file__).resolve().parents[2]
VERIFY = "/api/v1/auth/verify"
DIRTY_SET = "kw:1:usage:dirty"  # metering.backends.DIRTY_SET under the cache's key prefix
# The metering, key, account, tenant and OAuth suites run on the cluster (not the fuzzers, which
# add time and no Redis path), less what is about one Redis server only: the fast
# path's held connection (a Cluster client routes per slot, so the public ``Script`` runs the
# script there) and django-ratelimit reading the meter's counters (off a Cluster only, as its
# names carry no hash tag: metering.keys).
SUITE = ["tests/metering", "tests/apikeys", "tests/accounts", "tests/tenants", "tests/oauth"]
NOT_ON_A_CLUSTER = (
    "not held and not fork and not polling and not reconnects"
    " and not django_ratelimit_reads_the_same_counters"
    # Off on a Cluster (docs/deploy.md, Topologies): shadow proposals are not judged, and calls
    # a key's own rules refuse are counted in the caller's address slot, not on its chart.
    " and not shadow and not suggestion and not proposals and not recorded_as_refused"
    # Counted on the held connection, which a Cluster does not use.
    " and not round_trip"
)


@pytest.fixture(scope="module")
def nodes(cluster_set, django_db_setup):
    started = start_nodes(
        2,
        workers=2,
        threads=4,
        extra_env={
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "REDIS_URL": cluster_set.url,
            "KEYWARD_USAGE_FLUSH_SECONDS": "1",
        },
    )
    yield started
    stop_nodes(started)


def keyed(raw) -> dict:
    return {"X-API-Key": raw}


def spread(nodes, n, headers):
    return [(nodes[i % len(nodes)].port, "GET", VERIFY, headers) for i in range(n)]


def no_cache_errors(nodes) -> list[str]:
    lines = [line for node in nodes for line in node.log_tail(1_000_000).splitlines()]
    return [line for line in lines if "CROSSSLOT" in line or "cache unavailable" in line]


def test_a_key_gets_exactly_its_limit_across_two_nodes(nodes):
    _, raw = key_with_room(UserFactory(), key_type="production", rate_limit={"per_minute": 40})

    statuses = sorted(r.status for r in burst(spread(nodes, 60, keyed(raw))))

    assert (statuses.count(200), statuses.count(429)) == (40, 20), statuses
    assert not no_cache_errors(nodes)


def test_usage_is_counted_exactly_and_flushed_by_the_nodes(nodes, cluster_set):
    api_key, raw = api_key_create(user=UserFactory(), name="used", key_type="production")

    responses = burst(spread(nodes, 50, keyed(raw)))
    time.sleep(1.1)
    deadline = time.monotonic() + 10
    while cluster_set.client().scard(DIRTY_SET):
        assert time.monotonic() < deadline, "the nodes did not flush usage"
        for node in nodes:
            fetch(node.port, "GET", "/api/v1/health")
        time.sleep(0.2)
    time.sleep(0.3)

    assert [r.status for r in responses] == [200] * 50
    assert ApiKey.objects.get(pk=api_key.pk).request_count == 50
    assert not no_cache_errors(nodes)


def test_a_revoked_key_is_refused_on_every_node_at_once(nodes):
    user = UserFactory()
    revoked, revoked_raw = api_key_create(user=user, name="revoked", key_type="production")
    _, manager = api_key_create(user=user, name="manager", key_type="production", key_manager=True)
    for node in nodes:
        assert fetch(node.port, "GET", VERIFY, keyed(revoked_raw)).status == 200

    answer = fetch(
        nodes[0].port, "POST", f"/api/v1/user/api-keys/{revoked.pk}/revoke", keyed(manager)
    )

    assert answer.status == 200, answer.body
    assert {fetch(n.port, "GET", VERIFY, keyed(revoked_raw)).status for n in nodes} == {401}
    assert not no_cache_errors(nodes)


def test_refusals_jwts_and_unknown_keys_are_metered_without_a_crossslot(nodes):
    person = UserFactory()
    headers = [
        {"Authorization": f"Bearer {jwt_for(person)}"},  # user bucket and generation
        keyed("kw_live_" + "x" * 40),  # unknown: the address's bucket and the keys' family
        {},  # anonymous
    ]

    responses = [fetch(n.port, "GET", VERIFY, h) for n in nodes for h in headers]

    assert [r.status for r in responses] == [200, 401, 401] * 2
    assert all("x-ratelimit-limit" in r.headers for r in responses), responses
    assert not no_cache_errors(nodes)


def own_database_url() -> str:
    """``<name>_cluster`` beside this run's database: the child's pytest makes its test_ copy."""
    base, _, name = database_url().rpartition("/")
    return f"{base}/{name.removeprefix('test_')}_cluster"


def test_the_metering_key_account_tenant_and_oauth_suites_pass_on_the_cluster(cluster_set):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-p", "no:cacheprovider", *SUITE,
         "-m", "not fuzz", "-k", NOT_ON_A_CLUSTER],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": cluster_set.url, "DATABASE_URL": own_database_url()},
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    record(
        f"cluster: {' '.join(SUITE)} on 3 masters: {summary} ({time.monotonic() - started:.0f} s)"
    )


def cluster_caches(url: str) -> dict:
    location, options = cache_location(url)
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": "kw",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2, **options},
        }
    }


def test_a_buffer_a_killed_worker_left_unlisted_is_listed_by_the_keys_next_count(
    cluster_set, monkeypatch
):
    meter = Meter(
        bucket="key:k1",
        windows=(Window(100, 60),),
        usage_key_id="k1",
        generation_of="key:h1",
        tag="key:h1",
    )
    with override_settings(CACHES=cluster_caches(cluster_set.url)):
        backend = backends.active()
        with monkeypatch.context() as patch:
            patch.setattr(backend, "_list_usage", lambda *args: None)  # died before its SADD
            take(meter)
        assert "k1" not in backend.usage_dirty_ids()

        take(meter)

        assert "k1" in backend.usage_dirty_ids()
        assert backend.usage_take("k1").count == 2
        assert "k1" not in backend.usage_dirty_ids()
    backends.active.cache_clear()
