"""Every API route is in the published OpenAPI schema, with the security schemes it accepts."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

UNDOCUMENTED = {"/api/v1/schema/"}  # the schema itself


def api_routes(patterns=None, prefix=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from api_routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith(("api/v1/", "oauth2/")):
            yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def test_every_api_route_is_documented(schema):
    routes = set(api_routes()) - UNDOCUMENTED

    missing = sorted(routes - set(schema["paths"]))

    assert missing == []


def test_schema_declares_the_credential_schemes(schema):
    schemes = schema["components"]["securitySchemes"]

    assert {"jwtAuth", "cookieAuth"} <= set(schemes)


def test_the_schema_builds_without_a_warning_and_validates():
    from io import StringIO

    from django.core.management import call_command

    # --fail-on-warn exits non-zero on any drf-spectacular warning (an unresolvable field,
    # two components sharing a name); --validate checks the result against the OpenAPI spec.
    call_command("spectacular", "--fail-on-warn", "--validate", stdout=StringIO())
