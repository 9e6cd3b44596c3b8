"""The key page saves endpoint grants in normal form too (SPEC §9), as the API does."""

from apikeys.models import ApiKey

FORM = {"name": "Billing service", "key_type": "development", "scopes": ["agents:read"]}


def test_a_grant_entered_on_the_page_is_stored_in_normal_form(logged_in):
    response = logged_in.post("/keys/new", {**FORM, "endpoints": "GET /api//v1/./orders/x/.."})

    assert response.status_code < 400  # the reveal page, or a redirect to it
    assert ApiKey.objects.get().endpoints == [{"path": "/api/v1/orders/", "methods": ["GET"]}]


def test_a_grant_escaping_with_an_encoded_slash_is_refused_on_the_page(logged_in):
    response = logged_in.post("/keys/new", {**FORM, "endpoints": "GET /api/v1/orders/..%2Fadmin"})

    assert response.status_code == 400
    assert "encoded slash" in response.content.decode()
    assert not ApiKey.objects.exists()
