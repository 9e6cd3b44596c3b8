"""Shadow restrictions (SPEC §12): proposals judged beside the live rules, and applied.

Requests are made through ``auth/check`` (the forwarded request is the one judged) so each rule
can be exercised on a path of another service; the figures are read through the API, which
flushes the buffered ones first, so they are exact at once.
"""

import pytest

from apikeys.models import ApiKey, Proposal
from audit.models import AuditEvent
from tests.apikeys.conftest import CHECK_URL, key_client, key_url, make_api_key, person_client

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/7"
WIDGETS = "/api/v1/widgets"


def proposals_url(key_id, proposal_id=None, action=""):
    url = key_url(key_id, "proposals")
    if proposal_id is not None:
        url += f"/{proposal_id}"
    return url + (f"/{action}" if action else "")


def propose(owner, api_key, **changes):
    response = person_client(owner).post(proposals_url(api_key.pk), changes, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def check(client, path, method="GET"):
    return client.get(CHECK_URL, HTTP_X_ORIGINAL_METHOD=method, HTTP_X_ORIGINAL_URI=path)


def read(owner, api_key, proposal_id):
    response = person_client(owner).get(proposals_url(api_key.pk, proposal_id))
    assert response.status_code == 200, response.content
    return response.json()


# --- the API --------------------------------------------------------------------------------


def test_a_proposal_is_created_with_its_changes_and_no_figures_yet(user):
    api_key, _ = make_api_key(user, scopes=["orders:read", "widgets:read"])

    body = propose(user, api_key, scopes=["widgets:read"])

    assert body["changes"] == {"scopes": ["widgets:read"]}
    assert (body["judged"], body["would_refuse"], body["recent"]) == (0, 0, [])
    assert set(body) >= {"id", "changes", "created_at", "judged", "would_refuse", "recent"}


def test_proposals_are_listed_and_read_one_by_one(user):
    api_key, _ = make_api_key(user, scopes=["orders:read", "widgets:read"])
    created = propose(user, api_key, scopes=["widgets:read"])

    listed = person_client(user).get(proposals_url(api_key.pk)).json()

    assert [p["id"] for p in listed] == [created["id"]]
    assert read(user, api_key, created["id"])["id"] == created["id"]


def test_a_widening_proposal_is_refused_as_the_patch_would_be(user):
    api_key, _ = make_api_key(user, scopes=["widgets:read"])

    response = person_client(user).post(
        proposals_url(api_key.pk), {"scopes": ["orders:read"]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert not Proposal.objects.exists()


@pytest.mark.parametrize(
    "body", [{}, {"name": "renamed"}, {"scopes": 7}, {"allowed_ips": ["not an ip"]}]
)
def test_a_proposal_body_outside_the_four_fields_or_malformed_gets_400(user, body):
    api_key, _ = make_api_key(user, scopes=["widgets:read"])

    response = person_client(user).post(proposals_url(api_key.pk), body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_another_users_key_has_no_proposals_for_you(user):
    api_key, _ = make_api_key(user, scopes=["widgets:read"])
    stranger = make_api_key()[0].user

    response = person_client(stranger).get(proposals_url(api_key.pk))

    assert response.status_code == 404


def test_an_unknown_proposal_is_404(user):
    api_key, _ = make_api_key(user, scopes=["widgets:read"])

    response = person_client(user).get(proposals_url(api_key.pk, "not-a-uuid"))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_deleted_proposal_is_no_longer_judged(user):
    api_key, raw = make_api_key(user, scopes=["orders:read", "widgets:read"])
    proposal = propose(user, api_key, scopes=["widgets:read"])

    response = person_client(user).delete(proposals_url(api_key.pk, proposal["id"]))

    assert response.status_code == 204
    assert ApiKey.objects.get(pk=api_key.pk).shadow == []
    assert check(key_client(raw), ORDERS).status_code == 200
    assert not Proposal.objects.exists()


# --- each rule ------------------------------------------------------------------------------


def test_a_narrower_scope_counts_what_it_would_refuse(user):
    api_key, raw = make_api_key(user, scopes=["orders:read", "widgets:read"])
    proposal = propose(user, api_key, scopes=["widgets:read"])
    client = key_client(raw)

    assert check(client, ORDERS).status_code == 200  # the live rules decide
    assert check(client, WIDGETS).status_code == 200

    body = read(user, api_key, proposal["id"])
    assert (body["judged"], body["would_refuse"]) == (2, 1)
    [refusal] = body["recent"]
    assert (refusal["method"], refusal["path"], refusal["rule"]) == ("GET", ORDERS, "scopes")
    assert refusal["ip"] == "127.0.0.1"


def test_a_narrower_grant_counts_what_it_would_refuse(user):
    grants = [
        {"path": "/api/v1/orders", "methods": ["GET"]},
        {"path": "/api/v1/widgets", "methods": ["GET"]},
    ]
    api_key, raw = make_api_key(user, endpoints=grants)
    proposal = propose(user, api_key, endpoints=grants[1:])

    check(key_client(raw), "/api/v1/orders/../orders/7")

    [refusal] = read(user, api_key, proposal["id"])["recent"]
    assert (refusal["path"], refusal["rule"]) == (ORDERS, "endpoints")  # the normalised path


def test_an_ip_allowlist_counts_callers_outside_it(user):
    api_key, raw = make_api_key(user, scopes=["orders:read"])
    proposal = propose(user, api_key, allowed_ips=["10.0.0.0/8"])

    check(key_client(raw), ORDERS)

    [refusal] = read(user, api_key, proposal["id"])["recent"]
    assert refusal["rule"] == "allowed_ips"


def test_a_lower_rate_limit_counts_requests_over_it_without_refusing_them(user):
    api_key, raw = make_api_key(user, scopes=["orders:read"])
    proposal = propose(user, api_key, rate_limit={"per_minute": 2})
    client = key_client(raw)

    statuses = [check(client, ORDERS).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    body = read(user, api_key, proposal["id"])
    assert (body["judged"], body["would_refuse"]) == (3, 1)
    assert body["recent"][0]["rule"] == "rate_limit"


def test_a_request_the_live_rules_refuse_is_judged_but_breaks_nothing(user):
    api_key, raw = make_api_key(user, scopes=["orders:read", "widgets:read"])
    proposal = propose(user, api_key, scopes=["widgets:read"])

    assert check(key_client(raw), "/api/v1/gadgets").status_code == 403

    body = read(user, api_key, proposal["id"])
    assert (body["judged"], body["would_refuse"]) == (1, 0)


def test_keys_verify_judges_the_request_it_describes(staff):
    _, verifier_raw = make_api_key(staff, scopes=["keys:verify"])
    api_key, raw = make_api_key(staff, scopes=["orders:read", "widgets:read"])
    proposal = propose(staff, api_key, scopes=["widgets:read"])

    response = key_client(verifier_raw).post(
        "/api/v1/keys/verify", {"key": raw, "method": "GET", "path": ORDERS}, format="json"
    )

    assert response.json()["valid"] is True
    [refusal] = read(staff, api_key, proposal["id"])["recent"]
    assert (refusal["path"], refusal["rule"]) == (ORDERS, "scopes")


def test_a_key_keeps_at_most_1000_recent_refusals(user):
    from metering import backends

    api_key, _ = make_api_key(user, scopes=["orders:read", "widgets:read"])
    proposal = propose(user, api_key, scopes=["widgets:read"])
    backend = backends.active()
    shadow = backends.Shadow("GET", ORDERS, "", (backends.ShadowJudged(proposal["id"], "scopes"),))
    for _ in range(1005):
        backend.count(
            (),
            usage_key_id=str(api_key.pk),
            generation_of=None,
            ip="10.1.1.1",
            now=1e9,
            shadow=shadow,
        )

    body = read(user, api_key, proposal["id"])
    assert body["would_refuse"] == 1005
    assert len(body["recent"]) == 1000


# --- the hot path ---------------------------------------------------------------------------


@pytest.fixture
def key_with_proposal(user):
    api_key, raw = make_api_key(user, scopes=["orders:read", "widgets:read"])
    propose(user, api_key, scopes=["widgets:read"], rate_limit={"per_minute": 5})
    client = key_client(raw)
    check(client, ORDERS)  # warm
    return client


def test_a_warm_request_with_an_active_proposal_makes_no_query(
    key_with_proposal, django_assert_num_queries
):
    with django_assert_num_queries(0):
        assert check(key_with_proposal, ORDERS).status_code == 200


@pytest.mark.redis
def test_a_warm_request_with_an_active_proposal_makes_one_redis_round_trip(
    key_with_proposal, redis_calls
):
    redis_calls.clear()

    check(key_with_proposal, ORDERS)

    assert redis_calls == ["EVALSHA"]


def test_a_key_without_proposals_sends_a_known_route_once_a_day(user, monkeypatch):
    from metering import backends

    _, raw = make_api_key(user, scopes=["orders:read"])
    client = key_client(raw)
    check(client, ORDERS)  # the route's first request today: sent
    backend = backends.active()
    sent, count = [], backend.count

    def counting(*args, **kwargs):
        sent.append(kwargs.get("shadow"))
        return count(*args, **kwargs)

    monkeypatch.setattr(backend, "count", counting)

    check(client, ORDERS)
    check(client, WIDGETS)

    assert sent[0] is None  # nothing rides the trip: it costs what it did before routes
    assert sent[1].observed == f"GET {WIDGETS}"


def test_a_new_proposal_is_judged_by_the_very_next_request_of_a_warm_key(user):
    api_key, raw = make_api_key(user, scopes=["orders:read", "widgets:read"])
    client = key_client(raw)
    check(client, ORDERS)  # cached without proposals

    proposal = propose(user, api_key, scopes=["widgets:read"])
    check(client, ORDERS)

    assert read(user, api_key, proposal["id"])["would_refuse"] == 1


# --- apply ----------------------------------------------------------------------------------


def test_applying_makes_the_proposal_live_and_stops_judging_it(user):
    api_key, raw = make_api_key(user, scopes=["orders:read", "widgets:read"])
    proposal = propose(user, api_key, scopes=["widgets:read"])

    response = person_client(user).post(proposals_url(api_key.pk, proposal["id"], "apply"))

    assert response.status_code == 200
    assert response.json()["applied"] is True
    api_key.refresh_from_db()
    assert (api_key.scopes, api_key.shadow) == (["widgets:read"], [])
    assert check(key_client(raw), ORDERS).status_code == 403
    assert AuditEvent.objects.filter(event_type="api_key.proposal_applied").count() == 1


def test_a_proposal_is_applied_once(user):
    api_key, _ = make_api_key(user, scopes=["orders:read", "widgets:read"])
    proposal = propose(user, api_key, scopes=["widgets:read"])
    person_client(user).post(proposals_url(api_key.pk, proposal["id"], "apply"))

    response = person_client(user).post(proposals_url(api_key.pk, proposal["id"], "apply"))

    assert response.status_code == 409


def test_a_narrow_manager_cannot_apply_a_widening_proposal(user):
    api_key, _ = make_api_key(user, scopes=["agents:read"], allowed_ips=["127.0.0.0/8"])
    proposal = propose(user, api_key, allowed_ips=[])  # any IP: wider than the manager
    _, manager = make_api_key(
        user,
        key_manager=True,
        scopes=["agents:read", "keys:read", "keys:write"],
        allowed_ips=["127.0.0.0/8"],
    )

    response = key_client(manager).post(proposals_url(api_key.pk, proposal["id"], "apply"))

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"
    assert "allowed_ips" in response.json()["detail"]
    api_key.refresh_from_db()
    assert api_key.allowed_ips == ["127.0.0.0/8"]
    assert Proposal.objects.get().applied_at is None


def test_a_narrow_manager_cannot_propose_on_a_wider_key(user):
    api_key, _ = make_api_key(user)  # full access
    _, manager = make_api_key(user, key_manager=True, scopes=["keys:read", "keys:write"])

    response = key_client(manager).post(
        proposals_url(api_key.pk), {"scopes": ["agents:read"]}, format="json"
    )

    assert response.status_code == 403


# --- the spike event ------------------------------------------------------------------------


def test_crossing_the_spike_threshold_records_one_audit_event_per_level(user, settings):
    settings.KEYWARD_PROPOSAL_SPIKE_THRESHOLD = 2
    api_key, raw = make_api_key(user, scopes=["orders:read", "widgets:read"])
    proposal = propose(user, api_key, scopes=["widgets:read"])
    client = key_client(raw)

    for _ in range(3):
        check(client, ORDERS)
    read(user, api_key, proposal["id"])
    check(client, ORDERS)
    read(user, api_key, proposal["id"])

    [event] = AuditEvent.objects.filter(event_type="api_key.proposal_would_refuse_spike")
    assert event.data["proposal_id"] == proposal["id"]
    assert event.data["threshold"] == 2
    assert event.target_id == str(api_key.pk)
