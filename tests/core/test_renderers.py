"""Keyward's JSON renderer writes exactly what DRF's writes, and a ``RenderedOnce`` body once."""

import datetime
import uuid

import pytest
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer

from core import errors
from core.renderers import JSONRenderer, RenderedOnce

BODY = {
    "valid": True,
    "user": {"id": 1, "email": "zoë@example.com"},
    "tenant_id": uuid.UUID("9ca59b8e-2e9e-4281-a2ba-e21d8425b8e1"),
    "expires_at": datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC),
    "scopes": ["agents:read"],
    "note": "line\u2028separator",
}


@pytest.mark.parametrize(
    "media_type, context",
    [
        ("application/json", {}),
        ("application/json; indent=4", {}),
        ("application/json; indent=0", {}),
        ("application/json", {"indent": 2}),
        (None, None),
    ],
)
@pytest.mark.parametrize("body", [BODY, RenderedOnce(BODY)], ids=["dict", "rendered-once"])
def test_the_bytes_are_drfs(media_type, context, body):
    expected = DRFJSONRenderer().render(dict(body), media_type, context)

    assert JSONRenderer().render(body, media_type, context) == expected
    assert JSONRenderer().render(body, media_type, context) == expected  # and again, remembered


def test_a_rendered_once_body_is_not_rendered_again(monkeypatch):
    body = RenderedOnce(BODY)
    first = JSONRenderer().render(body, "application/json", {})
    monkeypatch.setattr(DRFJSONRenderer, "render", lambda *args: pytest.fail("rendered again"))

    assert JSONRenderer().render(body, "application/json", {}) is first


def test_a_pretty_request_of_a_rendered_once_body_is_rendered_as_asked():
    body = RenderedOnce(BODY)
    JSONRenderer().render(body, "application/json", {})

    pretty = JSONRenderer().render(body, "application/json; indent=4", {})

    assert pretty == DRFJSONRenderer().render(BODY, "application/json; indent=4", {})
    assert b"\n    " in pretty


def test_none_is_an_empty_body():
    assert JSONRenderer().render(None, "application/json", {}) == b""


def test_the_api_renders_with_it(api_client):
    response = api_client.get("/api/v1/health")

    assert isinstance(response.accepted_renderer, JSONRenderer)
    assert response.content == b'{"status":"ok"}'


def test_a_refused_credentials_body_is_built_once_and_reads_as_any_error_body():
    body = errors.refused_credential_body("Invalid API key.", "invalid_api_key")

    assert body is errors.refused_credential_body("Invalid API key.", "invalid_api_key")
    assert JSONRenderer().render(body) == DRFJSONRenderer().render(
        errors.error_body("Invalid API key.", "invalid_api_key")
    )


def test_refused_credentials_bodies_kept_are_bounded(monkeypatch):
    monkeypatch.setattr(errors, "_REFUSED_CREDENTIAL_BODIES", {})

    bodies = [errors.refused_credential_body(f"text {n}", "x") for n in range(100)]

    assert len(errors._REFUSED_CREDENTIAL_BODIES) == errors.MAX_REFUSED_CREDENTIAL_BODIES
    assert bodies[-1] == {"detail": "text 99", "code": "x"}  # still answered, built each time
