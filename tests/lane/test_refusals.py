"""The lane refuses a key never issued on every API route, as the route's view would (SPEC §9).

A flood of invented keys is anonymous traffic: each one is refused with the 401 the view would
give, counted in the client address's bucket and the audit's bursts, in front of Django's
stack. Every route whose view authenticates by API key first, through DRF's dispatch as
``ApiView`` has it, is checked here against Django's own answer; a key that may exist, and
every other route, goes to Django with nothing counted.
"""

import re

import pytest
from django.conf import settings
from django.urls import URLResolver, get_resolver, path
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from rest_framework.response import Response

from accounts.authentication import KeywardSessionAuthentication
from apikeys import known_keys
from apikeys.models import ApiKey
from apikeys.usage import usage_flush
from audit.models import AuditEvent
from config.lane import REFUSED_METHODS, refusing_route
from core.views import ApiView
from metering import verified
from tests.apikeys.conftest import forged_key
from tests.conftest import forget_everything
from tests.factories import UserFactory, issued_key
from tests.lane.harness import answer, environ_for, lane_over_django, same_answer

pytestmark = pytest.mark.django_db

VERIFY = "/api/v1/keys/verify"

SAMPLE_ARGUMENTS = {
    "uuid": "6f1c2a4e-9b1d-4c3e-8f2a-1d2e3f4a5b6c",
    "int": "7",
    "str": "sample",
    "slug": "sample",
    "path": "sample",
}
# Routes with a key authentication first that Django answers: the lane's own endpoints (which
# it answers in full), and views that change how DRF dispatches or renders.
LEFT_TO_DJANGO = {
    "/api/v1/auth/check",  # the lane's endpoint
    "/api/v1/agents/sample/run",  # its own dispatch
    "/api/v1/metrics",  # its own renderer
    "/api/v1/schema/",
    "/api/docs/",
}


def _sample_paths(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _sample_paths(pattern.url_patterns, route)
        elif route.startswith(("api/", "oauth2/")):
            yield "/" + re.sub(r"<(\w+):\w+>", lambda m: SAMPLE_ARGUMENTS[m[1]], route)


def _refusing_paths() -> list[str]:
    return [
        path
        for path in _sample_paths(get_resolver().url_patterns)
        if refusing_route(settings.ROOT_URLCONF, path) is not None
    ]


def _authenticates_by_key_first(path: str) -> bool:
    from django.urls import resolve

    from apikeys.authentication import ApiKeyAuthentication

    view = getattr(resolve(path).func, "view_class", None)
    classes = list(getattr(view, "authentication_classes", ()))
    return bool(classes) and classes[0] is ApiKeyAuthentication


def refused(method, path, raw_key, **meta):
    return lambda: environ_for(method, path, HTTP_AUTHORIZATION=f"Bearer {raw_key}", **meta)


@pytest.fixture
def invented():
    """A well-formed key never issued, once this process has read the stored hashes (as after
    its first unknown key)."""
    _, raw = issued_key(UserFactory())
    return forged_key(raw)


def learned(environ_of):
    def environ():
        known_keys.learn()
        return environ_of()

    return environ


def test_every_api_route_that_authenticates_by_key_first_is_refused_by_the_lane():
    by_key = {
        path
        for path in _sample_paths(get_resolver().url_patterns)
        if _authenticates_by_key_first(path)
    }

    assert by_key - set(_refusing_paths()) == LEFT_TO_DJANGO
    assert len(by_key) > 30


@pytest.mark.parametrize(
    ("path", "method"),
    [
        (path, method)
        for path in _refusing_paths()
        for method in ("GET", "POST")
        if (path, method) != (VERIFY, "POST")  # the lane's endpoint: test_both_lanes.py
    ],
)
def test_an_invented_key_is_refused_as_the_routes_view_refuses_it(invented, path, method):
    got = same_answer(learned(refused(method, path, invented)))

    assert got.status == "401 Unauthorized"


@pytest.mark.parametrize("method", sorted(REFUSED_METHODS))
def test_every_method_the_lane_refuses_is_refused_alike(invented, method):
    key_path = "/api/v1/user/api-keys/" + SAMPLE_ARGUMENTS["uuid"]

    same_answer(learned(refused(method, key_path, invented)))


@pytest.mark.parametrize("how", ["x-api-key", "bare", "basic"])
def test_each_presentation_of_an_invented_key_is_refused_alike(invented, how):
    from tests.apikeys.conftest import presentation_headers

    headers = presentation_headers(invented, how)

    same_answer(learned(lambda: environ_for("GET", "/api/v1/auth/verify", **headers)))


def test_a_mistyped_key_is_refused_before_any_stored_hash_is_read(db):
    _, raw = issued_key(UserFactory())
    mistyped = raw[:-1] + ("A" if raw[-1] != "A" else "B")

    got = same_answer(refused("GET", "/api/v1/auth/verify", mistyped))

    assert got.status == "401 Unauthorized"


def test_a_flood_of_invented_keys_costs_no_query(invented, django_assert_num_queries):
    lane = lane_over_django()
    answer(lane, learned(refused("GET", "/api/v1/agents", invented))())

    with django_assert_num_queries(0):
        got = [answer(lane, refused("GET", "/api/v1/agents", invented)()) for _ in range(5)]

    assert all(one.by_lane and one.status == "401 Unauthorized" for one in got)


def test_refusals_in_the_lane_feed_the_audits_burst_rows(invented):
    lane = lane_over_django()
    known_keys.learn()

    for _ in range(10):
        answer(lane, refused("GET", "/api/v1/agents", invented)())

    bursts = AuditEvent.objects.filter(event_type="api_key.auth_failed_burst")
    assert [event.data["failures"] for event in bursts] == [10]


def test_an_issued_key_goes_to_django_and_is_counted_once(db):
    api_key, raw = issued_key(UserFactory())
    known_keys.learn()

    got = answer(lane_over_django(), refused("GET", "/api/v1/auth/verify", raw)())

    assert (got.status, got.by_lane) == ("200 OK", False)
    assert _uses_counted(api_key) == 1


def test_a_key_issued_on_another_node_since_the_copy_was_read_goes_to_django(db):
    """The copy of stored hashes predates the key: the refusal's trip finds the generation moved
    on, counts nothing, and Django answers from the database."""
    known_keys.learn()
    copy = known_keys._known
    api_key, raw = issued_key(UserFactory())  # forgets this process's copy...
    known_keys._known = copy  # ...which another node's would not have done
    verified.invalidate(known_keys.FAMILY)  # what that node's commit announces

    got = answer(lane_over_django(), refused("GET", "/api/v1/auth/verify", raw)())

    assert (got.status, got.by_lane) == ("200 OK", False)
    assert _uses_counted(api_key) == 1


def _uses_counted(api_key: ApiKey) -> int:
    usage_flush(key_ids=[api_key.pk])
    api_key.refresh_from_db()
    return api_key.request_count


@pytest.mark.parametrize(
    "meta",
    [
        {"QUERY_STRING": "format=json"},  # DRF's negotiation reads it
        {"QUERY_STRING": "page=2", "HTTP_ACCEPT": "application/json"},  # ...and parses this one
        {"HTTP_COOKIE": "sessionid=abc"},
        {"HTTP_X_API_KEY": "kw_other"},  # two credentials: Django judges both
    ],
)
def test_requests_the_lane_cannot_answer_alike_go_to_django(invented, meta):
    same_answer(learned(refused("GET", "/api/v1/agents", invented, **meta)), by_lane=False)


@pytest.mark.parametrize(
    "query",
    [
        "page=2",
        "page=2&page_size=200&x=%ZZ",
        pytest.param("a=" + "b" * 3000, id="long"),
        pytest.param("&".join(f"f{n}=1" for n in range(1500)), id="more-fields-than-Django-reads"),
    ],
)
def test_a_query_string_the_refusal_never_reads_keeps_it_in_the_lane(invented, query):
    got = same_answer(learned(refused("GET", "/api/v1/agents", invented, QUERY_STRING=query)))

    assert got.status == "401 Unauthorized"


def test_a_path_of_any_characters_goes_to_django_as_the_server_gave_it(invented):
    """WSGI gives the path's UTF-8 bytes as Latin-1 text; the lane must hand Django that, not
    the text its own request decoded from it (which Latin-1 cannot encode again)."""
    tenant = "Āé".encode().decode("latin-1")

    got = same_answer(
        learned(
            refused(
                "GET", f"/api/v1/tenants/{tenant}/invitations", invented, HTTP_COOKIE="sessionid=a"
            )
        ),
        by_lane=False,
    )

    assert got.status == "401 Unauthorized"


def test_a_request_for_html_goes_to_django(invented):
    environ_of = learned(refused("GET", "/api/v1/agents", invented, HTTP_ACCEPT="text/html"))

    got = answer(lane_over_django(), environ_of())

    assert (got.status, got.by_lane) == ("401 Unauthorized", False)


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
def test_head_and_options_go_to_django(invented, method):
    same_answer(learned(refused(method, "/api/v1/agents", invented)), by_lane=False)


def test_a_route_without_key_authentication_goes_to_django(invented):
    forget_everything()
    same_answer(learned(refused("POST", "/api/v1/auth/login", invented)), by_lane=False)


def test_nothing_is_refused_with_the_lane_off(invented):
    same_answer(
        learned(refused("GET", "/api/v1/agents", invented)),
        by_lane=False,
        lane_options={"enabled": False},
    )


# --- which views the lane refuses for ------------------------------------------------------


class Plain(ApiView):
    def get(self, request):
        return Response({})


class OwnInitial(Plain):
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)


class SessionFirst(Plain):
    authentication_classes = [KeywardSessionAuthentication]


@method_decorator(never_cache, name="dispatch")
class DecoratedDispatch(Plain):
    pass


urlpatterns = [
    path("plain", Plain.as_view()),
    path("own-initial", OwnInitial.as_view()),
    path("session-first", SessionFirst.as_view()),
    path("decorated-dispatch", DecoratedDispatch.as_view()),
    path("decorated-function", never_cache(Plain.as_view())),
]


@pytest.mark.parametrize(
    ("path", "refusing"),
    [
        ("/plain", True),
        ("/own-initial", False),
        ("/session-first", False),
        ("/decorated-dispatch", False),
        ("/decorated-function", False),
        ("/nowhere", False),
    ],
)
def test_the_lane_refuses_only_for_views_that_dispatch_as_drf_does(path, refusing):
    assert (refusing_route(__name__, path) is not None) is refusing
