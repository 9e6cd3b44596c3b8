"""PostgreSQL stopped and started mid-load under two nodes (SPEC §10).

The module runs a PostgreSQL cluster of its own (``initdb`` + ``pg_ctl`` on a free port,
holding a copy of the test database's schema) and its own Redis, so stopping the database
touches nothing any other test uses. Data is made in that cluster by ``manage.py shell`` and
read back with ``psql``.
"""

import json
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from tests.faults.conftest import Load, PostgresCluster, record_figures
from tests.multinode.client import fetch
from tests.multinode.conftest import ROOT, start_nodes, stop_nodes

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

VERIFY = "/api/v1/auth/verify"
OUTAGE_SECONDS = 3

# Made in the cluster's database by ``manage.py shell``: a user, the key under load, a key
# revoked before the outage, one first used after it, and a key manager.
MAKE_DATA = """
import json
from apikeys.services import api_key_create
from accounts.models import User
user = User.objects.create_user(email="faults@example.com", password="unused-password-0")
made = {}
for name in ("load", "revoked", "cold", "manager"):
    key, raw = api_key_create(
        user=user, name=name, key_type="production", key_manager=name == "manager"
    )
    made[name] = {"id": str(key.pk), "raw": raw}
print(json.dumps(made))
"""


def _env(cluster, redis_url) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": cluster.url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": settings.SECRET_KEY,
        "KEYWARD_KEY_PEPPER": settings.KEYWARD_KEY_PEPPER,
        "KEYWARD_HTTPS": "false",
        "DEBUG": "false",
    }


@pytest.fixture(scope="module")
def cluster(django_db_setup):
    cluster = PostgresCluster()
    try:
        cluster.init()
    except (subprocess.CalledProcessError, OSError) as exc:
        cluster.destroy()
        pytest.skip(f"could not start a PostgreSQL cluster of its own: {exc}")
    test_database = connection.settings_dict["NAME"]
    dump = subprocess.run(
        [
            cluster.bin / "pg_dump",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "--no-owner",
            "-d",
            test_database,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    subprocess.run(
        [
            cluster.bin / "psql",
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),
            "-U",
            "postgres",
            "-d",
            "keyward",
            "-v",
            "ON_ERROR_STOP=1",
        ],
        input=dump.stdout,
        check=True,
        capture_output=True,
        timeout=60,
    )
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def made(cluster, fault_redis):
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", MAKE_DATA],
        cwd=ROOT,
        env=_env(cluster, fault_redis.url),
        check=True,
        capture_output=True,
        timeout=60,
    )
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


@pytest.fixture(scope="module")
def nodes(cluster, fault_redis, made):
    env = _env(cluster, fault_redis.url)
    extra = {name: env[name] for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL")}
    started = start_nodes(
        2,
        workers=2,
        threads=4,
        extra_env={
            **extra,
            "KEYWARD_USAGE_FLUSH_SECONDS": "1",
            "KEYWARD_ANON_RATE_PER_IP": "100000/m",
        },
    )
    yield started
    stop_nodes(started)


def keyed(raw) -> dict:
    return {"X-API-Key": raw}


def test_service_survives_a_postgres_restart_and_counts_what_it_admitted(
    cluster, fault_redis, made, nodes
):
    started = time.monotonic()
    warmed = 0
    for node in nodes:
        for label in ("load", "revoked"):
            assert fetch(node.port, "GET", VERIFY, keyed(made[label]["raw"])).status == 200
        warmed += 1
    revoked = fetch(
        nodes[0].port,
        "POST",
        f"/api/v1/user/api-keys/{made['revoked']['id']}/revoke",
        keyed(made["manager"]["raw"]),
    )
    assert revoked.status == 200, revoked.body
    targets = []
    for node in nodes:
        targets += [
            ("key", node.port, "GET", VERIFY, keyed(made["load"]["raw"])),
            ("revoked", node.port, "GET", VERIFY, keyed(made["revoked"]["raw"])),
        ]

    with Load(targets, threads=8, limit=400, seconds=8, pace=0.02) as load:
        time.sleep(1.5)
        cluster.stop()
        time.sleep(OUTAGE_SECONDS)
        cluster.start()

    back_at = time.monotonic()
    while True:  # back without a restart: a key never seen before, read from the database
        statuses = {fetch(n.port, "GET", VERIFY, keyed(made["cold"]["raw"])).status for n in nodes}
        if statuses == {200}:
            break
        assert statuses <= {503}, statuses
        assert time.monotonic() - back_at < 15, "the nodes did not reach the database again"
        time.sleep(0.2)
    time.sleep(1.2)
    counted = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the nodes' own flush, after the next responses
        for node in nodes:
            fetch(node.port, "GET", "/api/v1/health")
        if not fault_redis.client().scard("kw:1:usage:dirty"):
            time.sleep(0.3)
            counted = int(
                cluster.sql(
                    f"select request_count from apikeys_apikey where id = '{made['load']['id']}'"
                )
            )
            break
        time.sleep(0.2)

    statuses = load.statuses()
    assert 500 not in statuses
    assert set(load.statuses("key")) <= {200, 503}
    assert set(load.statuses("revoked")) <= {401, 503}  # refused, or the database is down
    key_sent = [s for s in load.sent if s.label == "key"]
    ok = sum(1 for s in key_sent if s.status == 200)
    failed_later = sum(1 for s in key_sent if s.status == 503 and s.counted)
    expected = warmed + ok + failed_later
    assert counted == expected
    audit = cluster.sql(
        "select count(*) from audit_auditevent where event_type = 'api_key.revoked'"
    )
    assert audit == "1"
    record_figures(
        test="postgres stop/start",
        sent=len(load.sent),
        **{"2xx": sum(n for s, n in statuses.items() if 200 <= s < 300)},
        **{"503": statuses.get(503, 0), "500": statuses.get(500, 0)},
        other=sum(n for s, n in statuses.items() if s not in (200, 500, 503)),
        counted=counted,
        expected=expected,
        bound=0,
        **{"revoked refused": len(load.sent) - len(key_sent)},
        seconds=round(time.monotonic() - started, 1),
    )
