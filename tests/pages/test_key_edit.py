"""SPEC §13: keys are editable on their page, through ``api_key_update`` and its rules."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from apikeys.models import ApiKey
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _form(api_key, **changes):
    """The edit form as the page fills it, with ``changes`` applied."""
    form = {
        "name": api_key.name,
        "description": api_key.description,
        "scopes": list(api_key.scopes),
        "endpoints": "",
        "expires_on": "",
        "allowed_ips": "",
        "rate_limit_per_minute": "",
        "rate_limit_per_hour": "",
        "metadata": "",
        "time_zone": "UTC",
    }
    form.update(changes)
    return form


def test_the_key_page_links_to_its_edit_page(logged_in, api_key):
    assert (
        f'href="/keys/{api_key.pk}/edit"' in logged_in.get(f"/keys/{api_key.pk}").content.decode()
    )


def test_the_edit_page_is_filled_with_the_keys_values(logged_in, make_key):
    api_key = make_key(
        scopes=["agents:read", "agents:write"],
        allowed_ips=["203.0.113.0/24"],
        metadata={"team": "billing"},
        rate_limit={"per_minute": 10},
    )

    content = logged_in.get(f"/keys/{api_key.pk}/edit").content.decode()

    assert 'value="Billing service"' in content
    assert "203.0.113.0/24" in content
    assert "&quot;team&quot;: &quot;billing&quot;" in content
    assert 'name="rate_limit_per_minute" value="10"' in content
    assert len(re.findall(r'name="scopes"[^>]*checked', content)) == 2


def test_saving_changes_name_description_ips_rate_limit_and_metadata(logged_in, api_key):
    response = logged_in.post(
        f"/keys/{api_key.pk}/edit",
        _form(
            api_key,
            name="Billing v2",
            description="Reads agents for invoices",
            allowed_ips="10.0.0.0/8\n192.0.2.1",
            rate_limit_per_minute="30",
            metadata='{"team": "billing"}',
        ),
    )

    assert response.status_code == 303
    assert response["Location"] == f"/keys/{api_key.pk}"
    api_key.refresh_from_db()
    assert api_key.name == "Billing v2"
    assert api_key.description == "Reads agents for invoices"
    assert api_key.allowed_ips[0] == "10.0.0.0/8"
    assert len(api_key.allowed_ips) == 2
    assert api_key.rate_limit == {"per_minute": 30}
    assert api_key.metadata == {"team": "billing"}


def test_scopes_narrow_by_unticking(logged_in, make_key):
    api_key = make_key(scopes=["agents:read", "agents:write"])

    logged_in.post(f"/keys/{api_key.pk}/edit", _form(api_key, scopes=["agents:read"]))

    api_key.refresh_from_db()
    assert api_key.scopes == ["agents:read"]


def test_a_scope_the_key_lacks_cannot_be_added(logged_in, api_key):
    response = logged_in.post(
        f"/keys/{api_key.pk}/edit", _form(api_key, scopes=["agents:read", "admin"])
    )

    assert response.status_code == 400
    assert 'id="id_scopes_error"' in response.content.decode()
    assert ApiKey.objects.get(pk=api_key.pk).scopes == ["agents:read"]


def test_unticking_every_scope_is_refused_as_it_would_mean_full_access(logged_in, api_key):
    response = logged_in.post(f"/keys/{api_key.pk}/edit", _form(api_key, scopes=[]))

    assert response.status_code == 400
    assert "full access" in response.content.decode()
    assert ApiKey.objects.get(pk=api_key.pk).scopes == ["agents:read"]


def test_grants_narrow_but_never_widen(logged_in, make_key):
    api_key = make_key(scopes=[], endpoints=[{"path": "/api/v1/agents", "methods": ["GET"]}])

    widened = logged_in.post(
        f"/keys/{api_key.pk}/edit", _form(api_key, endpoints="GET,POST /api/v1/agents")
    )

    assert widened.status_code == 400
    assert "can only be narrowed" in widened.content.decode()


@time_machine.travel("2026-12-07 12:00Z", tick=False)
def test_the_expiry_is_the_end_of_the_chosen_day_in_the_users_zone(logged_in, api_key):
    logged_in.post(
        f"/keys/{api_key.pk}/edit",
        _form(api_key, expires_on="2026-12-08", time_zone="Europe/Paris"),
    )

    api_key.refresh_from_db()
    assert api_key.expires_at == datetime(2026, 12, 8, 23, 0, tzinfo=UTC)
    page = logged_in.get(f"/keys/{api_key.pk}").content.decode()
    assert "end of 2026-12-08, Europe/Paris" in page
    assert 'title="2026-12-08 23:00:00 UTC">in 1 day</time>' in page


def test_an_expired_keys_expiry_is_not_offered_and_stays(logged_in, make_key):
    expired_at = timezone.now() - timedelta(days=1)
    api_key = make_key(scopes=["agents:read"])
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=expired_at)
    api_key.refresh_from_db()

    content = logged_in.get(f"/keys/{api_key.pk}/edit").content.decode()
    response = logged_in.post(
        f"/keys/{api_key.pk}/edit", _form(api_key, name="Renamed", expires_on="2099-01-01")
    )

    assert re.search(r'<input[^>]*name="expires_on"[^>]*disabled', content)
    assert response.status_code == 303
    api_key.refresh_from_db()
    assert api_key.name == "Renamed"
    assert api_key.expires_at == expired_at


def test_only_staff_may_raise_the_rate_limit_above_the_types_default(logged_in, api_key):
    response = logged_in.post(
        f"/keys/{api_key.pk}/edit", _form(api_key, rate_limit_per_minute="9999999")
    )

    assert response.status_code == 400
    assert 'id="id_rate_limit_per_minute_error"' in response.content.decode()


@pytest.mark.parametrize("metadata", ["{not json", "[1, 2]"])
def test_metadata_must_be_a_json_object(logged_in, api_key, metadata):
    response = logged_in.post(f"/keys/{api_key.pk}/edit", _form(api_key, metadata=metadata))

    assert response.status_code == 400
    assert 'id="id_metadata_error"' in response.content.decode()


def test_every_field_error_is_shown_at_once_in_a_summary(logged_in, api_key):
    response = logged_in.post(
        f"/keys/{api_key.pk}/edit",
        _form(api_key, name="", allowed_ips="not-an-ip", metadata="[]"),
    )

    content = response.content.decode()
    summary = content[
        content.index('id="error-summary"') : content.index(
            "</ul>", content.index('id="error-summary"')
        )
    ]
    assert 'href="#id_name"' in summary
    assert 'href="#id_allowed_ips"' in summary
    assert 'href="#id_metadata"' in summary
    assert "focus-error-summary.js" in content


def test_nothing_changed_says_so(logged_in, api_key):
    response = logged_in.post(f"/keys/{api_key.pk}/edit", _form(api_key), follow=True)

    assert "Nothing changed." in response.content.decode()


def test_another_users_key_cannot_be_edited(logged_in, make_key):
    other = make_key(owner=UserFactory(), scopes=["agents:read"])

    assert logged_in.get(f"/keys/{other.pk}/edit").status_code == 404
    assert logged_in.post(f"/keys/{other.pk}/edit", _form(other, name="x")).status_code == 404
