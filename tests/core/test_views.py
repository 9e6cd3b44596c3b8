"""Every API view authenticates with one shared set of authenticators, which keep no state."""

import base64

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework.views import APIView

from core.views import ApiView, GenericApiView, SharedAuthenticators, authenticators_for
from tests.factories import DEFAULT_PASSWORD, ServiceClientFactory, UserFactory, issued_key
from tests.oauth.conftest import access_token_for
from tests.tenants.helpers import jwt_for

VERIFY = "/api/v1/auth/verify"
OUR_APPS = ("accounts", "agents", "apikeys", "audit", "core", "oauth", "ops", "tenants")


def drf_views_of(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from drf_views_of(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            view_class = getattr(pattern.callback, "cls", None)
            if isinstance(view_class, type) and issubclass(view_class, APIView):
                yield view_class


def test_every_api_view_of_ours_shares_its_authenticators():
    ours = {
        view
        for view in drf_views_of(get_resolver().url_patterns)
        if view.__module__.split(".")[0] in OUR_APPS
    }
    assert len(ours) > 10  # the walk found the API, not an empty list
    assert [view for view in ours if not issubclass(view, SharedAuthenticators)] == []


def test_every_api_view_of_ours_has_them_from_one_of_the_project_bases():
    ours = {
        view
        for view in drf_views_of(get_resolver().url_patterns)
        if view.__module__.split(".")[0] in OUR_APPS
    }
    assert [view for view in ours if not issubclass(view, (ApiView, GenericApiView))] == []
    # The mixin is named in core.views only: no view base of an app repeats it.
    assert [view for view in ours if SharedAuthenticators in view.__bases__] == []


def test_two_requests_to_one_view_get_the_same_authenticator_instances():
    from accounts.api import VerifyView

    first, second = VerifyView().get_authenticators(), VerifyView().get_authenticators()

    assert [type(a) for a in first] == list(VerifyView.authentication_classes)
    assert all(a is b for a, b in zip(first, second, strict=True))


def test_a_view_with_its_own_classes_gets_instances_of_those():
    class OnlySession(SharedAuthenticators, APIView):
        authentication_classes = [api_settings.DEFAULT_AUTHENTICATION_CLASSES[-1]]

    (authenticator,) = OnlySession().get_authenticators()

    assert type(authenticator) is api_settings.DEFAULT_AUTHENTICATION_CLASSES[-1]


@pytest.mark.django_db
def test_the_shared_authenticators_keep_no_state_across_every_presentation():
    """Shared across requests and threads, an authenticator must not remember one request."""
    user = UserFactory()
    _, raw_key = issued_key(user=user, created_by=user, name="state")
    basic = base64.b64encode(f"apikey:{raw_key}".encode()).decode()
    service_token = access_token_for(ServiceClientFactory(scopes=["probe:read"]))
    presentations = [  # (headers, the answer that shows which path it took)
        ({"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}, 200),
        ({"HTTP_X_API_KEY": raw_key}, 200),
        ({"HTTP_AUTHORIZATION": f"Basic {basic}"}, 200),
        ({"HTTP_AUTHORIZATION": raw_key}, 200),
        ({"HTTP_AUTHORIZATION": f"Bearer {jwt_for(user)}"}, 200),
        ({"HTTP_AUTHORIZATION": f"Bearer {service_token}"}, 200),
        ({"HTTP_AUTHORIZATION": "Bearer kw_not_a_key"}, 401),
        ({"HTTP_AUTHORIZATION": "Bearer a.b.c"}, 401),
        ({"HTTP_AUTHORIZATION": "Digest nope"}, 401),
        ({}, 401),
    ]
    shared = authenticators_for(tuple(api_settings.DEFAULT_AUTHENTICATION_CLASSES))
    responses = [APIClient().get(VERIFY, **headers) for headers, _ in presentations]
    session = Client()
    assert session.login(email=user.email, password=DEFAULT_PASSWORD)
    responses.append(session.get(VERIFY))

    expected = [status for _, status in presentations] + [200]
    assert [response.status_code for response in responses] == expected
    # Each request was authenticated by the shared set, not by instances of its own.
    assert all(r.renderer_context["request"].authenticators is shared for r in responses)
    assert {type(a).__name__: vars(a) for a in shared} == {type(a).__name__: {} for a in shared}
