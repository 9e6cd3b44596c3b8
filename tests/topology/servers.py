"""Throwaway Redis topologies and a PgBouncer, each on free ports in a temporary directory.

Plain classes, usable from fixtures and by hand (``python -m tests.topology.servers cluster``
prints a ``REDIS_URL`` and waits), so a suite can be pointed at a Cluster too. Every server is
a child process of the caller; ``stop`` kills it and removes its directory.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cluster_port() -> int:
    """A free port whose cluster bus port (10000 higher) is free too."""
    while True:
        port = free_port()
        if port > 55535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def missing(*binaries: str) -> list[str]:
    return [b for b in binaries if shutil.which(b) is None]


def _wait(predicate, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if predicate():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready within {seconds:.0f} s")
        time.sleep(0.05)


class Processes:
    """Children started in one temporary directory, stopped together."""

    def __init__(self, prefix: str):
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.children: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, *command) -> subprocess.Popen:
        with (self.dir / f"{name}.log").open("ab") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                [str(c) for c in command], stdout=log, stderr=subprocess.STDOUT, cwd=self.dir
            )
        self.children[name] = process
        return process

    def kill(self, name: str) -> None:
        process = self.children[name]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.children.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.terminate()
        for process in self.children.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_server(processes: Processes, name: str, port: int, *extra, persist: bool = True) -> None:
    workdir = processes.dir / name
    workdir.mkdir()
    processes.spawn(
        name,
        "redis-server",
        "--port",
        port,
        "--bind",
        "127.0.0.1",
        "--dir",
        workdir,
        "--save",
        "",
        *(
            ("--appendonly", "yes", "--appendfsync", "always")
            if persist
            else ("--appendonly", "no")
        ),
        *extra,
    )
    _wait(lambda: redis.Redis(port=port).ping(), seconds=10, what=f"redis {name}")


class SentinelSet:
    """A master, one replica and three sentinels watching them as ``keyward``."""

    SERVICE = "keyward"
    DOWN_AFTER_MS = 1000  # how long a silent master takes to be judged down
    FAILOVER_TIMEOUT_MS = 5000

    def __init__(self, *, persist: bool = True):
        self.persist = persist  # appendfsync always; the bench turns it off, as its plain Redis
        self.processes = Processes("keyward-sentinel-")
        self.master_port = free_port()
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.SERVICE}/0"

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        redis_server(self.processes, "master", self.master_port, persist=self.persist)
        redis_server(
            self.processes, "replica", self.replica_port, "--replicaof", "127.0.0.1",
            self.master_port, persist=self.persist,
        )  # fmt: skip
        for index, port in enumerate(self.sentinel_ports):
            config = self.processes.dir / f"sentinel-{index}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.processes.dir}\n"
                f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {self.SERVICE} {self.DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {self.SERVICE} {self.FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {self.SERVICE} 1\n"
            )
            self.processes.spawn(f"sentinel-{index}", "redis-sentinel", config)
        _wait(self._sentinels_agree, seconds=20, what="sentinels")

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            sentinel = redis.Redis(port=port, socket_timeout=1)
            master = sentinel.sentinel_master(self.SERVICE)
            if master["num-slaves"] < 1 or master["num-other-sentinels"] < 2:
                return False
        return True

    def master_address(self) -> tuple[str, int]:
        sentinel = redis.Redis(port=self.sentinel_ports[0], socket_timeout=1)
        host, port = sentinel.sentinel_get_master_addr_by_name(self.SERVICE)
        return host.decode() if isinstance(host, bytes) else host, int(port)

    def kill_master(self) -> None:
        self.processes.kill("master")

    def stop(self) -> None:
        self.processes.stop()


class ClusterSet:
    """Three masters (no replicas) sharing the 16384 slots."""

    def __init__(self, masters: int = 3, *, persist: bool = True):
        self.persist = persist
        self.processes = Processes("keyward-cluster-")
        self.ports = [cluster_port() for _ in range(masters)]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        for index, port in enumerate(self.ports):
            redis_server(
                self.processes, f"node-{index}", port, "--cluster-enabled", "yes",
                "--cluster-config-file", self.processes.dir / f"nodes-{index}.conf",
                "--cluster-node-timeout", "2000", persist=self.persist,
            )  # fmt: skip
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        _wait(self._ok, seconds=20, what="cluster")

    def _ok(self) -> bool:
        return all(redis.Redis(port=p).cluster("info")["cluster_state"] == "ok" for p in self.ports)

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self.ports[0])

    def stop(self) -> None:
        self.processes.stop()


class PgBouncer:
    """PgBouncer in transaction mode in front of the PostgreSQL at ``host:port``."""

    def __init__(self, *, host: str, port: int, pool_size: int = 20):
        self.processes = Processes("keyward-pgbouncer-")
        self.port = free_port()
        self.upstream = (host, port)
        self.pool_size = pool_size

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgres://{user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        host, port = self.upstream
        userlist = self.processes.dir / "userlist.txt"
        userlist.write_text('"postgres" ""\n')
        config = self.processes.dir / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\n"
            f"unix_socket_dir = {self.processes.dir}\n"
            "auth_type = trust\n"
            "admin_users = postgres\n"
            f"auth_file = {userlist}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 500\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.processes.dir / 'bouncer.log'}\n"
            f"pidfile = {self.processes.dir / 'pgbouncer.pid'}\n"
        )
        command = ["pgbouncer", config]
        if _is_root():
            shutil.chown(self.processes.dir, "postgres")
            for path in (userlist, config):
                shutil.chown(path, "postgres")
            command = ["runuser", "-u", "postgres", "--", *command]
        self.processes.spawn("pgbouncer", *command)
        _wait(self._listening, seconds=10, what="pgbouncer")

    def _listening(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True

    def stop(self) -> None:
        self.processes.stop()


def _is_root() -> bool:
    return os.geteuid() == 0


if __name__ == "__main__":  # python -m tests.topology.servers cluster|sentinel
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the servers on kill, too
    topology = {"cluster": ClusterSet, "sentinel": SentinelSet}[sys.argv[1]]()
    topology.start()
    print(topology.url, flush=True)
    try:
        signal.pause()
    finally:
        topology.stop()
