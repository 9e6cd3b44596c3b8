"""Real gunicorn processes sharing the test database and Redis, for cross-process guarantees.

The nodes connect to the same test database pytest-django created (tests here use
``transaction=True`` so what they write is committed and visible to the nodes) and to the same
Redis, with the same SECRET_KEY, so keys hash alike everywhere.

A node's stderr goes to a file, not a pipe: a pipe nobody reads fills after 64 KiB of log lines
(a Redis outage logs a warning per request) and then blocks the node mid-request.
"""

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from metering.meter import window_end

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


@dataclass
class Node:
    port: int
    process: subprocess.Popen
    workdir: Path
    log_path: Path = field(init=False)

    def __post_init__(self):
        self.log_path = self.workdir / "gunicorn.log"

    def request(self, method, path, headers=None, body=None, timeout=10.0):
        """One request on a fresh connection: ``(status, headers, body bytes)``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The URL of the test database pytest-django created (``test_<name>``)."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def start_node(*, workers: int = 1, threads: int = 8, extra_env: dict | None = None) -> Node:
    return start_nodes(1, workers=workers, threads=threads, extra_env=extra_env)[0]


def start_nodes(
    count: int, *, workers: int = 1, threads: int = 8, extra_env: dict | None = None
) -> list[Node]:
    """Launch ``count`` nodes side by side (each takes seconds to import Django), then wait."""
    nodes = [_launch(workers=workers, threads=threads, extra_env=extra_env) for _ in range(count)]
    try:
        deadline = time.monotonic() + START_TIMEOUT
        for node in nodes:
            _wait_until_healthy(node, deadline)
    except BaseException:
        stop_nodes(nodes)
        raise
    return nodes


def _launch(*, workers, threads, extra_env) -> Node:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"keyward-node-{port}-"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "KEYWARD_KEY_PEPPER": settings.KEYWARD_KEY_PEPPER,
        "KEYWARD_HTTPS": "false",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
        **(extra_env or {}),
    }
    with (workdir / "gunicorn.log").open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--config",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--access-logfile",
                "/dev/null",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: ``stop_nodes`` ends the workers too
        )
    return Node(port=port, process=process, workdir=workdir)


def _wait_until_healthy(node: Node, deadline: float) -> None:
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise RuntimeError(f"node died at start:\n{node.log_tail()}")
        try:
            if node.request("GET", "/api/v1/health", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"node did not answer within {START_TIMEOUT:.0f} s:\n{node.log_tail()}")


def stop_node(node: Node) -> None:
    stop_nodes([node])


def stop_nodes(nodes: list[Node]) -> None:
    """Quick shutdown (SIGINT) of all at once: no request here is worth a graceful drain."""
    for node in nodes:
        if node.process.poll() is None:
            node.process.send_signal(signal.SIGINT)
    for node in nodes:
        try:
            node.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
        # A worker still exiting when its master went (a thread pool's shutdown seen to hang
        # under load) would outlive the suite, holding its port: end the whole group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.process.pid, signal.SIGKILL)
        shutil.rmtree(node.workdir, ignore_errors=True)


@pytest.fixture
def quiet_nodes_at_teardown(transactional_db):
    """A test of nodes that flush usage ends once none has been inside a transaction for half
    a second.

    The test database is emptied after every transactional test (``TRUNCATE`` of every table),
    and a node flushing usage at that moment — it flushes after a response has gone, so just
    after the test's last request — takes its locks in another order: PostgreSQL then breaks
    the deadlock by failing the emptying, and the test with it.
    """
    yield
    deadline = time.monotonic() + 10
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 0.5 and time.monotonic() < deadline:
        if _other_sessions_busy():
            quiet_since = time.monotonic()
        time.sleep(0.05)


def _other_sessions_busy() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            " AND state <> 'idle'"
        )
        return cursor.fetchone()[0] > 0


def key_with_room(user, *, key_type="development", seconds=20, **kwargs):
    """A new key (``(api_key, raw)``) whose per-minute window has ``seconds`` left at least.

    Windows are fixed with a per-bucket jitter (see docs/limits.md); a burst straddling a
    window's end would rightly be admitted twice over. Rather than sleep to the next window,
    issue another key: its id gives another jitter.
    """
    from tests.factories import issued_key

    for attempt in range(10):
        api_key, raw = issued_key(user, name=f"k{attempt}", key_type=key_type, **kwargs)
        now = time.time()
        if window_end(f"key:{api_key.pk}", 60, int(now)) - now >= seconds:
            return api_key, raw
    raise AssertionError("no key with room in its window after 10 tries")


@pytest.fixture(scope="module")
def two_nodes(django_db_setup):
    """Two gunicorn instances on different ports, each with two workers of four threads.

    Started once per module (about two seconds each); the tests' own ``transaction=True`` data
    is flushed between tests while the nodes run on.
    """
    nodes = start_nodes(2, workers=2, threads=4)
    yield nodes
    stop_nodes(nodes)
