"""The key admin as people read it (issue 26, SPEC §13): a status that never calls an expired
key active, full access as a warning, the pages' one-hour grace by default, rotate and revoke
buttons on the key's page, and grants, limits and metadata as lines rather than JSON.
"""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from apikeys.models import ApiKey
from tests.apikeys_admin.conftest import ADMIN, info_status, make_key, shown_keys
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


def cell(response, api_key, column: str) -> str:
    """The text of one list cell, found by the row's prefix and the column's class."""
    html = response.content.decode()
    row = html[html.index(f'<code class="kw-nowrap">{api_key.key_prefix}</code>') :]
    row = row[: row.index("</tr>")]
    start = row.index(f'class="field-{column}"')
    return row[row.index(">", start) + 1 : row.index("</td>", start)]


# --- the list -------------------------------------------------------------------------------


def test_list_has_the_short_columns_and_no_is_active_column(admin_client, member):
    make_key(member)

    html = admin_client.get(ADMIN).content.decode()

    for column in (
        "prefix",
        "name",
        "owner_email",
        "access",
        "status",
        "expires",
        "last_used",
        "request_count",
    ):
        assert f"column-{column}" in html
    assert "column-is_active" not in html


def test_an_expired_key_reads_expired_never_active(admin_client, member):
    api_key, _ = make_key(member, expires_at=timezone.now() + timedelta(days=1))

    with time_machine.travel(timezone.now() + timedelta(days=2)):
        response = admin_client.get(ADMIN)

    assert ApiKey.objects.get().is_active
    assert "Expired" in cell(response, api_key, "status")
    assert "Active" not in cell(response, api_key, "status")


@pytest.mark.parametrize(("state", "label"), [("revoked", "Revoked"), ("active", "Active")])
def test_status_says_what_a_caller_meets(admin_client, member, state, label):
    api_key, _ = make_key(member, is_active=state == "active")

    assert label in cell(admin_client.get(ADMIN), api_key, "status")


def test_a_rotated_key_reads_rotated(admin_client, member):
    api_key, _ = make_key(member)
    admin_client.post(
        ADMIN,
        {
            "action": "rotate_keys",
            "_selected_action": [str(api_key.pk)],
            "apply": "yes",
            "grace_period_seconds": "0",
        },
    )

    assert "Rotated" in cell(admin_client.get(ADMIN), api_key, "status")


def test_status_filter_lists_each_status_apart(admin_client, member):
    make_key(member, name="active")
    make_key(member, name="revoked", is_active=False)
    expired, _ = make_key(member, name="expired", expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    rotated, _ = make_key(member, name="rotated")
    admin_client.post(
        ADMIN,
        {
            "action": "rotate_keys",
            "_selected_action": [str(rotated.pk)],
            "apply": "yes",
            "grace_period_seconds": "0",
        },
    )

    def names(status):
        response = admin_client.get(ADMIN, {"status": status})
        return {key.name for key in response.context["cl"].result_list}

    assert names("active") == {"active", "rotated"}  # the successor carries the name on
    assert names("revoked") == {"revoked"}
    assert names("expired") == {"expired"}
    assert names("rotated") == {"rotated"}


def test_full_access_is_a_warning_not_a_green_tick(admin_client, member):
    api_key, _ = make_key(member, scopes=[])

    access = cell(admin_client.get(ADMIN), api_key, "access")

    assert "full access" in access and "kw-warning" in access
    assert "icon-yes" not in access


def test_a_narrowed_key_shows_its_scopes_and_grants(admin_client, member):
    api_key, _ = make_key(
        member, scopes=["agents:read"], endpoints=[{"path": "/api/v1/orders", "methods": ["GET"]}]
    )

    access = cell(admin_client.get(ADMIN), api_key, "access")

    assert "agents:read" in access and "1 grant" in access and "full access" not in access


def test_times_are_relative_with_the_exact_utc_time_on_hover(admin_client, member):
    expiry = timezone.now() + timedelta(days=3, hours=1)
    api_key, _ = make_key(member, expires_at=expiry)

    expires = cell(admin_client.get(ADMIN), api_key, "expires")

    assert "in 3\xa0days" in expires
    assert f'title="{expiry.strftime("%Y-%m-%d %H:%M:%S")} UTC"' in expires


def test_the_prefix_is_shown_whole_and_as_typed(admin_client, member):
    api_key, _ = make_key(member)

    html = admin_client.get(ADMIN).content.decode()

    assert f'<code class="kw-nowrap">{api_key.key_prefix}</code>' in html
    assert api_key.key_prefix[0].upper() + api_key.key_prefix[1:] not in html


# --- rotating -------------------------------------------------------------------------------


def test_rotate_action_proposes_the_pages_one_hour_grace(admin_client, member):
    api_key, _ = make_key(member)

    response = admin_client.post(
        ADMIN, {"action": "rotate_keys", "_selected_action": [str(api_key.pk)]}
    )

    assert response.context["form"]["grace_period_seconds"].value() == 3600
    assert 'value="3600"' in response.content.decode()
    assert not ApiKey.objects.filter(rotated_from=api_key).exists()


# --- the change page's buttons --------------------------------------------------------------


def test_change_page_of_an_active_key_has_rotate_and_revoke_buttons(admin_client, member):
    api_key, _ = make_key(member)

    html = admin_client.get(f"{ADMIN}{api_key.pk}/change/").content.decode()

    assert f'href="{ADMIN}{api_key.pk}/rotate/"' in html
    assert f'href="{ADMIN}{api_key.pk}/revoke/"' in html


def test_change_page_of_a_revoked_key_has_an_activate_button(admin_client, member):
    api_key, _ = make_key(member, is_active=False)

    html = admin_client.get(f"{ADMIN}{api_key.pk}/change/").content.decode()

    assert f'href="{ADMIN}{api_key.pk}/activate/"' in html
    assert f'href="{ADMIN}{api_key.pk}/revoke/"' not in html


def test_revoke_button_asks_first_and_changes_nothing_on_get(admin_client, member):
    api_key, raw_key = make_key(member)

    response = admin_client.get(f"{ADMIN}{api_key.pk}/revoke/")

    assert response.status_code == 200
    assert "Revoke this key" in response.content.decode()
    assert info_status(raw_key) == 200


def test_revoke_button_revokes_and_returns_to_the_key(admin_client, member):
    api_key, raw_key = make_key(member)

    response = admin_client.post(f"{ADMIN}{api_key.pk}/revoke/")

    assert response.status_code == 302
    assert response["Location"] == f"{ADMIN}{api_key.pk}/change/"
    assert not ApiKey.objects.get(pk=api_key.pk).is_active
    assert info_status(raw_key) == 401


def test_activate_button_activates_a_revoked_key(admin_client, member):
    api_key, raw_key = make_key(member, is_active=False)

    admin_client.post(f"{ADMIN}{api_key.pk}/activate/")

    assert ApiKey.objects.get(pk=api_key.pk).is_active
    assert info_status(raw_key) == 200


def test_rotate_button_asks_for_the_grace_period_with_one_hour_proposed(admin_client, member):
    api_key, _ = make_key(member)

    response = admin_client.get(f"{ADMIN}{api_key.pk}/rotate/")

    assert response.status_code == 200
    assert response.context["form"]["grace_period_seconds"].value() == 3600
    assert not ApiKey.objects.filter(rotated_from=api_key).exists()


def test_rotate_button_rotates_and_shows_the_new_key_once(admin_client, member):
    api_key, raw_key = make_key(member)

    response = admin_client.post(
        f"{ADMIN}{api_key.pk}/rotate/", {"apply": "yes", "grace_period_seconds": "3600"}
    )

    [new_key] = set(shown_keys(response))
    assert "no-store" in response["Cache-Control"]
    assert ApiKey.objects.get(rotated_from=api_key).key_prefix == new_key[:12]
    assert info_status(raw_key) == 200  # still inside its hour
    assert info_status(new_key) == 200


def test_a_refused_rotation_returns_to_the_key_with_the_reason(admin_client, member):
    api_key, _ = make_key(member, is_active=False)

    response = admin_client.post(
        f"{ADMIN}{api_key.pk}/rotate/", {"apply": "yes", "grace_period_seconds": "60"}, follow=True
    )

    assert "not rotated" in response.content.decode()
    assert not ApiKey.objects.filter(rotated_from=api_key).exists()


@pytest.mark.parametrize("button", ["revoke", "activate", "rotate"])
def test_buttons_need_the_change_permission(client, member, button):
    api_key, _ = make_key(member)
    client.force_login(StaffUserFactory())

    response = client.post(f"{ADMIN}{api_key.pk}/{button}/", {"apply": "yes"})

    assert response.status_code == 403
    assert ApiKey.objects.get(pk=api_key.pk).is_active


def test_buttons_for_an_unknown_key_are_404(admin_client):
    response = admin_client.get(f"{ADMIN}00000000-0000-0000-0000-000000000000/revoke/")

    assert response.status_code == 404


# --- grants, limits and metadata as lines ---------------------------------------------------


def test_change_page_shows_grants_limits_and_metadata_as_lines(admin_client, member):
    api_key, _ = make_key(
        member,
        endpoints=[{"path": "/api/v1/orders", "methods": ["GET", "POST"]}],
        rate_limit={"per_minute": 30},
        metadata={"team": "ops", "tier": 2},
    )

    html = admin_client.get(f"{ADMIN}{api_key.pk}/change/").content.decode()

    assert "GET POST /api/v1/orders" in html
    assert "per_minute: 30" in html
    assert "team: ops\ntier: 2" in html
    assert "{&quot;" not in html  # no JSON object anywhere in the form


def test_lines_are_saved_as_the_apis_json(admin_client, member):
    from tests.apikeys_admin.test_admin import change_form

    api_key, _ = make_key(
        member, endpoints=[{"path": "/api/v1/orders", "methods": ["GET", "POST"]}]
    )

    response = admin_client.post(
        f"{ADMIN}{api_key.pk}/change/",
        change_form(
            api_key,
            endpoints="GET /api/v1/orders",
            rate_limit="per_minute: 30\nper_hour: 600",
            metadata='team: ops\ntier: 2\nlabel: "2"',
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    api_key.refresh_from_db()
    assert api_key.endpoints == [{"path": "/api/v1/orders", "methods": ["GET"]}]
    assert api_key.rate_limit == {"per_minute": 30, "per_hour": 600}
    assert api_key.metadata == {"team": "ops", "tier": 2, "label": "2"}


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("rate_limit", "per_minute: lots"),
        ("metadata", "no colon here"),
        ("endpoints", "GET orders"),
    ],
)
def test_malformed_lines_are_refused_beside_the_field(admin_client, member, field, text):
    from tests.apikeys_admin.test_admin import change_form

    api_key, _ = make_key(member, scopes=["agents:read"])

    response = admin_client.post(
        f"{ADMIN}{api_key.pk}/change/", change_form(api_key, **{field: text})
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors.get(field)


def test_change_page_of_an_expired_key_reads_expired(admin_client, member):
    api_key, _ = make_key(member, expires_at=timezone.now() + timedelta(days=1))

    with time_machine.travel(timezone.now() + timedelta(days=2)):
        html = admin_client.get(f"{ADMIN}{api_key.pk}/change/").content.decode()

    assert "kw-status-expired" in html and "kw-status-active" not in html
