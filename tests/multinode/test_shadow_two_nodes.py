"""Shadow counts are exact across two nodes (SPEC §12): every request judged, once.

Two gunicorn nodes (two workers each) share PostgreSQL and Redis. A key is warm on every worker
before its proposal exists; the proposal must reach them all (its generation moves on), and the
figures read afterwards — buffered in Redis, flushed by whoever comes first — add up exactly.
"""

import pytest

from apikeys.models import Proposal
from apikeys.shadow import proposal_create, proposals_fresh
from tests.factories import UserFactory
from tests.multinode.client import burst
from tests.multinode.conftest import key_with_room

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

CHECK = "/api/v1/auth/check"
ORDERS = "/api/v1/orders/7"
WIDGETS = "/api/v1/widgets"


def calls(nodes, n, path, raw):
    headers = {"X-API-Key": raw, "X-Original-Method": "GET", "X-Original-URI": path}
    return [(nodes[i % len(nodes)].port, "GET", CHECK, headers) for i in range(n)]


def test_shadow_counts_are_exact_across_two_nodes(two_nodes):
    user = UserFactory()
    api_key, raw = key_with_room(
        user, key_type="production", scopes=["orders:read", "widgets:read"]
    )
    warm = burst(calls(two_nodes, 16, ORDERS, raw))  # cached everywhere, without a proposal
    assert {r.status for r in warm} == {200}
    proposal = proposal_create(api_key=api_key, changes={"scopes": ["widgets:read"]}, actor=user)

    responses = burst(calls(two_nodes, 40, ORDERS, raw) + calls(two_nodes, 20, WIDGETS, raw))

    assert {r.status for r in responses} == {200}  # only the live rules decide
    proposals_fresh(api_key)
    proposal = Proposal.objects.get(pk=proposal.pk)
    assert (proposal.judged, proposal.would_refuse) == (60, 40)
    assert len(proposal.recent) == 40
    assert {(r["path"], r["rule"]) for r in proposal.recent} == {(ORDERS, "scopes")}
