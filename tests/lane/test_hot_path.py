"""The lane's warm request costs what Django's did: no query, one Redis round trip.

Driven through the lane itself (not the test client), as gunicorn calls ``config.wsgi``.
"""

import json

import pytest

from tests.factories import MembershipFactory, UserFactory, issued_key
from tests.lane.harness import answer, environ_for, lane_over_django

pytestmark = pytest.mark.django_db


@pytest.fixture
def warm_check():
    """A lane and an auth/check request whose key the lane has already served once."""
    user = UserFactory()
    MembershipFactory(user=user)
    _, raw = issued_key(user)
    lane = lane_over_django()

    def request():
        return answer(
            lane,
            environ_for(
                "GET", "/api/v1/auth/check", HTTP_X_API_KEY=raw, HTTP_X_ORIGINAL_URI="/api/v1/x"
            ),
        )

    assert request().by_lane
    return request


def test_a_warm_auth_check_through_the_lane_makes_no_query(warm_check, django_assert_num_queries):
    with django_assert_num_queries(0):
        got = warm_check()

    assert (got.status, got.by_lane) == ("200 OK", True)


@pytest.mark.redis
def test_a_warm_auth_check_through_the_lane_makes_one_redis_round_trip(warm_check, redis_calls):
    redis_calls.clear()

    assert warm_check().by_lane
    assert redis_calls == ["EVALSHA"]


@pytest.fixture
def warm_verify():
    """A lane and a keys/verify request whose verifier and asked-about key it has seen once."""
    user = UserFactory()
    MembershipFactory(user=user)
    _, verifier = issued_key(user, scopes=["keys:verify"])
    _, raw = issued_key(user)
    lane = lane_over_django()

    def request():
        body = json.dumps({"key": raw}).encode()
        return answer(
            lane,
            environ_for(
                "POST",
                "/api/v1/keys/verify",
                body=body,
                CONTENT_TYPE="application/json",
                HTTP_X_API_KEY=verifier,
            ),
        )

    assert request().by_lane
    return request


def test_a_warm_keys_verify_makes_no_query(warm_verify, django_assert_num_queries):
    """The asked-about key is judged from this process's verified records, as a request with
    it would be (``verify_key``), not read from the database each time."""
    with django_assert_num_queries(0):
        got = warm_verify()

    assert (got.status, got.by_lane) == ("200 OK", True)
    assert json.loads(got.body)["valid"] is True


@pytest.mark.redis
def test_a_warm_keys_verify_makes_a_redis_round_trip_for_each_key(warm_verify, redis_calls):
    """One for the verifier, one that counts the asked-about key and confirms its record."""
    redis_calls.clear()

    assert warm_verify().by_lane
    assert redis_calls == ["EVALSHA", "EVALSHA"]
