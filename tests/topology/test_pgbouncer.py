"""PgBouncer in transaction mode: the PostgreSQL race tests, run through it.

A PgBouncer of the test's own (``servers.PgBouncer``: ``pool_mode = transaction``, no prepared
statements) in front of this run's PostgreSQL, and a child pytest with
``DATABASE_URL`` pointing at it and ``DATABASE_PGBOUNCER=true`` running the race and
concurrency modules (those marked ``postgres`` and the rest): row locks, unique constraints and
``select_for_update`` must hold when each transaction may get another server connection.

The child keeps its test database at exit (``--reuse-db``: dropping it through PgBouncer would
find PgBouncer's own server connections in it); this test drops it once PgBouncer has stopped.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.multinode.conftest import database_url
from tests.topology import servers
from tests.topology.conftest import need, record

pytestmark = [pytest.mark.topology, pytest.mark.postgres, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parents[2]
RACES = [
    "tests/apikeys/test_races.py",
    "tests/accounts/test_refresh_concurrency.py",
    "tests/tenants/test_concurrency.py",
    "tests/tenants/test_invitation_concurrency.py",
    "tests/apikeys/test_bootstrap.py",
]


@pytest.fixture
def pgbouncer():
    need("pgbouncer")
    db = connection.settings_dict
    bouncer = servers.PgBouncer(
        host=db.get("HOST") or "127.0.0.1", port=int(db.get("PORT") or 5432)
    )
    bouncer.start()
    yield bouncer
    bouncer.stop()


def transactions_served(bouncer, database: str) -> int:
    with psycopg.connect(
        bouncer.url("pgbouncer"), autocommit=True, prepare_threshold=None
    ) as admin:
        rows = admin.execute("SHOW STATS").fetchall()
        columns = [c.name for c in admin.execute("SHOW STATS").description]
    stats = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    return int(stats.get(database, {}).get("total_xact_count", 0))


def test_the_race_tests_pass_through_pgbouncer_in_transaction_mode(pgbouncer):
    name = database_url().rpartition("/")[2].removeprefix("test_") + "_pgbouncer"
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "--reuse-db", "--create-db",
             *RACES],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": pgbouncer.url(name), "DATABASE_PGBOUNCER": "true"},
            capture_output=True,
            text=True,
            timeout=900,
        )  # fmt: skip
        served = transactions_served(pgbouncer, f"test_{name}")
    finally:
        pgbouncer.stop()
        drop_database(f"test_{name}")

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout and "skipped" not in result.stdout.splitlines()[-1]
    assert served > 100  # the child's transactions went through PgBouncer
    summary = result.stdout.strip().splitlines()[-1]
    record(
        f"pgbouncer (transaction mode): race tests {summary}; {served} transactions through it "
        f"({time.monotonic() - started:.0f} s)"
    )


def drop_database(name: str) -> None:
    with psycopg.connect(database_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
