"""Every API route is in the published OpenAPI schema, with the security schemes it accepts."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

UNDOCUMENTED = {"/api/v1/schema/"}  # the schema itself


def api_operations(patterns=None, prefix=""):
    """``(schema path, method, excluded)`` for every method of every API route the resolver knows.

    ``excluded`` is the view's own ``@extend_schema(exclude=True)``: a deliberate choice (an
    alias, a proxy's extra methods), unlike a route nobody documented.
    """
    from drf_spectacular.generators import SchemaGenerator

    generator = SchemaGenerator()
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from api_operations(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith(("api/v1/", "oauth2/")):
            path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
            view_class = getattr(pattern.callback, "cls", None)
            for method in getattr(view_class, "http_method_names", ()):
                if method in ("head", "options") or not hasattr(view_class, method):
                    continue
                view = generator.create_view(pattern.callback, method.upper())
                yield path, method, view.schema.is_excluded()


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def test_every_api_route_is_documented(schema):
    routes = {path for path, _, excluded in api_operations() if not excluded} - UNDOCUMENTED

    missing = sorted(routes - set(schema["paths"]))

    assert missing == []


def test_every_method_a_view_answers_is_documented(schema):
    missing = [
        f"{method.upper()} {path}"
        for path, method, excluded in api_operations()
        if path not in UNDOCUMENTED and not excluded and method not in schema["paths"].get(path, {})
    ]

    assert missing == []


def test_schema_declares_every_credential_scheme(schema):
    schemes = schema["components"]["securitySchemes"]

    assert schemes["apiKeyBearer"] == {**schemes["apiKeyBearer"], "scheme": "bearer"}
    assert schemes["apiKeyHeader"]["name"] == "X-API-Key"
    assert schemes["apiKeyBasic"]["scheme"] == "basic"
    assert schemes["jwtAuth"]["bearerFormat"] == "JWT"
    assert schemes["jwtCookieAuth"] == {**schemes["jwtCookieAuth"], "in": "cookie"}
    assert schemes["cookieAuth"] == {**schemes["cookieAuth"], "in": "cookie"}


def test_every_secured_operation_documents_its_credential_and_limit_errors(schema):
    undocumented = [
        f"{method.upper()} {path} {status}"
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
        for status in ("401", "403", "429")
        if "application/json" not in operation["responses"].get(status, {}).get("content", {})
    ]

    assert undocumented == []


def test_status_documents_its_503_and_refusals(schema):
    responses = schema["paths"]["/api/v1/status"]["get"]["responses"]

    assert {"200", "401", "403", "503"} <= set(responses)


def test_the_schema_builds_without_a_warning_and_validates():
    from io import StringIO

    from django.core.management import call_command

    # --fail-on-warn exits non-zero on any drf-spectacular warning (an unresolvable field,
    # two components sharing a name); --validate checks the result against the OpenAPI spec.
    call_command("spectacular", "--fail-on-warn", "--validate", stdout=StringIO())


# SPEC §11: the schema makes working clients.
# Form bodies by protocol: RFC 6749 §4.4 (token), RFC 7662 §2.1 (introspect), RFC 7009 §2.1.
FORM_PROTOCOL_OPERATIONS = {
    ("/oauth2/token", "post"),
    ("/oauth2/introspect", "post"),
    ("/oauth2/revoke", "post"),
}


def test_json_operations_declare_json_request_bodies_only(schema):
    declared = {
        f"{method.upper()} {path}": sorted(operation["requestBody"]["content"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation and (path, method) not in FORM_PROTOCOL_OPERATIONS
    }

    assert declared
    assert {media for types in declared.values() for media in types} == {"application/json"}


def test_login_and_register_still_accept_the_pages_form_posts(client):
    response = client.post("/api/v1/auth/login", {"email": "nobody@example.com", "password": "x"})

    assert response.status_code in (400, 401)
    assert response["Content-Type"].startswith("text/html")


def test_no_operation_describes_itself_with_an_inherited_docstring(schema):
    from drf_spectacular.generators import SchemaGenerator

    generator = SchemaGenerator()
    generator._initialise_endpoints()
    leaked = []
    for path, _regex, method, callback in generator.endpoints:
        inherited = {
            " ".join(base.__doc__.split())
            for base in callback.cls.__mro__[1:]
            if base.__doc__ and base.__module__.split(".")[0] not in ("rest_framework", "django")
        }
        operation = schema["paths"].get(path, {}).get(method.lower(), {})
        description = " ".join(operation.get("description", "").split())
        if description and description in inherited:
            leaked.append(f"{method} {path}")

    assert leaked == []


def test_shared_authenticators_notes_are_in_no_description(schema):
    descriptions = [
        operation.get("description", "")
        for item in schema["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
    ]

    assert not [text for text in descriptions if "authentication class per process" in text]


def test_every_operation_with_a_body_documents_415(schema):
    undocumented = [
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation and "415" not in operation["responses"]
    ]

    assert undocumented == []


def _is_nullable(prop: dict) -> bool:
    return bool(prop.get("nullable")) or any(
        option.get("nullable") for option in prop.get("oneOf", ()) + prop.get("allOf", ())
    )


def _serializers():
    import importlib
    import inspect

    from django.apps import apps
    from rest_framework import serializers

    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.serializers")
        except ModuleNotFoundError:
            continue
        for name, cls in inspect.getmembers(module, inspect.isclass):
            model = getattr(getattr(cls, "Meta", None), "model", None)
            if model and issubclass(cls, serializers.ModelSerializer):
                yield name.removesuffix("Serializer"), cls


def test_a_model_field_that_may_be_null_is_nullable_in_the_schema(schema):
    components = schema["components"]["schemas"]
    wrong = []
    for component, serializer_class in _serializers():
        model = serializer_class.Meta.model
        for name, field in serializer_class().fields.items():
            prop = components.get(component, {}).get("properties", {}).get(name)
            source = field.source.split(".")[0]
            if prop is None or source == "*":
                continue
            model_field = next((f for f in model._meta.fields if f.name == source), None)
            if model_field is not None and model_field.null and not _is_nullable(prop):
                wrong.append(f"{component}.{name}")

    assert wrong == []
