"""SPEC §12: credits are exact across nodes. Two gunicorn nodes (two workers each) share
PostgreSQL and Redis; concurrent requests spread over both spend one balance."""

import pytest

from apikeys.models import ApiKey
from apikeys.usage import usage_flush
from tests.factories import StaffUserFactory, issued_key
from tests.multinode.client import burst

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

VERIFY = "/api/v1/auth/verify"  # the hot path: reads no usage, so flushes none
ROOM = {"per_minute": 100_000, "per_hour": 1_000_000}  # so that only the credits decide


def test_100_credits_admit_exactly_100_of_300_concurrent_requests_over_two_nodes(two_nodes):
    owner = StaffUserFactory()  # staff: may lift the rate limit out of the way
    api_key, raw = issued_key(owner, rate_limit=ROOM, credits={"remaining": 100})
    calls = [(two_nodes[i % 2].port, "GET", VERIFY, {"X-API-Key": raw}) for i in range(300)]

    responses = burst(calls)

    statuses = [r.status for r in responses]
    assert statuses.count(200) == 100
    assert statuses.count(429) == 200
    refused = [r.json() for r in responses if r.status == 429]
    assert {(body["code"], body["retry_after"]) for body in refused} == {
        ("credits_exhausted", None)
    }
    usage_flush()
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.credits_remaining == 0
    assert stored.request_count == 100
