"""Production topologies on real servers: Redis Sentinel, Redis Cluster, PgBouncer, two releases.

Each module starts what it needs on free ports in a temporary directory (``servers``) and
skips, saying which binary is missing, only when Debian's package is not installed
(``make test-tools`` installs ``redis-server``, ``redis-sentinel`` and ``pgbouncer``). The
figures each test measures (failover time, loss in the window) are printed at the end of the run.
"""

import pytest

from tests.topology import servers

FIGURES: list[str] = []


def record(line: str) -> None:
    FIGURES.append(line)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("topology figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def need(*binaries: str) -> None:
    absent = servers.missing(*binaries)
    if absent:
        pytest.skip(f"needs {', '.join(absent)} on PATH (make test-tools installs them)")


@pytest.fixture(scope="module")
def sentinel_set():
    need("redis-server", "redis-sentinel")
    topology = servers.SentinelSet()
    topology.start()
    yield topology
    topology.stop()


@pytest.fixture(scope="module")
def cluster_set():
    need("redis-server", "redis-cli")
    topology = servers.ClusterSet()
    topology.start()
    yield topology
    topology.stop()
