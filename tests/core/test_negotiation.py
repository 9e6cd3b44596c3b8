"""The short-cut negotiation answers exactly what DRF's own negotiation answers."""

import pytest
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request

from core.negotiation import ContentNegotiation

RENDERERS = [JSONRenderer(), BrowsableAPIRenderer()]


@pytest.mark.parametrize(
    "path, accept",
    [
        ("/api/v1/auth/verify", None),
        ("/api/v1/auth/verify", "*/*"),
        ("/api/v1/auth/verify", " */* "),
        ("/api/v1/auth/verify", "application/json"),
        ("/api/v1/auth/verify", "application/json; indent=4"),
        ("/api/v1/auth/verify", "text/html,application/xhtml+xml,*/*;q=0.8"),
        ("/api/v1/auth/verify?format=api", None),
        ("/api/v1/auth/verify?format=json", None),
        ("/api/v1/auth/verify?page=2", "*/*"),
    ],
)
def test_the_choice_is_drfs(rf, path, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(rf.get(path, **headers))

    ours = ContentNegotiation().select_renderer(request, RENDERERS)
    drfs = DefaultContentNegotiation().select_renderer(request, RENDERERS)

    assert (type(ours[0]), ours[1]) == (type(drfs[0]), drfs[1])


@pytest.mark.parametrize("accept", ["image/png", ""])
def test_a_request_accepting_nothing_offered_is_still_refused(rf, accept):
    request = Request(rf.get("/api/v1/auth/verify", HTTP_ACCEPT=accept))

    with pytest.raises(NotAcceptable):
        DefaultContentNegotiation().select_renderer(request, RENDERERS)
    with pytest.raises(NotAcceptable):
        ContentNegotiation().select_renderer(request, RENDERERS)
