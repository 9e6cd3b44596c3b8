"""Two gunicorn nodes sharing PostgreSQL and Redis: limits, usage and revocation hold globally.

Each test drives the public HTTP API of real processes (``two_nodes``) and checks both the
responses and the stored state.
"""

import io
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection

from apikeys.models import ApiKey
from tests.factories import StaffUserFactory, UserFactory, issued_key
from tests.multinode.client import burst, fetch
from tests.multinode.conftest import key_with_room

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

VERIFY = "/api/v1/auth/verify"  # the hot path: reads no usage, so flushes none
RATE_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "ratelimit-policy",
    "ratelimit",
)


def spread(nodes, n, method, path, headers):
    return [(nodes[i % len(nodes)].port, method, path, headers) for i in range(n)]


def test_a_credential_header_past_gunicorns_default_limit_gets_the_json_401(two_nodes):
    status, headers, body = two_nodes[0].request(
        "GET", VERIFY, {"Authorization": "Bearer " + "k" * 9000}
    )

    assert status == 401
    assert headers["Content-Type"] == "application/json"
    assert b'"code":"invalid_api_key"' in body.replace(b" ", b"")


def test_a_development_key_gets_exactly_60_of_90_concurrent_requests_across_two_nodes(two_nodes):
    _, raw = key_with_room(UserFactory())

    responses = burst(spread(two_nodes, 90, "GET", VERIFY, {"X-API-Key": raw}))

    statuses = sorted(r.status for r in responses)
    assert statuses.count(200) == 60, statuses
    assert statuses.count(429) == 30, statuses
    # Both nodes admitted some: the limit is shared, not per node.
    assert {r.port for r in responses if r.status == 200} == {n.port for n in two_nodes}
    for response in (r for r in responses if r.status == 429):
        body = response.json()
        assert body["detail"] == "Rate limit exceeded"
        assert body["code"] == "rate_limit_error"
        assert isinstance(body["retry_after"], int)
        assert 1 <= body["retry_after"] <= 60
        assert response.headers["retry-after"] == str(body["retry_after"])


def test_every_keyed_response_carries_the_rate_limit_headers(two_nodes):
    _, raw = key_with_room(UserFactory())

    responses = burst(spread(two_nodes, 70, "GET", VERIFY, {"Authorization": f"Bearer {raw}"}))

    assert sorted({r.status for r in responses}) == [200, 429]
    for response in responses:
        missing = [name for name in RATE_HEADERS if name not in response.headers]
        assert not missing, (response.status, missing)
        assert response.headers["x-ratelimit-limit"] == "60"
        assert response.headers["ratelimit-policy"] == '"minute";q=60;w=60, "hour";q=1000;w=3600'
        assert 1 <= int(response.headers["x-ratelimit-reset"]) <= 60
    remaining = sorted(int(r.headers["x-ratelimit-remaining"]) for r in responses)
    # Each admission saw a distinct count, whichever node counted it: 59 … 0, then zeros.
    assert remaining == [0] * 11 + list(range(1, 60))


def test_usage_counts_every_request_on_both_nodes_exactly(two_nodes):
    user = UserFactory()
    api_key, raw = issued_key(user=user, name="counted", key_type="production")
    _, manager = issued_key(user=user, name="manager", key_type="production", key_manager=True)
    first, second = 150, 150

    responses = burst(spread(two_nodes, first, "GET", VERIFY, {"X-API-Key": raw}))
    # The nodes buffered their counts in Redis: another process (cron's flushusage) moves them.
    assert ApiKey.objects.get(pk=api_key.pk).request_count == 0
    call_command("flushusage", stdout=io.StringIO())
    assert ApiKey.objects.get(pk=api_key.pk).request_count == first
    responses += burst(spread(two_nodes, second, "GET", VERIFY, {"X-API-Key": raw}))

    assert [r.status for r in responses] == [200] * (first + second)
    # Reading merges whatever is still buffered, whichever node or worker counted it.
    usage = fetch(
        two_nodes[1].port,
        "GET",
        f"/api/v1/user/api-keys/{api_key.pk}/usage?days=2",
        {"X-API-Key": manager},
    )
    assert usage.status == 200, usage.body
    body = usage.json()
    assert body["request_count"] == first + second
    today = datetime.now(UTC).date().isoformat()
    assert body["daily"][-1] == {"date": today, "count": first + second}
    assert body["last_used_ip"] == "127.0.0.1"
    assert ApiKey.objects.get(pk=api_key.pk).request_count == first + second


def test_a_key_revoked_on_one_node_is_refused_at_once_on_the_other(two_nodes):
    node_a, node_b = two_nodes
    user = UserFactory()
    api_key, raw = issued_key(user=user, name="doomed", key_type="production")
    _, manager = issued_key(user=user, name="manager", key_type="production", key_manager=True)
    # Warm node B: concurrent calls so that both of its workers verify and cache the key.
    warm = burst([(node_b.port, "GET", VERIFY, {"X-API-Key": raw})] * 16, processes=1)
    assert {r.status for r in warm} == {200}

    revoked = fetch(
        node_a.port, "POST", f"/api/v1/user/api-keys/{api_key.pk}/revoke", {"X-API-Key": manager}
    )
    assert revoked.status == 200, revoked.body
    assert revoked.json()["is_active"] is False

    after = burst([(node_b.port, "GET", VERIFY, {"X-API-Key": raw})] * 16, processes=1)
    assert {r.status for r in after} == {401}
    assert {r.json()["code"] for r in after} == {"api_key_disabled"}


def _health_count(node, raw_admin_key) -> float:
    metrics = fetch(node.port, "GET", "/api/v1/metrics", {"X-API-Key": raw_admin_key})
    assert metrics.status == 200, metrics.body
    assert metrics.headers["content-type"].startswith("text/plain; version=")
    line = 'keyward_http_requests_total{method="GET",route="api/v1/health",status="200"} '
    for row in metrics.body.decode().splitlines():
        if row.startswith(line):
            return float(row[len(line) :])
    return 0.0


def test_metrics_add_up_both_workers_of_a_node_and_only_that_node(two_nodes):
    node_a, node_b = two_nodes
    _, admin = issued_key(user=StaffUserFactory(), name="scraper", key_type="admin")
    before_a, before_b = _health_count(node_a, admin), _health_count(node_b, admin)

    # Concurrent calls on fresh connections: both of node A's workers answer some of them.
    answers = burst(spread([node_a], 40, "GET", "/api/v1/health", {}), processes=1)

    assert {r.status for r in answers} == {200}
    assert _health_count(node_a, admin) == before_a + 40
    assert _health_count(node_b, admin) == before_b


def test_the_nodes_answer_without_500s_after_postgresql_drops_their_connections(two_nodes):
    # Traffic runs through the whole outage: on a fast machine that is more than a production
    # key's 600 a minute, and a 429 is not what this test is about (only staff may raise it).
    user = StaffUserFactory()
    api_key, manager = issued_key(
        user=user,
        name="manager",
        key_type="production",
        key_manager=True,
        rate_limit={"per_minute": 1_000_000, "per_hour": 1_000_000},
    )
    # The usage endpoint reads and writes the database on every call (flush, then read).
    usage = f"/api/v1/user/api-keys/{api_key.pk}/usage"
    calls = spread(two_nodes, 16, "GET", usage, {"X-API-Key": manager})
    assert {r.status for r in burst(calls, processes=1)} == {200}

    with Traffic(two_nodes, usage, {"X-API-Key": manager}) as during:
        how = postgres_outage()
        outage_over = time.monotonic()
    connection.close()  # the test's own connection may have gone with the others

    # From here on PostgreSQL is up again: every answer must be a success.
    late = [r for r in during.responses if r.started > outage_over]
    recovered = poll_until_ok(two_nodes, usage, {"X-API-Key": manager}, deadline_seconds=20)
    after = burst(spread(two_nodes, 40, "GET", usage, {"X-API-Key": manager}))
    assert [r.status for r in after] == [200] * 40, (how, [r.body[:200] for r in after])
    assert recovered["500s"] == 0, (how, recovered)
    assert {r.status for r in late} <= {200}, (how, [r.status for r in late])
    print(  # shown with -s: what happened while the database was going away
        f"postgres {how}: {len(during.responses)} requests during the run,"
        f" statuses {sorted({r.status for r in during.responses})}"
    )


class Traffic:
    """Requests against the nodes in a background thread, for the length of a ``with``."""

    def __init__(self, nodes, path, headers):
        self.calls = spread(nodes, 2, "GET", path, headers)
        self.responses = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        index = 0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                response = fetch(*self.calls[index % 2], timeout=10)
            except OSError:
                continue
            self.responses.append(TimedResponse(started, response.status))
            index += 1

    def __enter__(self):
        self._thread.start()
        deadline = time.monotonic() + 10
        while len(self.responses) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info):
        time.sleep(0.3)  # let traffic run past the outage for a moment
        self._stop.set()
        self._thread.join(timeout=15)


@dataclass(frozen=True, slots=True)
class TimedResponse:
    started: float
    status: int


def postgres_outage() -> str:
    """Restart PostgreSQL when this test may, or else terminate every connection to the test
    database; either way each node's pooled connection dies under it.

    Restarting needs root, ``pg_ctlcluster`` and a local server, and is skipped while anyone
    else is connected to the cluster (a shared development machine), unless
    ``KEYWARD_TEST_POSTGRES_OUTAGE`` says ``restart`` or ``terminate``.
    """
    choice = os.environ.get("KEYWARD_TEST_POSTGRES_OUTAGE", "auto")
    if choice == "restart" or (choice == "auto" and _may_restart_postgres()):
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
            check=True,
            timeout=60,
        )
        return "restart"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (terminated,) = cursor.fetchone()
    assert terminated >= 2, "each node should have held a pooled connection"
    return "terminate"


def _may_restart_postgres() -> bool:
    if os.geteuid() != 0 or not shutil.which("pg_ctlcluster"):
        return False
    if connection.settings_dict.get("HOST") not in ("127.0.0.1", "localhost", "", None):
        return False
    if not os.path.isdir("/etc/postgresql"):
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            " AND datname IS DISTINCT FROM current_database()"
        )
        (others,) = cursor.fetchone()
    return others == 0


def poll_until_ok(nodes, path, headers, *, deadline_seconds):
    """Call each node until it answers 200; return what was seen on the way."""
    seen = {"500s": 0, "statuses": []}
    deadline = time.monotonic() + deadline_seconds
    for node in nodes:
        while True:
            try:
                status = fetch(node.port, "GET", path, headers, timeout=5).status
            except OSError:
                status = None
            seen["statuses"].append(status)
            seen["500s"] += status == 500
            if status == 200:
                break
            assert time.monotonic() < deadline, seen
            time.sleep(0.1)
    return seen


def test_a_session_ended_elsewhere_is_refused_at_once_by_a_node_that_remembered_it(two_nodes):
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from accounts.sessions import SessionStore

    user = UserFactory()
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    cookie = {"Cookie": f"sessionid={session.session_key}"}
    # Warm node B: enough concurrent calls that both workers read, check and remember it.
    warm = burst([(two_nodes[1].port, "GET", VERIFY, cookie)] * 24, processes=1)
    assert {r.status for r in warm} == {200}

    SessionStore(session_key=session.session_key).delete()  # as a logout on another node

    after = burst([(two_nodes[1].port, "GET", VERIFY, cookie)] * 16, processes=1)
    assert {r.status for r in after} == {401}
