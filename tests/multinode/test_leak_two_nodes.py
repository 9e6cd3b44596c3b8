"""Leak response across two gunicorn nodes sharing PostgreSQL and Redis (SPEC §12).

A canary touched on one node is refused on both, its touches recorded once a minute per
address whichever node saw them, and counted in each node's metrics; a key GitHub reports on
one node is refused at once by the other, which had it cached.
"""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from apikeys.canary import TOUCH_EVENT, TOUCH_WINDOW_SECONDS
from apikeys.models import ApiKey
from audit.models import AuditEvent
from tests.factories import StaffUserFactory, UserFactory, issued_key
from tests.multinode.client import burst, fetch
from tests.multinode.conftest import start_nodes, stop_nodes

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

INFO = "/api/v1/api-keys/info"
VERIFY = "/api/v1/auth/verify"
KEY_ID = "test-github-key"
GITHUB_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def nodes(django_db_setup):
    public_pem = (
        GITHUB_KEY.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    configured = json.dumps([{"key_identifier": KEY_ID, "key": public_pem}])
    started = start_nodes(
        2, workers=2, threads=4, extra_env={"KEYWARD_SECRET_SCANNING_PUBLIC_KEYS": configured}
    )
    yield started
    stop_nodes(started)


def canary_metric(node, admin_key) -> float:
    metrics = fetch(node.port, "GET", "/api/v1/metrics", {"X-API-Key": admin_key})
    assert metrics.status == 200, metrics.body
    line = 'keyward_canary_touches_total{channel="request"} '
    for row in metrics.body.decode().splitlines():
        if row.startswith(line):
            return float(row[len(line) :])
    return 0.0


def test_a_canary_touched_on_one_node_is_refused_on_both_and_recorded_once(nodes):
    node_a, node_b = nodes
    user = UserFactory()
    canary, raw = issued_key(user=user, name="bait", key_type="canary")
    _, admin = issued_key(user=StaffUserFactory(), name="scraper", key_type="admin")
    before = canary_metric(node_a, admin) + canary_metric(node_b, admin)
    headers = {"X-API-Key": raw, "User-Agent": "thief/2.0"}
    window = int(time.time() // TOUCH_WINDOW_SECONDS)

    first = fetch(node_a.port, "GET", INFO, headers)
    assert first.status == 401 and first.json()["code"] == "invalid_api_key"
    calls = [(node.port, "GET", INFO, headers) for node in (node_a, node_b) for _ in range(15)]
    responses = burst(calls, processes=2, threads=4)

    assert {r.status for r in responses} == {401}
    assert {r.json()["code"] for r in responses} == {"invalid_api_key"}
    touches = list(AuditEvent.objects.filter(event_type=TOUCH_EVENT, target_id=str(canary.pk)))
    if int(time.time() // TOUCH_WINDOW_SECONDS) == window:  # all in one minute: one event
        assert len(touches) == 1
    assert 1 <= len(touches) <= 2
    assert touches[0].ip == "127.0.0.1"
    assert touches[0].data["path"] == INFO
    assert touches[0].data["user_agent"] == "thief/2.0"
    # Every use is counted, on the node that saw it.
    assert canary_metric(node_a, admin) + canary_metric(node_b, admin) == before + 31
    assert ApiKey.objects.get(pk=canary.pk).request_count == 0


def test_a_key_github_reports_on_one_node_is_refused_at_once_on_the_other(nodes):
    node_a, node_b = nodes
    api_key, raw = issued_key(user=UserFactory(), name="leaky", key_type="production")
    warm = burst([(node_b.port, "GET", VERIFY, {"X-API-Key": raw})] * 16, processes=1)
    assert {r.status for r in warm} == {200}
    body = json.dumps(
        [{"token": raw, "type": "keyward_api_key", "url": "https://github.com/o/r/blob/1/x"}]
    ).encode()
    signature = base64.b64encode(GITHUB_KEY.sign(body, ec.ECDSA(hashes.SHA256()))).decode()

    reported = fetch(
        node_a.port,
        "POST",
        "/api/v1/secret-scanning/reports",
        {
            "Content-Type": "application/json",
            "Github-Public-Key-Identifier": KEY_ID,
            "Github-Public-Key-Signature": signature,
        },
        body=body,
    )

    assert reported.status == 200, reported.body
    assert reported.json()[0]["label"] == "true_positive"
    after = burst([(node_b.port, "GET", VERIFY, {"X-API-Key": raw})] * 16, processes=1)
    assert {r.status for r in after} == {401}
    assert {r.json()["code"] for r in after} == {"api_key_disabled"}
    assert (
        AuditEvent.objects.filter(event_type="api_key.leaked", target_id=str(api_key.pk)).count()
        == 1
    )
