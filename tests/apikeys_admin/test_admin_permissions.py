"""The admin cannot act as someone else by accident (SPEC §9): staff users holding exact
permissions, through the admin's real pages. A key owned by another user needs a superuser or
``add_apikey_for_others``; an ``admin``-type key for another owner a superuser; rotating needs
``change`` and, for another owner's key, the same as adding one.
"""

import pytest
from django.contrib.auth.models import Permission

from apikeys.models import ApiKey, KeyType
from tests.apikeys_admin.conftest import ADMIN, info_status, make_key, shown_keys
from tests.apikeys_admin.test_admin import action, add_form
from tests.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db


def staff_with(client, *codenames):
    """A staff user holding exactly ``codenames`` (of ``apikeys``), logged in on ``client``."""
    user = StaffUserFactory()
    user.user_permissions.set(
        [Permission.objects.get(content_type__app_label="apikeys", codename=c) for c in codenames]
    )
    client.force_login(user)
    return user


def owner_refusal(response) -> list[str]:
    return response.context["adminform"].form.errors.get("user", [])


# --- adding ---------------------------------------------------------------------------------


def test_staff_with_add_creates_a_key_for_themselves(client):
    staff = staff_with(client, "add_apikey", "view_apikey")

    response = client.post(f"{ADMIN}add/", add_form(staff))

    [raw_key] = set(shown_keys(response))
    assert ApiKey.objects.get().user == staff
    assert info_status(raw_key) == 200


def test_the_add_form_proposes_the_staff_user_as_the_owner(client):
    staff = staff_with(client, "add_apikey", "view_apikey")

    form = client.get(f"{ADMIN}add/").context["adminform"].form

    assert form.initial["user"] == staff.pk


def test_an_owner_named_in_the_add_url_is_still_proposed(client):
    staff_with(client, "add_apikey", "view_apikey", "add_apikey_for_others")
    other = UserFactory()

    form = client.get(f"{ADMIN}add/?user={other.pk}").context["adminform"].form

    assert str(form.initial["user"]) == str(other.pk)


def test_staff_with_only_add_cannot_create_a_key_for_another_user(client):
    staff_with(client, "add_apikey", "view_apikey")
    other = UserFactory()

    response = client.post(f"{ADMIN}add/", add_form(other))

    assert response.status_code == 200
    assert "Can add API keys owned by other users" in owner_refusal(response)[0]
    assert shown_keys(response) == []
    assert not ApiKey.objects.exists()


def test_staff_with_only_add_cannot_create_an_admin_key_for_a_superuser(client):
    staff_with(client, "add_apikey", "view_apikey")
    superuser = UserFactory(is_staff=True, is_superuser=True)

    response = client.post(
        f"{ADMIN}add/", add_form(superuser, key_type=KeyType.ADMIN, scopes="admin")
    )

    assert owner_refusal(response) == [
        "Only a superuser may issue an admin key owned by another user."
    ]
    assert shown_keys(response) == []
    assert not ApiKey.objects.exists()


def test_the_dedicated_permission_lets_staff_create_a_key_for_another_user(client):
    staff = staff_with(client, "add_apikey", "view_apikey", "add_apikey_for_others")
    other = UserFactory()

    response = client.post(f"{ADMIN}add/", add_form(other, scopes="read:all"))

    [raw_key] = set(shown_keys(response))
    api_key = ApiKey.objects.get()
    assert (api_key.user, api_key.created_by, api_key.scopes) == (other, staff, ["read:all"])
    assert info_status(raw_key) == 200


def test_the_dedicated_permission_does_not_reach_admin_keys_for_another_owner(client):
    staff_with(client, "add_apikey", "view_apikey", "add_apikey_for_others")
    other_staff = StaffUserFactory()

    response = client.post(
        f"{ADMIN}add/", add_form(other_staff, key_type=KeyType.ADMIN, scopes="admin")
    )

    assert owner_refusal(response) == [
        "Only a superuser may issue an admin key owned by another user."
    ]
    assert not ApiKey.objects.exists()


def test_a_superuser_creates_an_admin_key_for_another_staff_owner(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    other_staff = StaffUserFactory()

    response = client.post(
        f"{ADMIN}add/", add_form(other_staff, key_type=KeyType.ADMIN, scopes="admin")
    )

    [raw_key] = set(shown_keys(response))
    assert ApiKey.objects.get().key_type == KeyType.ADMIN
    assert info_status(raw_key) == 200


# --- rotating -------------------------------------------------------------------------------


def rotate(client, *keys):
    return action(client, "rotate_keys", keys, apply="yes", grace_period_seconds="0")


def test_rotate_action_is_not_offered_with_add_but_without_change(client):
    staff = staff_with(client, "add_apikey", "view_apikey")
    api_key, raw_key = make_key(staff)

    response = rotate(client, api_key)

    assert shown_keys(response) == []
    assert ApiKey.objects.count() == 1
    assert info_status(raw_key) == 200
    assert b'value="rotate_keys"' not in client.get(ADMIN).content


def test_staff_with_change_rotates_their_own_key(client):
    staff = staff_with(client, "change_apikey", "view_apikey")
    api_key, raw_key = make_key(staff)

    response = rotate(client, api_key)

    [new_key] = set(shown_keys(response))
    assert (info_status(new_key), info_status(raw_key)) == (200, 401)


def test_staff_with_change_cannot_rotate_another_users_key(client):
    staff_with(client, "change_apikey", "view_apikey")
    api_key, raw_key = make_key(UserFactory())

    response = rotate(client, api_key)

    assert response.status_code == 302
    shown = [str(m) for m in client.get(response.url).context["messages"]]
    assert shown[0].startswith(f"{api_key.key_prefix}: not rotated: You may issue keys only")
    assert ApiKey.objects.count() == 1
    assert info_status(raw_key) == 200


def test_staff_with_change_and_the_permission_rotates_another_users_key(client):
    staff_with(client, "change_apikey", "view_apikey", "add_apikey_for_others")
    api_key, raw_key = make_key(UserFactory())

    response = rotate(client, api_key)

    [new_key] = set(shown_keys(response))
    assert ApiKey.objects.get(rotated_from=api_key).user == api_key.user
    assert (info_status(new_key), info_status(raw_key)) == (200, 401)


def test_only_a_superuser_rotates_another_owners_admin_key(client):
    staff_with(client, "change_apikey", "view_apikey", "add_apikey_for_others")
    superuser = UserFactory(is_staff=True, is_superuser=True)
    api_key, raw_key = make_key(superuser, key_type=KeyType.ADMIN, scopes=["admin"])

    response = rotate(client, api_key)

    shown = [str(m) for m in client.get(response.url).context["messages"]]
    assert shown == [
        f"{api_key.key_prefix}: not rotated: "
        "Only a superuser may issue an admin key owned by another user."
    ]
    assert ApiKey.objects.count() == 1
    assert info_status(raw_key) == 200
