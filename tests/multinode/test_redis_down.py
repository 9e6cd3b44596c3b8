"""Redis stops under two nodes: API traffic fails open, credential entry points fail closed.

The nodes get a private Redis (port 6390) so the shared one other tests use keeps running. The
policy under test is the one ``metering.throttles`` and docs/limits.md state: requests with a
key are served without limits and their usage goes straight to the database; login,
registration, bootstrap and key creation answer 503; nothing answers 500 or hangs.
"""

import json
import shutil
import subprocess
import tempfile
import time

import pytest

from apikeys.models import ApiKey
from tests.factories import DEFAULT_PASSWORD, UserFactory, issued_key
from tests.multinode.client import burst, fetch
from tests.multinode.conftest import start_nodes, stop_nodes

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

PORT = 6390
VERIFY = "/api/v1/auth/verify"
JSON = {"Content-Type": "application/json"}
SLOW = 2.0  # seconds: slower than this counts as a hang


@pytest.fixture
def private_redis():
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server on PATH for a private instance")
    workdir = tempfile.mkdtemp(prefix="keyward-redis-")
    subprocess.run(
        [
            "redis-server",
            "--port",
            str(PORT),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--dir",
            workdir,
            "--pidfile",
            f"{workdir}/redis.pid",
        ],
        check=True,
        timeout=10,
    )
    deadline = time.monotonic() + 10
    while not _redis_answers():
        assert time.monotonic() < deadline, f"private Redis on {PORT} did not start"
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{PORT}/0"
    if _redis_answers():
        _redis_shutdown()
    shutil.rmtree(workdir, ignore_errors=True)


def _redis_answers() -> bool:
    result = subprocess.run(
        ["redis-cli", "-p", str(PORT), "ping"], capture_output=True, text=True, timeout=5
    )
    return result.stdout.strip() == "PONG"


def _redis_shutdown() -> None:
    subprocess.run(["redis-cli", "-p", str(PORT), "shutdown", "nosave"], timeout=10)
    deadline = time.monotonic() + 10
    while _redis_answers():
        assert time.monotonic() < deadline, f"private Redis on {PORT} did not stop"
        time.sleep(0.05)


@pytest.fixture
def nodes_on_private_redis(private_redis, django_db_setup):
    nodes = start_nodes(2, workers=2, threads=4, extra_env={"REDIS_URL": private_redis})
    yield nodes
    stop_nodes(nodes)


def test_with_redis_stopped_keys_fail_open_and_credential_entry_points_fail_closed(
    nodes_on_private_redis,
):
    node_a, node_b = nodes_on_private_redis
    user = UserFactory()
    api_key, raw = issued_key(user=user, name="served", key_type="development")
    _, manager = issued_key(user=user, name="manager", key_type="production", key_manager=True)
    keyed = {"X-API-Key": raw}
    # Warm both nodes (the key is then cached in their processes) and buffer some usage.
    warm = 20
    calls = [(node.port, "GET", VERIFY, keyed) for node in (node_a, node_b)] * (warm // 2)
    assert {r.status for r in burst(calls)} == {200}

    _redis_shutdown()

    # A development key allows 60 a minute; unlimited while Redis is down, so 80 all pass.
    served = 80
    calls = [(node.port, "GET", VERIFY, keyed) for node in (node_a, node_b)] * (served // 2)
    responses = burst(calls)
    entry_points = [
        fetch(
            node_a.port,
            "POST",
            "/api/v1/auth/login",
            JSON,
            json.dumps({"email": user.email, "password": DEFAULT_PASSWORD}),
        ),
        fetch(
            node_b.port,
            "POST",
            "/api/v1/auth/register",
            JSON,
            json.dumps(
                {
                    "email": "new@example.com",
                    "password": DEFAULT_PASSWORD,
                    "confirm_password": DEFAULT_PASSWORD,
                }
            ),
        ),
        fetch(
            node_a.port,
            "POST",
            "/api/v1/user/api-keys",
            {**JSON, "X-API-Key": manager},
            json.dumps({"name": "during the outage"}),
        ),
        fetch(node_b.port, "POST", "/api/v1/api-keys/bootstrap", JSON, json.dumps({})),
    ]
    usage = fetch(
        node_b.port,
        "GET",
        f"/api/v1/user/api-keys/{api_key.pk}/usage?days=1",
        {"X-API-Key": manager},
    )

    assert [r.status for r in responses] == [200] * served
    assert max(r.seconds for r in [*responses, *entry_points, usage]) < SLOW
    assert [(r.status, r.json()["code"]) for r in entry_points] == [
        (503, "service_unavailable"),
        (503, "service_unavailable"),
        (503, "service_unavailable"),
        (503, "service_unavailable"),
    ]
    # Usage went straight to the database. What Redis held (the warm-up, buffered since the
    # last flush) went down with it: that is the bound docs/limits.md states.
    assert usage.status == 200, usage.body
    assert usage.json()["request_count"] == served
    assert usage.json()["daily"][-1]["count"] == served
    assert ApiKey.objects.get(pk=api_key.pk).request_count == served
    assert "Traceback" not in node_a.log_tail(20_000) + node_b.log_tail(20_000)
