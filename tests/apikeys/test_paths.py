"""Paths are judged after normalisation (SPEC §9): ``identity.paths.normalise_path`` and its doors.

The attack this closes: a key granted only ``GET /api/v1/orders`` asked ``auth/check`` about
``/api/v1/orders/../admin/users`` and was allowed, while the upstream served ``/api/v1/admin``.
"""

from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apikeys.models import ApiKey
from core.principal import AuthMethod, Principal
from identity.authorize import authorize, endpoint_granted
from identity.paths import InvalidPath, normalise_path
from tests.apikeys.conftest import (
    CHECK_URL,
    KEYS_URL,
    VERIFY_URL,
    key_client,
    key_url,
    make_api_key,
    person_client,
)

ORDERS_GRANT = {"path": "/api/v1/orders", "methods": ["GET"]}

# --- the function -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("/api/v1/orders", "/api/v1/orders"),
        ("/api/v1/orders/", "/api/v1/orders/"),
        ("/", "/"),
        ("/api/v1/orders/../admin", "/api/v1/admin"),
        ("/api/v1/orders/../admin/users", "/api/v1/admin/users"),
        ("/api/v1/orders/%2e%2e/admin", "/api/v1/admin"),
        ("/api/v1/orders/%2E%2e/admin", "/api/v1/admin"),
        ("/api/v1/orders/.%2E/admin", "/api/v1/admin"),
        ("/api/v1/orders/%2E%2e/", "/api/v1/"),
        ("/api/v1/orders/./5", "/api/v1/orders/5"),
        ("/api/v1/orders/%2e/5", "/api/v1/orders/5"),
        ("/api/v1/orders/5/..", "/api/v1/orders/"),
        ("/api/v1/orders/5/.", "/api/v1/orders/5/"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/..", "/"),
        ("/api//v1///orders", "/api/v1/orders"),
        ("//api/v1/orders", "/api/v1/orders"),
        ("/api/v1/orders//", "/api/v1/orders/"),
        ("/api/v1/orders?x=1", "/api/v1/orders"),
        ("/api/v1/orders?next=/../admin", "/api/v1/orders"),
        ("/api/v1/orders#/../admin", "/api/v1/orders"),
        ("/api/v1/orders?", "/api/v1/orders"),
        ("/api/v1/%6Frders", "/api/v1/orders"),
        ("/%7euser/a%2Db_c", "/~user/a-b_c"),
        ("/api/v1/a%3ab", "/api/v1/a%3Ab"),
        ("/api/v1/a%20b", "/api/v1/a%20b"),
        ("/api/v1/caf%c3%a9", "/api/v1/caf%C3%A9"),
        ("/api/v1/café", "/api/v1/caf%C3%A9"),
        ("/api/v1/日本", "/api/v1/%E6%97%A5%E6%9C%AC"),
        ("/api/v1/a;b=c/d", "/api/v1/a;b=c/d"),
        ("/api/v1/a.b/c.json", "/api/v1/a.b/c.json"),
        ("/api/v1/Orders", "/api/v1/Orders"),
    ],
)
def test_normalise_path_gives_the_normal_form(raw, normal):
    assert normalise_path(raw) == normal


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "start with /"),
        ("api/v1/orders", "start with /"),
        ("http://evil.example/api/v1/orders", "start with /"),
        ("?/api/v1/orders", "start with /"),
        ("/api/v1/orders/..%2Fadmin", "encoded slash"),
        ("/api/v1/orders/..%2fadmin", "encoded slash"),
        ("/api/v1/orders%2F..%2Fadmin", "encoded slash"),
        ("/api/v1/orders/..\\admin", "backslash"),
        ("/api/v1/orders\\..\\admin", "backslash"),
        ("/api/v1/orders/..%5Cadmin", "encoded backslash"),
        ("/api/v1/orders%00", "NUL"),
        ("/api/v1/orders\x00", "NUL"),
        ("/api/v1/orders\x01", "control"),
        ("/api/v1/orders\x1f", "control"),
        ("/api/v1/orders\x7f", "control"),
        ("/api/v1/orders\n/admin", "control"),
        ("/api/v1/orders\x85", "control"),
        ("/api/v1/orders%0a", "control"),
        ("/api/v1/orders%7F", "control"),
        ("/api/v1/or ders", "whitespace"),
        ("/api/v1/or\u00a0ders", "whitespace"),
        ("/api/v1/or\u200bders", "invisible"),
        ("/api/v1/\ud800", "control"),
        ("/api/v1/orders/..;/admin", "'..'"),
        ("/api/v1/orders/%2e%2e;/admin", "'..'"),
        ("/api/v1/orders/.../admin", "'..'"),
        ("/api/v1/report..pdf", "'..'"),
        ("/api/v1/orders//../admin", "empty segment"),
        ("/api/v1/orders/%", "two hex digits"),
        ("/api/v1/orders/%2", "two hex digits"),
        ("/api/v1/orders/%zz", "two hex digits"),
        ("/api/v1/orders/%u002e%u002e/admin", "two hex digits"),
        ("/api/v1/orders/%c0%ae%c0%ae/admin", "overlong"),
        ("/api/v1/orders/%e0%80%ae%e0%80%ae/admin", "overlong"),
        ("/api/v1/orders/\uff0e\uff0e\uff0fadmin", "Unicode folds"),
        ("/api/v1/orders\uff1f/../admin", "Unicode folds"),
    ],
)
def test_normalise_path_refuses(raw, why):
    with pytest.raises(InvalidPath, match=why) as refused:
        normalise_path(raw)

    assert refused.value.code == "invalid_path"
    assert "admin" not in str(refused.value)  # the message never repeats the path


# --- properties -------------------------------------------------------------------------------

SEGMENTS = st.one_of(
    st.sampled_from(
        [
            "",
            ".",
            "..",
            "%2e",
            "%2E",
            "%2e%2e",
            ".%2E",
            "%2E.",
            "...",
            "..;",
            "orders",
            "admin",
            "api",
            "v1",
            "5",
            "%6Frders",
            "%41",
            "%3a",
            "~x",
            "%7e",
            "a;b",
            "%2f",
            "%2F",
            "%5c",
            "\\",
            "%00",
            "\x00",
            "\t",
            "%",
            "%g1",
            "é",
            "%C3%A9",
            "日本",
            "\uff0e",
            "?q=/../admin",
            "#frag",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
)
PATHS = st.builds(
    lambda lead, segments: lead + "/".join(segments),
    st.sampled_from(["/", "/", "/", "//", "", "/api/v1/orders/"]),
    st.lists(SEGMENTS, max_size=8),
)


def normal_or_none(raw: str) -> str | None:
    try:
        return normalise_path(raw)
    except InvalidPath:
        return None


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="/.%2eEfF5cC\\?#;a\x00é\uff0e", max_size=24)))
def test_normalise_path_answers_any_text_with_a_path_or_invalid_path(raw):
    try:
        normal = normalise_path(raw)
    except InvalidPath:
        return  # anything else (UnicodeEncodeError, IndexError…) would be a 500 at the edge

    assert normal.startswith("/") and normal.isascii()


@settings(max_examples=400, deadline=None)
@given(PATHS)
def test_normalise_path_is_idempotent(raw):
    normal = normal_or_none(raw)

    if normal is not None:
        assert normalise_path(normal) == normal


@settings(max_examples=400, deadline=None)
@given(PATHS)
def test_a_normal_path_holds_no_dot_segment_no_empty_segment_and_no_query(raw):
    normal = normal_or_none(raw)

    if normal is not None:
        assert normal.startswith("/")
        segments = normal.split("/")[1:]
        assert not {".", ".."} & set(segments)
        assert "" not in segments[:-1]  # only a trailing slash
        assert ".." not in normal and "?" not in normal and "#" not in normal
        assert normal.isascii() and "\\" not in normal
        assert "%2F" not in normal.upper() and "%2E" not in normal.upper()


PLAIN_SEGMENTS = st.one_of(
    st.sampled_from([".", "..", "orders", "admin", "a.b", "5", "x~y"]),
    st.text(alphabet="abcXYZ019-_~.", min_size=1, max_size=5),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(PLAIN_SEGMENTS, max_size=8))
def test_dot_segments_resolve_as_an_rfc_3986_resolver_does(segments):
    raw = "/" + "/".join(segments)
    normal = normal_or_none(raw)

    if normal is not None:  # refused only for a ".." inside a segment
        # urljoin removes dot segments by RFC 3986 §5.2.4: an independent resolver.
        assert normal == urlsplit(urljoin("http://upstream.example/", raw)).path
    else:
        assert any(".." in s and s != ".." for s in segments)


def grants_only(*grants) -> Principal:
    return Principal(auth_method=AuthMethod.API_KEY, endpoints=tuple(grants))


@settings(max_examples=400, deadline=None)
@given(PATHS)
def test_a_grant_admits_a_path_exactly_when_it_admits_its_normal_form(raw):
    principal = grants_only(ORDERS_GRANT)
    normal = normal_or_none(raw)

    allowed = authorize(principal, method="GET", path=raw).allowed

    below = normal is not None and (
        normal == "/api/v1/orders" or normal.startswith("/api/v1/orders/")
    )
    assert allowed is below
    if normal is not None:
        assert authorize(principal, method="GET", path=normal).allowed is allowed


@settings(max_examples=200, deadline=None)
@given(PATHS)
def test_a_grant_saved_from_any_spelling_admits_what_its_normal_form_admits(raw):
    normal = normal_or_none(raw)
    if normal is None:
        return
    stored = grants_only({"path": normal, "methods": ["GET"]})
    legacy = grants_only({"path": raw, "methods": ["GET"]})  # saved before normalisation

    for request in ("/api/v1/orders/5", normal, normal + "/x", "/api/v1/admin"):
        assert endpoint_granted(legacy.endpoints, "GET", request) is endpoint_granted(
            stored.endpoints, "GET", request
        )


# --- endpoint_granted: grant and request spelled differently ----------------------------------


@pytest.mark.parametrize(
    ("grant_path", "request_path", "granted"),
    [
        ("/api/v1/orders", "/api/v1/orders/", True),
        ("/api/v1/orders/", "/api/v1/orders", True),
        ("/api/v1/orders/", "/api/v1/orders/5", True),
        ("/api/v1/orders", "/api/v1/orders/5?x=/../../admin", True),
        ("/api/v1/orders", "/api/v1/%6Frders/5", True),
        ("/api/v1/%6frders", "/api/v1/orders/5", True),
        ("/api/v1//orders", "/api/v1/orders/5", True),
        ("/api/v1/a%3ab", "/api/v1/a%3Ab", True),
        ("/api/v1/orders", "/api/v1/ordersx", False),
        ("/api/v1/orders", "/API/v1/orders", False),
        ("/api/v1/Orders", "/api/v1/orders", False),
        ("/api/v1/orders", "/api/v1/orders/../admin", False),
        ("/api/v1/orders", "/api/v1/orders/%2e%2e/admin", False),
        ("/api/v1/orders", "/api/v1/orders/..%2Fadmin", False),
        ("/api/v1/orders", "/api/v1/orders/..;/admin", False),
        ("/api/v1/orders", "/api/v1/orders\\..\\admin", False),
        ("/api/v1/orders/../admin", "/api/v1/orders/5", False),
        ("/api/v1/orders/..%2Fadmin", "/api/v1/orders/..%2Fadmin", False),
    ],
)
def test_endpoint_granted_compares_normal_forms(grant_path, request_path, granted):
    grants = ({"path": grant_path, "methods": ["GET"]},)

    assert endpoint_granted(grants, "GET", request_path) is granted


# --- auth/check -------------------------------------------------------------------------------


def check(raw_key, uri, method="GET"):
    return key_client(raw_key).get(
        CHECK_URL, HTTP_X_ORIGINAL_METHOD=method, HTTP_X_ORIGINAL_URI=uri
    )


@pytest.fixture
def orders_key(user):
    """A key granted only ``GET /api/v1/orders``: the one the attack used."""
    return make_api_key(user, endpoints=[ORDERS_GRANT])


@pytest.mark.parametrize(
    "uri",
    [
        "/api/v1/orders/../admin/users",
        "/api/v1/orders/%2e%2e/admin/users",
        "/api/v1/orders/%2E%2e/admin/users",
        "/api/v1/orders/5/../../admin/users?x=1",
    ],
)
def test_auth_check_judges_a_dot_segment_path_as_the_path_it_resolves_to(orders_key, uri):
    _, raw = orders_key

    response = check(raw, uri)

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"
    assert response["X-Auth-Error-Code"] == "insufficient_permissions"
    assert "GET /api/v1/admin/users" in response.json()["detail"]


@pytest.mark.parametrize(
    "uri",
    [
        "/api/v1/orders/..%2Fadmin/users",
        "/api/v1/orders/..%2fadmin/users",
        "/api/v1/orders/..\\admin/users",
        "/api/v1/orders/..;/admin/users",
        "/api/v1/orders%00",
        "/api/v1/orders//../admin",
        "api/v1/orders",
        "http://evil.example/api/v1/orders",
        "",
    ],
)
def test_auth_check_refuses_an_invalid_path_with_403_invalid_path(orders_key, uri):
    _, raw = orders_key

    response = check(raw, uri)

    assert response.status_code == 403  # a proxy knows only 2xx, 401 and 403
    assert response.json()["code"] == "invalid_path"
    assert response["X-Auth-Error-Code"] == "invalid_path"


@pytest.mark.parametrize("uri", ["/api/v1/orders/../admin/users", "/api/v1/orders/%2E%2E/admin"])
def test_auth_check_derives_the_resource_from_the_normal_form(user, uri):
    _, raw = make_api_key(user, scopes=["orders:read"])

    response = check(raw, uri)

    assert response.status_code == 403  # the resource is admin, not orders
    assert response.json()["code"] == "insufficient_permissions"
    assert "admin:read" in response.json()["detail"]


def test_verify_derives_the_resource_from_the_normal_form(verifier, user):
    _, raw = make_api_key(user, scopes=["orders:read"])

    response = verifier.post(
        VERIFY_URL, {"key": raw, "path": "/api/v1/orders/%2e%2e/admin/users"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert "admin:read" in response.json()["reason"]


def test_auth_check_refuses_an_invalid_path_even_for_a_full_access_key(user):
    _, raw = make_api_key(user)

    response = check(raw, "/api/v1/orders/..%2Fadmin")

    assert response.status_code == 403
    assert response["X-Auth-Error-Code"] == "invalid_path"


@pytest.mark.parametrize(
    "uri", ["/api/v1/orders", "/api/v1/orders/./5", "/api/v1//orders/5", "/api/v1/%6Frders/5?a=b"]
)
def test_auth_check_allows_a_granted_path_in_any_spelling(orders_key, uri):
    _, raw = orders_key

    response = check(raw, uri)

    assert response.status_code == 200
    assert response["X-Auth-Reason"].startswith("Endpoint grant matches GET /api/v1/orders")


def test_auth_check_reads_a_raw_utf8_original_uri(user):
    _, raw = make_api_key(user, endpoints=[{"path": "/api/v1/café", "methods": ["GET"]}])
    # A WSGI server hands a header's raw bytes over as ISO-8859-1 text.
    on_the_wire = "/api/v1/café/5".encode().decode("iso-8859-1")

    assert check(raw, on_the_wire).status_code == 200
    assert check(raw, "/api/v1/caf%C3%A9/5").status_code == 200


def test_auth_check_refuses_an_original_uri_that_is_not_utf8(user):
    _, raw = make_api_key(user)

    response = check(raw, "/api/v1/caf\xe9")  # the single byte 0xE9

    assert response.status_code == 403
    assert response["X-Auth-Error-Code"] == "invalid_path"


# --- keys/verify ------------------------------------------------------------------------------


@pytest.fixture
def verifier(user):
    _, raw = make_api_key(user, scopes=["keys:verify"])
    return key_client(raw)


def request_count(user, api_key) -> int:
    return person_client(user).get(key_url(api_key.pk)).json()["request_count"]


def test_verify_judges_a_dot_segment_path_as_the_path_it_resolves_to(verifier, orders_key):
    _, raw = orders_key

    response = verifier.post(
        VERIFY_URL,
        {"key": raw, "method": "GET", "path": "/api/v1/orders/../admin/users"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert response.json()["code"] == "insufficient_permissions"
    assert "GET /api/v1/admin/users" in response.json()["reason"]


@pytest.mark.parametrize("path", ["/api/v1/orders/%2e%2e/admin", "/api/v1/orders/%2E%2e/"])
def test_verify_refuses_an_encoded_dot_segment_escape(verifier, orders_key, path):
    _, raw = orders_key

    response = verifier.post(VERIFY_URL, {"key": raw, "path": path}, format="json")

    assert response.status_code == 200
    assert response.json()["valid"] is False


def test_verify_says_valid_for_a_granted_path_in_another_spelling(verifier, orders_key):
    _, raw = orders_key

    response = verifier.post(
        VERIFY_URL, {"key": raw, "path": "/api/v1/orders/7/../5?x=1"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["valid"] is True


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/orders/..%2Fadmin/users",
        "/api/v1/orders/..\\admin",
        "/api/v1/orders\x00",
        "/api/v1/orders%00",
        "/api/v1/orders\x07",
        " /api/v1/orders",
        "api/v1/orders",
        "",
    ],
)
def test_verify_refuses_an_invalid_path_with_400_invalid_path(verifier, user, orders_key, path):
    api_key, raw = orders_key
    before = request_count(user, api_key)

    response = verifier.post(VERIFY_URL, {"key": raw, "path": path}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_path"
    assert request_count(user, api_key) == before  # a malformed call is no use of the key


# --- grants as they are saved -----------------------------------------------------------------


def create(client, **body):
    return client.post(KEYS_URL, {"name": "grants", **body}, format="json")


@pytest.mark.parametrize(
    ("path", "stored"),
    [
        ("/api/v1/orders/./5/../", "/api/v1/orders/"),
        ("/api//v1/%6Frders", "/api/v1/orders"),
        ("/api/v1/orders?x=1", "/api/v1/orders"),
        ("/api/v1/café", "/api/v1/caf%C3%A9"),
    ],
)
def test_a_grant_is_stored_in_normal_form(person, path, stored):
    response = create(person, endpoints=[{"path": path, "methods": ["GET"]}])

    assert response.status_code == 201
    assert response.json()["endpoints"] == [{"path": stored, "methods": ["GET"]}]
    assert ApiKey.objects.get(pk=response.json()["id"]).endpoints == [
        {"path": stored, "methods": ["GET"]}
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/orders/..%2Fadmin",
        "/api/v1/orders\\admin",
        "/api/v1/orders%00",
        "/api/v1/orders\x00",
        "/api/v1/orders/..;/admin",
        "api/v1/orders",
        "",
    ],
)
def test_a_grant_with_an_invalid_path_gets_400_validation_error(person, path):
    response = create(person, endpoints=[{"path": path, "methods": ["GET"]}])

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    # Named by its path in the body, flat (SPEC §11).
    assert list(response.json()["errors"]) == ["endpoints.0.path"]
    assert not ApiKey.objects.exists()


def test_a_grant_changed_by_patch_is_stored_in_normal_form(person, user):
    api_key, _ = make_api_key(user, endpoints=[{"path": "/api/v1/orders", "methods": ["GET"]}])

    response = person.patch(
        key_url(api_key.pk),
        {"endpoints": [{"path": "/api/v1/orders/%35/./", "methods": ["GET"]}]},
        format="json",
    )

    assert response.status_code == 200
    api_key.refresh_from_db()
    assert api_key.endpoints == [{"path": "/api/v1/orders/5/", "methods": ["GET"]}]


def test_a_grant_changed_by_patch_to_an_invalid_path_is_refused(person, user):
    api_key, _ = make_api_key(user, endpoints=[ORDERS_GRANT])

    response = person.patch(
        key_url(api_key.pk),
        {"endpoints": [{"path": "/api/v1/orders/..%2F", "methods": ["GET"]}]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    api_key.refresh_from_db()
    assert api_key.endpoints == [ORDERS_GRANT]
