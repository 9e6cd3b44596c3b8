"""Fault tests (SPEC §10): real servers, real outages, bounded load, and the figures they leave.

Each module starts what it breaks: its own Redis (a child process on a free port, append-only
file on, so a SIGKILL loses what the stated fsync policy allows and nothing more), for the
PostgreSQL test its own cluster, and two gunicorn nodes (``tests/multinode`` helpers) on them.
Nothing here touches the shared Redis or PostgreSQL other tests use.

Every test records one row — requests sent, 2xx, 503, 500, what the server counted, the
revocations checked — and ``pytest_terminal_summary`` prints the table at the end of the run.
"""

import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.multinode.client import fetch
from tests.multinode.conftest import free_port

FIGURES: list[dict] = []
COLUMNS = (
    ("test", 34),
    ("sent", 5),
    ("2xx", 5),
    ("503", 5),
    ("500", 4),
    ("other", 6),
    ("counted", 8),
    ("expected", 9),
    ("bound", 6),
    ("revoked refused", 16),
    ("seconds", 8),
)


def record_figures(**row) -> None:
    FIGURES.append(row)


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    terminalreporter.section("fault figures (SPEC §10)")
    header = " ".join(name.ljust(width) for name, width in COLUMNS)
    terminalreporter.write_line(header)
    for row in FIGURES:
        line = " ".join(str(row.get(name, "")).ljust(width) for name, width in COLUMNS)
        terminalreporter.write_line(line)


# --- a Redis of our own ------------------------------------------------------------------


class RedisServer:
    """A ``redis-server`` child on a free port, which a test may kill, stop, flush and restart."""

    def __init__(self, *, appendfsync: str = "always"):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="keyward-fault-redis-"))
        self.appendfsync = appendfsync
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def start(self) -> None:
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                self.appendfsync,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return
            except redis.RedisError:
                pass
            assert time.monotonic() < deadline, f"Redis on {self.port} did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save; only what the append-only file already holds."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def fault_redis():
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server on PATH for a Redis of its own")
    server = RedisServer(appendfsync="always")
    server.start()
    yield server
    server.stop()


# --- a PostgreSQL cluster of our own -------------------------------------------------------


class PostgresCluster:
    """A throwaway cluster (``initdb`` + ``pg_ctl``, as the ``postgres`` user when root)."""

    def __init__(self):
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not binaries:
            pytest.skip("needs PostgreSQL's initdb (/usr/lib/postgresql/*/bin) for a cluster")
        self.bin = binaries[-1].parent
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="keyward-fault-pg-"))
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "socket"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/keyward"

    def _run(self, *args, timeout=60):
        command = [str(a) for a in args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def init(self) -> None:
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        self._run(
            self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        self.start()
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", self.port, "keyward")

    def start(self) -> None:
        self._run(
            self.bin / "pg_ctl",
            "-D",
            self.data,
            "-o",
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "-l",
            self.dir / "postgres.log",
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def sql(self, query: str) -> str:
        result = self._run(
            self.bin / "psql",
            "-h",
            "127.0.0.1",
            "-p",
            self.port,
            "-U",
            "postgres",
            "-d",
            "keyward",
            "-tAc",
            query,
        )
        return result.stdout.decode().strip()

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- bounded load --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    label: str  # which credential
    port: int
    started: float  # monotonic
    ended: float
    status: int  # 0: no answer (connection refused or reset)
    counted: bool  # the answer carries a rate-limit reading: the request was admitted


@dataclass
class Load:
    """Requests from a pool of threads, round-robin over nodes and credentials, until stopped.

    Bounded twice: by ``limit`` requests and by ``seconds``. A request that gets no answer (a
    node or worker killed under it) is recorded with status 0, never retried.
    """

    targets: list  # (label, port, method, path, headers)
    threads: int = 8
    limit: int = 400
    seconds: float = 20.0
    pace: float = 0.01  # seconds between one thread's requests
    sent: list[Sent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0

    def __enter__(self):
        self._deadline = time.monotonic() + self.seconds
        self._pool = ThreadPoolExecutor(max_workers=self.threads)
        self._futures = [self._pool.submit(self._run) for _ in range(self.threads)]
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for future in self._futures:
            future.result()
        self._pool.shutdown()

    def finish(self) -> None:
        """Wait until the limit (or the time) is reached, rather than stop at once."""
        for future in self._futures:
            future.result()

    def _take_turn(self):
        with self._lock:
            if self._next >= self.limit:
                return None
            target = self.targets[self._next % len(self.targets)]
            self._next += 1
            return target

    def _run(self):
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            target = self._take_turn()
            if target is None:
                return
            label, port, method, path, headers = target
            started = time.monotonic()
            try:
                response = fetch(port, method, path, headers, timeout=10)
                status = response.status
                counted = "x-ratelimit-limit" in response.headers
            except (OSError, http.client.HTTPException):  # refused, reset, or cut short
                status, counted = 0, False
            with self._lock:
                self.sent.append(Sent(label, port, started, time.monotonic(), status, counted))
            time.sleep(self.pace)

    def statuses(self, label: str | None = None) -> Counter:
        return Counter(s.status for s in self.sent if label is None or s.label == label)
