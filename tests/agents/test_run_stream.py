"""POST /api/v1/agents/{id}/run: the SSE stream, with the credential in a header or the body."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from agents.models import Agent
from tests.agents.sse import sse_events
from tests.factories import ServiceClientFactory
from tests.tenants.helpers import client_for, jwt_for, make_key

pytestmark = pytest.mark.django_db


def run_url(agent) -> str:
    return f"/api/v1/agents/{agent.pk}/run"


def body_run(agent, body, **headers):
    """Post a run as a fetch() stream client does: JSON body, no Authorization header."""
    return APIClient().post(
        run_url(agent), body, format="json", HTTP_ACCEPT="text/event-stream", **headers
    )


def assert_json_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == code


def test_a_run_streams_started_three_steps_and_done(world):
    response = client_for(jwt_for(world.alice)).post(run_url(world.agent_a), {"input": "hi"})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    events = sse_events(response)
    assert [(e["type"], e.get("step")) for e in events] == [
        ("started", None),
        ("step", 1),
        ("step", 2),
        ("step", 3),
        ("done", None),
    ]
    assert events[0]["input"] == "hi"
    assert len({e["run_id"] for e in events}) == 1


def test_an_api_key_in_the_body_authenticates_the_stream(world):
    raw_key = make_key(world.alice, scopes=["agents:write"])

    response = body_run(world.agent_a, {"token": raw_key})

    assert response.status_code == 200
    assert sse_events(response)[-1]["type"] == "done"


def test_an_access_jwt_in_the_body_authenticates_the_stream(world):
    response = body_run(world.agent_a, {"token": jwt_for(world.alice)})

    assert response.status_code == 200
    assert sse_events(response)[0]["agent_id"] == str(world.agent_a.pk)


def test_a_service_client_token_in_the_body_acts_in_the_clients_tenant(world):
    client = ServiceClientFactory(tenant=world.b, scopes=["agents:write"])
    issued = APIClient().post(
        "/oauth2/token",
        urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": client.client_id,
                "client_secret": client.raw_secret,
            }
        ),
        content_type="application/x-www-form-urlencoded",
    )
    token = issued.json()["access_token"]

    own = body_run(world.agent_b, {"token": token})
    other = body_run(world.agent_a, {"token": token})

    assert own.status_code == 200, own.content
    assert sse_events(own)[0]["tenant_id"] == str(world.b.pk)
    assert_json_error(other, 404, "not_found")


def test_a_tenant_bound_key_in_the_body_acts_in_its_tenant(world):
    raw_key = make_key(world.carol, tenant=world.b)

    own = body_run(world.agent_b, {"token": raw_key})
    other = body_run(world.agent_a, {"token": raw_key})

    assert sse_events(own)[0]["tenant_id"] == str(world.b.pk)
    assert_json_error(other, 404, "not_found")


def test_a_body_token_still_needs_the_header_to_pick_among_tenants(world):
    token = jwt_for(world.carol)

    without = body_run(world.agent_b, {"token": token})
    with_header = body_run(world.agent_b, {"token": token}, HTTP_X_TENANT_ID=str(world.b.pk))

    assert_json_error(without, 400, "tenant_id_required")
    assert with_header.status_code == 200


def test_a_bound_body_key_naming_another_tenant_gets_403_tenant_mismatch(world):
    raw_key = make_key(world.carol, tenant=world.b)

    response = body_run(world.agent_a, {"token": raw_key}, HTTP_X_TENANT_ID=str(world.a.pk))

    assert_json_error(response, 403, "tenant_mismatch")


def test_a_body_key_without_a_write_scope_gets_403(world):
    raw_key = make_key(world.alice, scopes=["agents:read"])

    response = body_run(world.agent_a, {"token": raw_key})

    assert_json_error(response, 403, "insufficient_permissions")


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("kw_not-a-real-key", "invalid_api_key"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.forged", "invalid_token"),
        (12345, "invalid_token"),
        (["a", "list"], "invalid_token"),
    ],
)
def test_a_bad_body_token_gets_401_before_any_stream(world, token, code):
    response = body_run(world.agent_a, {"token": token})

    assert_json_error(response, 401, code)
    assert "WWW-Authenticate" in response


def test_a_revoked_body_key_gets_401_api_key_disabled(world):
    raw_key = make_key(world.alice, is_active=False)

    assert_json_error(body_run(world.agent_a, {"token": raw_key}), 401, "api_key_disabled")


def test_an_expired_body_jwt_gets_401_token_expired(world):
    token = AccessToken.for_user(world.alice)
    token.set_exp(lifetime=-timedelta(seconds=1))

    assert_json_error(body_run(world.agent_a, {"token": str(token)}), 401, "token_expired")


def test_a_refresh_token_in_the_body_is_not_an_access_token(world):
    refresh = str(RefreshToken.for_user(world.alice))

    assert_json_error(body_run(world.agent_a, {"token": refresh}), 401, "invalid_token")


def test_no_credential_at_all_gets_401_authentication_required(world):
    assert_json_error(body_run(world.agent_a, {}), 401, "authentication_required")


def test_a_malformed_json_body_gets_400_not_500(world):
    response = APIClient().post(
        run_url(world.agent_a), "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["code"]


def test_a_body_token_is_accepted_by_the_run_endpoint_only(world):
    raw_key = make_key(world.alice)
    before = Agent.objects.count()

    response = APIClient().post(
        "/api/v1/agents", {"name": "sneaky", "token": raw_key}, format="json"
    )

    assert_json_error(response, 401, "authentication_required")
    assert Agent.objects.count() == before


def test_a_header_credential_wins_over_the_body_token(world):
    header_key = make_key(world.bob, tenant=world.b)
    body_key = make_key(world.alice, tenant=world.a)

    response = body_run(world.agent_a, {"token": body_key}, HTTP_X_API_KEY=header_key)

    assert_json_error(response, 404, "not_found")  # bob's key acts in b, where agent_a is not


def test_the_body_token_wins_over_a_session_cookie_and_needs_no_csrf(world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.bob)

    response = client.post(run_url(world.agent_a), {"token": make_key(world.alice)}, format="json")

    assert response.status_code == 200
    assert sse_events(response)[0]["tenant_id"] == str(world.a.pk)


def test_a_form_posted_body_token_works_too(world):
    response = APIClient().post(
        run_url(world.agent_a), {"token": make_key(world.alice)}, format="multipart"
    )

    assert response.status_code == 200


def test_a_run_of_another_tenants_agent_is_404_and_no_stream(world):
    response = body_run(world.agent_b, {"token": jwt_for(world.alice)})

    assert_json_error(response, 404, "not_found")


def test_a_run_with_too_long_input_gets_400(world):
    response = body_run(world.agent_a, {"token": jwt_for(world.alice), "input": "x" * 2001})

    assert_json_error(response, 400, "validation_error")
    assert "token" not in response.json()["errors"]
