"""The tenant isolation matrix, through the public API.

Who calls (user and membership), with what (JWT, session, API key bound or not, or a key or JWT
as ``token`` in the body), naming which tenant (no header, own, other, malformed), against every
agents endpoint (list, create, read, update, delete, run) and an agent of either tenant. Each
cell checks the answer *and* the stored rows: a denied change leaves everything as it was, and
an allowed one touches its own row and no other.
"""

import uuid

import pytest

from agents.models import Agent
from tenants.models import Membership
from tests.agents.sse import sse_events
from tests.tenants.helpers import client_for, jwt_for, make_key

pytestmark = pytest.mark.django_db

# case: (user, credential, bound tenant, header) -> the tenant acted in, or the error.
CASES = {
    "alice jwt, inferred": ("alice", "jwt", None, None, "a"),
    "alice jwt, header a": ("alice", "jwt", None, "a", "a"),
    "alice jwt, header b": ("alice", "jwt", None, "b", (404, "tenant_not_found")),
    "alice jwt, header random": ("alice", "jwt", None, "random", (404, "tenant_not_found")),
    "alice jwt, header malformed": ("alice", "jwt", None, "malformed", (404, "tenant_not_found")),
    "carol jwt, no header": ("carol", "jwt", None, None, (400, "tenant_id_required")),
    "carol jwt, header a": ("carol", "jwt", None, "a", "a"),
    "carol jwt, header b": ("carol", "jwt", None, "b", "b"),
    "carol session, header b": ("carol", "session", None, "b", "b"),
    # A session acts in the tenant picked on the pages, set at login to the oldest membership
    # (SPEC §13); a JWT or key of the same user still has to name one.
    "carol session, no header": ("carol", "session", None, None, "a"),
    "carol key, no header": ("carol", "key", None, None, (400, "tenant_id_required")),
    "carol key, header b": ("carol", "key", None, "b", "b"),
    "carol key bound a, no header": ("carol", "key", "a", None, "a"),
    "carol key bound a, header a": ("carol", "key", "a", "a", "a"),
    "carol key bound a, header b": ("carol", "key", "a", "b", (403, "tenant_mismatch")),
    "carol key bound a, malformed": ("carol", "key", "a", "malformed", (403, "tenant_mismatch")),
    "alice key bound a, header b": ("alice", "key", "a", "b", (403, "tenant_mismatch")),
    "bob key bound b, no header": ("bob", "key", "b", None, "b"),
    "bob key, header a": ("bob", "key", None, "a", (404, "tenant_not_found")),
    "bob key bound b, owner left b": ("bob", "key-left", "b", None, (404, "tenant_not_found")),
    # The credential as ``token`` in the body: only the run endpoint reads it (401 elsewhere).
    "alice body jwt, inferred": ("alice", "body-jwt", None, None, "a"),
    "alice body jwt, header b": ("alice", "body-jwt", None, "b", (404, "tenant_not_found")),
    "carol body jwt, no header": ("carol", "body-jwt", None, None, (400, "tenant_id_required")),
    "carol body jwt, header b": ("carol", "body-jwt", None, "b", "b"),
    "carol body key bound a, no header": ("carol", "body-key", "a", None, "a"),
    "carol body key bound a, header b": ("carol", "body-key", "a", "b", (403, "tenant_mismatch")),
    "bob body key, header a": ("bob", "body-key", None, "a", (404, "tenant_not_found")),
}
BODY_ONLY_ENDPOINTS = {"run"}
CALLS = [("list", None), ("create", None)] + [
    (endpoint, target) for endpoint in ("read", "update", "delete", "run") for target in ("a", "b")
]


def client_for_case(world, user_name, credential, bound, header):
    """The client for a case, and the body token it sends (``None``: the credential is a header)."""
    user = getattr(world, user_name)
    header_value = {
        None: None,
        "a": world.a.pk,
        "b": world.b.pk,
        "random": uuid.uuid4(),
        "malformed": "not-a-tenant",
    }[header]
    if credential == "jwt":
        return client_for(jwt_for(user), tenant_header=header_value), None
    if credential == "body-jwt":
        return client_for(tenant_header=header_value), jwt_for(user)
    if credential == "session":
        client = client_for(tenant_header=header_value)
        client.force_login(user)
        return client, None
    raw_key = make_key(user, tenant=getattr(world, bound) if bound else None)
    if credential == "key-left":
        Membership.objects.filter(user=user, tenant=getattr(world, bound)).delete()
    if credential == "body-key":
        return client_for(tenant_header=header_value), raw_key
    return client_for(raw_key, tenant_header=header_value), None


def snapshot():
    return sorted(Agent.objects.values_list("id", "tenant_id", "name", "description"))


def call(client, endpoint, agent, body_token=None):
    url = f"/api/v1/agents/{agent.pk if agent else None}"
    token = {"token": body_token} if body_token else {}
    return {
        "list": lambda: client.get("/api/v1/agents"),
        "create": lambda: client.post("/api/v1/agents", {"name": "new agent", **token}),
        "read": lambda: client.get(url),
        "update": lambda: client.patch(url, {"name": "renamed", **token}),
        "delete": lambda: client.delete(url),
        "run": lambda: client.post(f"{url}/run", {"input": "hello", **token}),
    }[endpoint]()


def without(rows, agent_id):
    return [row for row in rows if row[0] != agent_id]


@pytest.mark.parametrize(("endpoint", "target"), CALLS, ids=[f"{e}-{t or ''}" for e, t in CALLS])
@pytest.mark.parametrize("case", list(CASES))
def test_isolation(world, case, endpoint, target):
    user_name, credential, bound, header, expected = CASES[case]
    client, body_token = client_for_case(world, user_name, credential, bound, header)
    agent = getattr(world, f"agent_{target}") if target else None
    before = snapshot()

    response = call(client, endpoint, agent, body_token)

    if body_token and endpoint not in BODY_ONLY_ENDPOINTS:
        expected = (401, "authentication_required")
    if isinstance(expected, tuple):
        status, code = expected
        assert response.status_code == status, response.content
        assert response.json()["code"] == code
        assert snapshot() == before
        return

    acted_in = getattr(world, expected)
    own_agent = agent is not None and agent.tenant_id == acted_in.pk
    if endpoint == "list":
        assert response.status_code == 200
        ids = [row["id"] for row in response.json()["results"]]
        assert ids == [str(getattr(world, f"agent_{expected}").pk)]
    elif endpoint == "create":
        assert response.status_code == 201
        created = Agent.objects.get(pk=response.json()["id"])
        assert created.tenant_id == acted_in.pk
        assert response.json()["tenant_id"] == str(acted_in.pk)
        assert without(snapshot(), created.pk) == before
    elif not own_agent:
        # An agent of another tenant is indistinguishable from one that does not exist.
        assert response.status_code == 404, response.content
        assert response.json() == {"detail": "Agent not found.", "code": "not_found"}
        assert snapshot() == before
    elif endpoint == "read":
        assert response.status_code == 200
        assert response.json()["id"] == str(agent.pk)
        assert snapshot() == before
    elif endpoint == "update":
        assert response.status_code == 200
        assert Agent.objects.get(pk=agent.pk).name == "renamed"
        assert without(snapshot(), agent.pk) == without(before, agent.pk)
    elif endpoint == "delete":
        assert response.status_code == 204
        assert snapshot() == without(before, agent.pk)
    elif endpoint == "run":
        assert response.status_code == 200
        events = sse_events(response)
        assert events[0]["agent_id"] == str(agent.pk)
        assert events[0]["tenant_id"] == str(acted_in.pk)
        assert snapshot() == before
