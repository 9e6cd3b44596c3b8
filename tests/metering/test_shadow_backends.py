"""The shadow block of the counting trip, the same in every backend (SPEC §12).

Redis runs it inside the per-request script; the embedded default and any other cache run the
same rules in Python. Each is driven here directly: verdicts, the proposals' own rate windows
(counted, never enforced), the would-be refusals kept, and the day's routes.
"""

import pytest
from django.core.cache import caches
from django.test import override_settings

from metering import backends

NOW = 1_800_000_000.0
KEY = "5b0c3f44-7a3b-4bd4-9a53-5a1d8e9f0001"
PROPOSAL = "5b0c3f44-7a3b-4bd4-9a53-5a1d8e9f0002"


def shadow(rule="", counters=(), observed="GET /api/v1/orders/<int:pk>"):
    return backends.Shadow(
        "GET", "/api/v1/orders/7", observed, (backends.ShadowJudged(PROPOSAL, rule, counters),)
    )


def count(backend, shadow_, limit=100):
    live = (backends.Counter("rl:shadow-test-live", limit, 61),)
    return backend.count(
        live, usage_key_id=KEY, generation_of=None, ip="10.0.0.1", now=NOW, shadow=shadow_
    ).counts


@pytest.fixture(params=["memory", "cache", "redis"])
def backend(request, tmp_path, settings):
    if request.param == "memory":
        with override_settings(
            CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
        ):
            yield backends.active()
    elif request.param == "cache":
        location = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache"}
        with override_settings(CACHES={"default": {**location, "LOCATION": str(tmp_path)}}):
            yield backends.active()
    else:
        if "redis" not in settings.CACHES["default"]["BACKEND"]:
            pytest.skip("needs REDIS_URL")
        active = backends.active()
        yield active
        active.shadow_take(KEY)
        caches["default"].delete_many(["rl:shadow-test-live", "rl:shadow-test-proposal"])


def test_every_request_is_judged_and_a_refusal_is_remembered(backend):
    count(backend, shadow(rule="scopes"))
    count(backend, shadow())

    pending = backend.shadow_take(KEY)

    assert pending.judged == {PROPOSAL: 2}
    assert pending.refused == {PROPOSAL: 1}
    [entry] = pending.recent
    assert entry.split("\t") == [
        PROPOSAL,
        "GET",
        "/api/v1/orders/7",
        "10.0.0.1",
        "scopes",
        "1800000000",
    ]


def test_a_request_the_live_limit_refuses_is_no_would_be_refusal(backend):
    count(backend, shadow(rule="scopes"), limit=0)

    pending = backend.shadow_take(KEY)

    assert (pending.judged, pending.refused, pending.recent) == ({PROPOSAL: 1}, {}, [])


def test_a_proposals_rate_window_counts_without_refusing(backend):
    window = (backends.Counter("rl:shadow-test-proposal", 1, 61),)

    first = count(backend, shadow(counters=window))
    second = count(backend, shadow(counters=window))

    assert (first, second) == ([1], [2])  # the live window: both admitted
    pending = backend.shadow_take(KEY)
    assert pending.refused == {PROPOSAL: 1}
    assert pending.recent[0].split("\t")[4] == "rate_limit"


def test_the_days_routes_are_remembered_once_each(backend):
    count(backend, shadow())
    count(backend, shadow())

    pending = backend.shadow_take(KEY)

    assert pending.observed == {"2027-01-15\tGET /api/v1/orders/<int:pk>"}


def test_a_take_empties_the_buffer_and_a_restore_puts_it_back(backend):
    count(backend, shadow(rule="scopes"))
    pending = backend.shadow_take(KEY)

    backend.shadow_restore(KEY, pending)

    assert KEY in backend.shadow_dirty_ids()
    again = backend.shadow_take(KEY)
    assert (again.judged, again.refused, len(again.recent)) == ({PROPOSAL: 1}, {PROPOSAL: 1}, 1)
    assert not backend.shadow_take(KEY)
