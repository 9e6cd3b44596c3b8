"""SPEC §9 "Logout ends the login" across two gunicorn nodes sharing PostgreSQL and Redis: what
node A ends, node B refuses on the very next request, though it had the token cached."""

import json

import pytest

from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.multinode.client import burst, fetch

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

VERIFY = "/api/v1/auth/verify"
JSON = {"Content-Type": "application/json"}


def login(node, user) -> dict:
    body = json.dumps({"email": user.email, "password": DEFAULT_PASSWORD})
    response = fetch(node.port, "POST", "/api/v1/auth/login", JSON, body)
    assert response.status == 200, response.body
    return response.json()


def bearer(access_token: str) -> dict:
    return {"Authorization": f"Bearer {access_token}"}


def warm(node, access_token: str) -> None:
    """Concurrent calls, so that both of the node's workers verify and cache the token."""
    answers = burst([(node.port, "GET", VERIFY, bearer(access_token))] * 16, processes=1)
    assert {r.status for r in answers} == {200}


def verify_on(node, access_token: str) -> set[tuple[int, str | None]]:
    answers = burst([(node.port, "GET", VERIFY, bearer(access_token))] * 16, processes=1)
    return {(r.status, r.json().get("code")) for r in answers}


def refresh_on(node, refresh_token: str):
    body = json.dumps({"refresh_token": refresh_token})
    return fetch(node.port, "POST", "/api/v1/auth/refresh", JSON, body)


def test_a_logout_on_one_node_is_refused_at_once_on_the_other(two_nodes):
    node_a, node_b = two_nodes
    user = UserFactory()
    ended, other = login(node_a, user), login(node_b, user)
    warm(node_b, ended["access_token"])
    warm(node_b, other["access_token"])

    body = json.dumps({"refresh_token": ended["refresh_token"]})
    response = fetch(
        node_a.port, "POST", "/api/v1/auth/logout", {**JSON, **bearer(ended["access_token"])}, body
    )
    assert response.status == 204, response.body

    assert verify_on(node_b, ended["access_token"]) == {(401, "invalid_token")}
    assert refresh_on(node_b, ended["refresh_token"]).status == 401
    # Another login of the same user goes on, on both nodes.
    assert verify_on(node_b, other["access_token"]) == {(200, None)}
    assert verify_on(node_a, other["access_token"]) == {(200, None)}


def test_logout_all_on_one_node_is_refused_at_once_on_the_other(two_nodes):
    node_a, node_b = two_nodes
    user = UserFactory()
    first, second = login(node_a, user), login(node_b, user)
    warm(node_b, first["access_token"])
    warm(node_b, second["access_token"])

    response = fetch(
        node_a.port, "POST", "/api/v1/auth/logout-all", {**JSON, **bearer(first["access_token"])}
    )
    assert response.status == 200, response.body

    for tokens in (first, second):
        assert verify_on(node_b, tokens["access_token"]) == {(401, "invalid_token")}
        assert refresh_on(node_b, tokens["refresh_token"]).status == 401
    assert verify_on(node_b, login(node_b, user)["access_token"]) == {(200, None)}


def test_a_password_set_and_saved_anywhere_ends_the_tokens_cached_on_a_node(two_nodes):
    _, node_b = two_nodes
    user = UserFactory()
    tokens = login(node_b, user)
    warm(node_b, tokens["access_token"])

    user.set_password("a brand new passphrase 42")
    user.save()

    assert verify_on(node_b, tokens["access_token"]) == {(401, "invalid_token")}
    assert refresh_on(node_b, tokens["refresh_token"]).status == 401
