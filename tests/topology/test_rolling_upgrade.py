"""A rolling upgrade: release N and release N+1 serve one database at once (docs/deploy.md).

Release N is this commit, exported with ``git archive``; release N+1 is the same tree plus an
*expand* step — a nullable column on ``ApiKey`` and the migration ``makemigrations`` writes for
it. The order is the deploy's: the database at N, a node on N serving; N+1's migration runs
while it serves; a node on N+1 joins; both serve keys created by either, revoke on either, and
see each other's writes. A non-nullable column without a database default would break N's
inserts here, which is why docs/deploy.md allows only expand steps in a release.

Its own database (``<name>_rolling``) and the run's Redis; the database is dropped at the end.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from tests.multinode.conftest import Node, _wait_until_healthy, database_url, free_port, stop_nodes
from tests.topology.conftest import record

pytestmark = [pytest.mark.topology, pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
VERIFY = "/api/v1/auth/verify"
ANCHOR = '    description = models.TextField(blank=True, default="")\n'
EXPAND = "    rollout_note = models.TextField(null=True, blank=True)  # N+1: expand, nullable\n"


def release_n(into: Path) -> Path:
    """This commit's tree, as a release would ship it."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a checkout to export release N with git archive")
    into.mkdir()
    archive = subprocess.run(
        ["git", "-C", ROOT, "archive", "HEAD"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return into


def release_n_plus_1(release: Path, into: Path, env: dict) -> Path:
    """Release N with an expand step: a nullable column, and the migration Django writes."""
    shutil.copytree(release, into)
    models = into / "apikeys" / "models.py"
    text = models.read_text()
    assert text.count(ANCHOR) == 1
    models.write_text(text.replace(ANCHOR, ANCHOR + EXPAND))
    manage(into, env, "makemigrations", "apikeys", "--name", "rollout_note")
    return into


def manage(release: Path, env: dict, *args) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=release,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def start_node_of(release: Path, env: dict) -> Node:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"keyward-release-{port}-"))
    node_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus")}
    with (workdir / "gunicorn.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--config", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
             "--access-logfile", "/dev/null"],
            cwd=release, env=node_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    node = Node(port=port, process=process, workdir=workdir)
    try:
        _wait_until_healthy(node, time.monotonic() + 60)
    except BaseException:
        stop_nodes([node])
        raise
    return node


def call(node, method, path, key, body=None):
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    status, _, data = node.request(method, path, headers, json.dumps(body) if body else None)
    return status, (json.loads(data) if data else None)


def create_key(node, manager, name):
    status, body = call(node, "POST", "/api/v1/user/api-keys", manager, {"name": name})
    assert status == 201, body
    return body["id"], body["key"]


def verified_everywhere(nodes, key) -> set[int]:
    return {call(node, "GET", VERIFY, key)[0] for node in nodes}


@pytest.fixture
def rolling_database(django_db_setup):
    base, _, name = database_url().rpartition("/")
    database = f"{name.removeprefix('test_')}_rolling"
    admin = f"{base}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    yield f"{base}/{database}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_release_n_and_n_plus_1_serve_one_database_side_by_side(rolling_database, tmp_path):
    started = time.monotonic()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": rolling_database,
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "KEYWARD_KEY_PEPPER": settings.KEYWARD_KEY_PEPPER,
        "KEYWARD_HTTPS": "false",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "KEYWARD_BOOTSTRAP_ENABLED": "true",
    }
    old = release_n(tmp_path / "release-n")
    new = release_n_plus_1(old, tmp_path / "release-n-plus-1", env)
    manage(old, env, "migrate", "--noinput")
    manager = manage(old, env, "bootstrap").strip()
    nodes = [start_node_of(old, env)]
    try:
        before_id, before_key = create_key(nodes[0], manager, "made on N before")
        manage(new, env, "migrate", "--noinput")  # the expand step, while N serves
        nodes.append(start_node_of(new, env))
        old_node, new_node = nodes

        on_old_id, on_old = create_key(old_node, manager, "made on N after")  # N inserts
        on_new_id, on_new = create_key(new_node, manager, "made on N+1")
        for key in (manager, before_key, on_old, on_new):
            assert verified_everywhere(nodes, key) == {200}
        page = call(old_node, "GET", "/api/v1/user/api-keys?page_size=100", manager)[1]
        listed = {k["id"] for k in page["results"]}  # N lists what N+1 made
        assert {before_id, on_old_id, on_new_id} <= listed

        assert (
            call(new_node, "POST", f"/api/v1/user/api-keys/{on_old_id}/revoke", manager)[0] == 200
        )
        assert (
            call(old_node, "POST", f"/api/v1/user/api-keys/{on_new_id}/revoke", manager)[0] == 200
        )
        assert verified_everywhere(nodes, on_old) == {401}
        assert verified_everywhere(nodes, on_new) == {401}
        assert verified_everywhere(nodes, before_key) == {200}
    finally:
        stop_nodes(nodes)
    record(
        f"rolling upgrade: release N and N+1 (nullable column added) on one database "
        f"({time.monotonic() - started:.0f} s)"
    )
