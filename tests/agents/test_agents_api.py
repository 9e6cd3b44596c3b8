"""The agents CRUD API within the resolved tenant: fields, input, scopes, audit."""

import pytest

from agents.models import Agent
from audit.models import AuditEvent
from tests.factories import AgentFactory
from tests.tenants.helpers import client_for, jwt_for, make_key

pytestmark = pytest.mark.django_db

LIST = "/api/v1/agents"


def url(agent) -> str:
    return f"{LIST}/{agent.pk}"


def test_creating_an_agent_stores_it_in_the_tenant_with_its_creator(world):
    response = client_for(jwt_for(world.alice)).post(
        LIST, {"name": "Scout", "description": "Looks around."}
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "description",
        "tenant_id",
        "created_by",
        "created_at",
        "updated_at",
    }
    assert (body["name"], body["tenant_id"], body["created_by"]) == (
        "Scout",
        str(world.a.pk),
        world.alice.pk,
    )
    stored = Agent.objects.get(pk=body["id"])
    assert (stored.tenant, stored.created_by, stored.description) == (
        world.a,
        world.alice,
        "Looks around.",
    )
    event = AuditEvent.objects.get(event_type="agent.created")
    assert event.tenant_id == world.a.pk and event.target_id == body["id"]


def test_the_list_is_paginated_and_newest_first(world):
    older = world.agent_a
    newer = AgentFactory(tenant=world.a)

    response = client_for(jwt_for(world.alice)).get(LIST)

    body = response.json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [str(newer.pk), str(older.pk)]


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "x" * 101}, {"name": "ok", "description": "d" * 2001}]
)
def test_bad_input_gets_400_validation_error_and_creates_nothing(world, body):
    before = Agent.objects.count()

    response = client_for(jwt_for(world.alice)).post(LIST, body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert Agent.objects.count() == before


def test_patch_changes_only_the_fields_given(world):
    response = client_for(jwt_for(world.alice)).patch(url(world.agent_a), {"description": "New."})

    assert response.status_code == 200
    world.agent_a.refresh_from_db()
    assert (world.agent_a.name, world.agent_a.description) == ("agent of a", "New.")
    assert AuditEvent.objects.get(event_type="agent.updated").data == {"fields": ["description"]}


def test_put_replaces_name_and_description(world):
    client = client_for(jwt_for(world.alice))

    missing_name = client.put(url(world.agent_a), {"description": "only"})
    replaced = client.put(url(world.agent_a), {"name": "Replaced"})

    assert missing_name.status_code == 400
    assert replaced.status_code == 200
    world.agent_a.refresh_from_db()
    assert (world.agent_a.name, world.agent_a.description) == ("Replaced", "")


def test_delete_removes_the_agent_and_is_audited(world):
    response = client_for(jwt_for(world.alice)).delete(url(world.agent_a))

    assert response.status_code == 204
    assert not Agent.objects.filter(pk=world.agent_a.pk).exists()
    assert AuditEvent.objects.get(event_type="agent.deleted").target_id == str(world.agent_a.pk)


@pytest.mark.parametrize("agent_id", ["not-a-uuid", "1", "00000000-0000-0000-0000-000000000000"])
def test_an_id_that_names_no_agent_gets_404_not_found(world, agent_id):
    response = client_for(jwt_for(world.alice)).get(f"{LIST}/{agent_id}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Agent not found.", "code": "not_found"}


def test_any_member_may_manage_agents(world):
    # carol is a plain member of a: agents are tenant data, not tenant administration.
    client = client_for(jwt_for(world.carol), tenant_header=world.a.pk)

    assert client.patch(url(world.agent_a), {"name": "by carol"}).status_code == 200
    assert Agent.objects.get(pk=world.agent_a.pk).name == "by carol"
    assert client.delete(url(world.agent_a)).status_code == 204
    assert not Agent.objects.filter(pk=world.agent_a.pk).exists()


def test_no_credential_gets_401_with_www_authenticate(world):
    response = client_for().get(LIST)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_required"
    assert "WWW-Authenticate" in response


@pytest.mark.parametrize(
    ("scopes", "method", "allowed"),
    [
        (["agents:read"], "get", True),
        (["read:all"], "get", True),
        (["agents:write"], "get", False),
        (["tenants:read"], "get", False),
        (["agents:read"], "post", False),
        (["read:all"], "post", False),
        (["agents:write"], "post", True),
        (["write:all"], "post", True),
        (["agents:read"], "delete", False),
        (["agents:write"], "delete", True),
    ],
)
def test_agents_take_agents_or_wide_scopes(world, scopes, method, allowed):
    client = client_for(make_key(world.alice, scopes=scopes))
    before = sorted(Agent.objects.values_list("pk", "name"))

    if method == "get":
        response = client.get(LIST)
    elif method == "post":
        response = client.post(LIST, {"name": "scoped"})
    else:
        response = client.delete(url(world.agent_a))

    if allowed:
        assert response.status_code in (200, 201, 204)
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "insufficient_permissions"
        assert sorted(Agent.objects.values_list("pk", "name")) == before


def test_an_endpoint_grant_limits_a_key_to_its_paths(world):
    client = client_for(
        make_key(
            world.alice, endpoints=[{"path": f"{LIST}/{world.agent_a.pk}", "methods": ["GET"]}]
        )
    )

    assert client.get(url(world.agent_a)).status_code == 200
    assert client.get(LIST).status_code == 403
    assert client.delete(url(world.agent_a)).status_code == 403
    assert Agent.objects.filter(pk=world.agent_a.pk).exists()


def test_scopes_are_checked_before_the_tenant(world):
    client = client_for(make_key(world.carol, scopes=["tenants:read"]))

    response = client.get(LIST)  # no header and two tenants, but the scope decides first

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"
