"""Query counts on the authenticated path, pinned (SPEC §3: a lookup is one indexed probe).

A warm key costs no database query to authenticate: the verified key is kept in the process
and checked against its generation in the shared cache, in the same trip that counts the
request. What the info view itself reads (the exact usage figures) is pinned separately.
"""

import pytest

from tests.apikeys.conftest import INFO_URL, key_client, make_api_key

pytestmark = pytest.mark.django_db

# Merging the buffered usage of the key (savepoint, two UPDATEs, release) and re-reading the
# key with its owner, so that request_count and last_used_at are exact.
INFO_VIEW_QUERIES = 6


def test_cold_key_is_authenticated_with_one_indexed_probe(user, django_assert_num_queries):
    _, raw = make_api_key(user)

    with django_assert_num_queries(1) as captured:
        response = key_client(raw).options(INFO_URL)

    assert response.status_code == 200
    assert '"key_hash" =' in captured.captured_queries[0]["sql"]


def test_warm_key_is_authenticated_without_a_query(user, django_assert_num_queries):
    _, raw = make_api_key(user)
    client = key_client(raw)
    client.options(INFO_URL)

    with django_assert_num_queries(0):
        response = client.options(INFO_URL)

    assert response.status_code == 200


def test_warm_info_request_makes_only_the_views_own_queries(user, django_assert_num_queries):
    _, raw = make_api_key(user)
    client = key_client(raw)
    client.get(INFO_URL)

    with django_assert_num_queries(INFO_VIEW_QUERIES) as captured:
        response = client.get(INFO_URL)

    assert response.status_code == 200
    assert not any('"key_hash" =' in q["sql"] for q in captured.captured_queries)
