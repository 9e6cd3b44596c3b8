"""SPEC §9 "Logout ends the login": what logout, logout-all, a password change and a
deactivation refuse afterwards, through the public API, and what they leave alone."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.authentication import ACCESS_COOKIE
from accounts.models import AccessTokenRevocation, RefreshTokenFamily, User
from apikeys.models import ApiKey
from apikeys.services import api_key_create
from audit.models import AuditEvent
from tests.accounts.conftest import login_json, post_form
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

VERIFY = "/api/v1/auth/verify"
LOGOUT = "/api/v1/auth/logout"
LOGOUT_ALL = "/api/v1/auth/logout-all"
REFRESH = "/api/v1/auth/refresh"
NEW_PASSWORD = "a brand new passphrase 42"
T0 = timezone.now().replace(microsecond=0) + timedelta(days=1)


def bearer(access_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client


def verify_status(access_token: str) -> int:
    return bearer(access_token).get(VERIFY).status_code


def assert_refused(access_token: str) -> None:
    response = bearer(access_token).get(VERIFY)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def refresh_status(refresh_token: str) -> int:
    return APIClient().post(REFRESH, {"refresh_token": refresh_token}, format="json").status_code


def login(user, password: str = DEFAULT_PASSWORD) -> dict:
    response = login_json(APIClient(), user, password)
    assert response.status_code == 200
    return response.json()


def form_login(user) -> Client:
    """A browser: session cookie and ``access_token`` cookie, CSRF enforced."""
    client = Client(enforce_csrf_checks=True)
    client.get("/login")
    response = post_form(
        client,
        "/login",
        {
            "email": user.email,
            "password": DEFAULT_PASSWORD,
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 303
    return client


def replay_session(browser: Client) -> Client:
    """Another client presenting only the browser's session cookie, as a thief would."""
    thief = Client()
    thief.cookies["sessionid"] = browser.cookies["sessionid"].value
    return thief


def browser_post(browser: Client, path: str, data: dict | None = None):
    browser.get("/")  # the page, and with it a CSRF token for its form
    return post_form(
        browser, path, {**(data or {}), "csrfmiddlewaretoken": browser.cookies["csrftoken"].value}
    )


@pytest.fixture
def user():
    return UserFactory()


# --- logout ---------------------------------------------------------------------------------


def test_json_logout_refuses_the_access_token_it_was_called_with(user):
    tokens = login(user)
    assert verify_status(tokens["access_token"]) == 200

    response = bearer(tokens["access_token"]).post(LOGOUT, {}, format="json")

    assert response.status_code == 204
    assert_refused(tokens["access_token"])
    revocation = AccessTokenRevocation.objects.get(claim="jti")
    token = AccessToken(tokens["access_token"])
    assert revocation.value == token["jti"]
    assert revocation.expires_at.timestamp() == token["exp"]


def test_json_logout_refuses_the_refresh_token_given(user):
    tokens = login(user)

    response = bearer(tokens["access_token"]).post(
        LOGOUT, {"refresh_token": tokens["refresh_token"]}, format="json"
    )

    assert response.status_code == 204
    assert refresh_status(tokens["refresh_token"]) == 401
    assert_refused(tokens["access_token"])
    assert RefreshTokenFamily.objects.get().revoked_reason == "logout"


def test_json_logout_with_the_access_token_alone_also_ends_its_refresh_token(user):
    tokens = login(user)

    bearer(tokens["access_token"]).post(LOGOUT, {}, format="json")

    assert refresh_status(tokens["refresh_token"]) == 401


def test_json_logout_with_the_refresh_token_alone_refuses_its_access_tokens(user):
    tokens = login(user)
    assert verify_status(tokens["access_token"]) == 200  # cached, warm

    APIClient().post(LOGOUT, {"refresh_token": tokens["refresh_token"]}, format="json")

    assert_refused(tokens["access_token"])


def test_another_login_of_the_same_user_still_works_after_logout(user):
    ended, other = login(user), login(user)

    bearer(ended["access_token"]).post(
        LOGOUT, {"refresh_token": ended["refresh_token"]}, format="json"
    )

    assert verify_status(other["access_token"]) == 200
    assert refresh_status(other["refresh_token"]) == 200


def test_form_logout_refuses_the_session_and_the_cookie_access_token(user):
    browser = form_login(user)
    access_token = browser.cookies[ACCESS_COOKIE].value
    thief = replay_session(browser)
    assert thief.get(VERIFY).status_code == 200

    response = browser_post(browser, LOGOUT)

    assert response.status_code == 303
    assert response["Location"] == "/login"
    assert thief.get(VERIFY).status_code == 401
    assert_refused(access_token)


def test_logout_with_an_api_key_as_bearer_leaves_the_key_alone(user):
    _, raw = api_key_create(user=user, created_by=user, name="k")

    response = bearer(raw).post(LOGOUT, {}, format="json")

    assert response.status_code == 204
    assert verify_status(raw) == 200
    assert not AccessTokenRevocation.objects.exists()


@pytest.mark.parametrize("token", ["a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.bad"])
def test_logout_with_a_tampered_bearer_token_gets_401_invalid_token(token):
    response = bearer(token).post(LOGOUT, {}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_logout_with_an_expired_access_token_gets_204(user):
    with time_machine.travel(T0 - timedelta(days=2), tick=False):
        tokens = login(user)

    response = bearer(tokens["access_token"]).post(LOGOUT, {}, format="json")

    assert response.status_code == 204


def test_a_refresh_token_reused_refuses_every_access_token_of_its_login(user):
    tokens = login(user)
    rotated = APIClient().post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json")
    new_access = rotated.json()["access_token"]
    assert verify_status(new_access) == 200

    reused = APIClient().post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json")

    assert reused.json()["code"] == "token_reused"
    assert_refused(new_access)
    assert_refused(tokens["access_token"])
    revocation = AccessTokenRevocation.objects.get(claim="family")
    assert revocation.value == str(RefreshTokenFamily.objects.get().pk)


# --- logout-all -----------------------------------------------------------------------------


def test_logout_all_refuses_every_session_refresh_and_access_token_of_the_user(user):
    first, second = login(user), login(user)
    browser = form_login(user)
    thief = replay_session(browser)
    cookie_token = browser.cookies[ACCESS_COOKIE].value

    response = bearer(first["access_token"]).post(LOGOUT_ALL, {}, format="json")

    assert response.status_code == 200
    assert response.json() == {"keys_revoked": 0}
    for tokens in (first, second):
        assert_refused(tokens["access_token"])
        assert refresh_status(tokens["refresh_token"]) == 401
    assert_refused(cookie_token)
    assert thief.get(VERIFY).status_code == 401
    assert set(RefreshTokenFamily.objects.values_list("revoked_reason", flat=True)) == {
        "logout_all"
    }
    assert AuditEvent.objects.get(event_type="logout.all").actor == user


def test_a_login_after_logout_all_works(user):
    old = login(user)
    bearer(old["access_token"]).post(LOGOUT_ALL, {}, format="json")

    new = login(user)

    assert verify_status(new["access_token"]) == 200
    assert refresh_status(new["refresh_token"]) == 200


def test_logout_all_leaves_the_keys_working_unless_asked(user):
    _, raw = api_key_create(user=user, created_by=user, name="k")
    tokens = login(user)

    bearer(tokens["access_token"]).post(LOGOUT_ALL, {}, format="json")

    assert verify_status(raw) == 200


def test_logout_all_with_keys_revokes_every_key_the_user_owns(user):
    keys = [api_key_create(user=user, created_by=user, name=f"k{n}") for n in range(2)]
    _, other_raw = api_key_create(user=UserFactory(), created_by=None, name="not theirs")
    tokens = login(user)
    assert verify_status(keys[0][1]) == 200  # cached, warm

    response = bearer(tokens["access_token"]).post(LOGOUT_ALL, {"keys": True}, format="json")

    assert response.json() == {"keys_revoked": 2}
    for _, raw in keys:
        response = bearer(raw).get(VERIFY)
        assert response.status_code == 401
        assert response.json()["code"] == "api_key_disabled"
    assert not ApiKey.objects.filter(user=user, is_active=True).exists()
    assert verify_status(other_raw) == 200
    assert AuditEvent.objects.filter(event_type="api_key.revoked").count() == 2


def test_logout_all_by_an_api_key_gets_403(user):
    _, raw = api_key_create(user=user, created_by=user, name="k")

    response = bearer(raw).post(LOGOUT_ALL, {"keys": True}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"
    assert ApiKey.objects.get().is_active


def test_logout_all_without_a_credential_gets_401():
    response = APIClient().post(LOGOUT_ALL, {}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_required"


def test_the_dashboard_offers_sign_out_everywhere(user):
    browser = form_login(user)

    page = browser.get("/").content.decode()

    assert 'action="/api/v1/auth/logout-all"' in page
    assert "Sign out everywhere" in page
    assert "csrfmiddlewaretoken" in page


def test_sign_out_everywhere_from_the_dashboard_ends_every_login_and_redirects(user):
    tokens = login(user)
    browser = form_login(user)
    thief = replay_session(browser)

    response = browser_post(browser, LOGOUT_ALL)

    assert response.status_code == 303
    assert response["Location"] == "/login"
    assert response.cookies[ACCESS_COOKIE].value == ""
    assert thief.get(VERIFY).status_code == 401
    assert_refused(tokens["access_token"])


def test_sign_out_everywhere_without_the_csrf_token_is_refused(user):
    browser = form_login(user)
    tokens = login(user)

    response = post_form(browser, LOGOUT_ALL, {})

    assert response.status_code == 403
    assert verify_status(tokens["access_token"]) == 200


# --- password change and deactivation -------------------------------------------------------


def test_set_password_and_save_refuses_older_tokens_and_accepts_newer(user):
    with time_machine.travel(T0, tick=False):
        old = login(user)
        assert verify_status(old["access_token"]) == 200
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        user.set_password(NEW_PASSWORD)
        user.save()
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        new = login(user, NEW_PASSWORD)

        assert_refused(old["access_token"])
        assert refresh_status(old["refresh_token"]) == 401
        assert verify_status(new["access_token"]) == 200
        assert refresh_status(new["refresh_token"]) == 200


def test_a_token_minted_elsewhere_is_judged_by_when_it_was_issued(user):
    with time_machine.travel(T0, tick=False):
        before = str(AccessToken.for_user(user))
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        user.set_password(NEW_PASSWORD)
        user.save()
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        after = str(AccessToken.for_user(user))

        assert_refused(before)
        assert verify_status(after) == 200


def test_a_login_in_the_same_instant_as_the_password_change_works(user):
    user.set_password(NEW_PASSWORD)
    user.save()

    tokens = login(user, NEW_PASSWORD)

    assert verify_status(tokens["access_token"]) == 200
    assert refresh_status(tokens["refresh_token"]) == 200


def test_changepassword_ends_the_users_logins(user, monkeypatch):
    tokens = login(user)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)

    call_command("changepassword", user.email, stdout=StringIO())

    assert_refused(tokens["access_token"])
    assert refresh_status(tokens["refresh_token"]) == 401


def test_a_password_change_in_the_admin_ends_the_users_logins(user):
    tokens = login(user)
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = admin.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302, response.content[:2000]
    assert_refused(tokens["access_token"])
    assert refresh_status(tokens["refresh_token"]) == 401


def test_a_hashers_upgrade_of_the_same_password_ends_nothing(user):
    tokens = login(user)
    user.refresh_from_db()

    user.set_password(DEFAULT_PASSWORD)
    user._password = None  # what ``check_password`` does when it re-hashes
    user.save(update_fields=["password"])

    assert verify_status(tokens["access_token"]) == 200
    assert refresh_status(tokens["refresh_token"]) == 200


def test_deactivation_refuses_old_tokens_and_sessions_even_once_reactivated(user):
    with time_machine.travel(T0, tick=False):
        old = login(user)
        thief = replay_session(form_login(user))
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        user.is_active = False
        user.save()
        user.is_active = True
        user.save()
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        new = login(user)

        assert_refused(old["access_token"])
        assert refresh_status(old["refresh_token"]) == 401
        assert thief.get(VERIFY).status_code == 401
        assert verify_status(new["access_token"]) == 200


def test_a_stale_copy_saved_after_logout_all_does_not_revive_the_ended_logins(user):
    stale = User.objects.get(pk=user.pk)
    tokens = login(user)
    bearer(tokens["access_token"]).post(LOGOUT_ALL, {}, format="json")

    stale.first_name = "Grace"
    stale.save()

    assert_refused(tokens["access_token"])
    assert User.objects.get(pk=user.pk).credentials_valid_after is not None


def test_an_ordinary_save_ends_nothing(user):
    tokens = login(user)

    user.first_name = "Grace"
    user.save()

    assert verify_status(tokens["access_token"]) == 200
    assert refresh_status(tokens["refresh_token"]) == 200


# --- cost and housekeeping ------------------------------------------------------------------


def test_a_warm_jwt_request_of_a_user_with_revocations_makes_no_query(
    user, django_assert_num_queries, django_capture_on_commit_callbacks
):
    ended, live = login(user), login(user)
    with django_capture_on_commit_callbacks(execute=True):  # the logout commits and settles
        bearer(ended["access_token"]).post(LOGOUT, {}, format="json")
    client = bearer(live["access_token"])
    client.get(VERIFY)

    with django_assert_num_queries(0):
        assert client.get(VERIFY).status_code == 200


def test_pruneexpired_deletes_revocations_whose_tokens_have_expired(user):
    with time_machine.travel(T0 - timedelta(days=2), tick=False):
        old = login(user)
        bearer(old["access_token"]).post(LOGOUT, {}, format="json")
    live = login(user)
    bearer(live["access_token"]).post(LOGOUT, {}, format="json")
    assert AccessTokenRevocation.objects.count() == 4  # a jti and a family, twice

    out = StringIO()
    call_command("pruneexpired", stdout=out)

    assert AccessTokenRevocation.objects.count() == 2
    assert "2 access-token revocations" in out.getvalue()
    assert_refused(live["access_token"])


def test_form_logout_with_a_cookie_token_that_no_longer_decodes_still_logs_out(user):
    browser = form_login(user)
    thief = replay_session(browser)
    browser.cookies[ACCESS_COOKIE] = "eyJhbGciOiJIUzI1NiJ9.e30.bad"

    response = browser_post(browser, LOGOUT)

    assert response.status_code == 303
    assert thief.get(VERIFY).status_code == 401


def test_the_admin_shows_when_a_users_logins_last_ended_read_only(user):
    bearer(login(user)["access_token"]).post(LOGOUT_ALL, {}, format="json")
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = admin.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()

    assert "Credentials valid after" in page
    assert 'name="credentials_valid_after"' not in page


def test_changing_ones_own_password_in_the_admin_keeps_that_admin_session():
    root = UserFactory(is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(root)

    admin.post(
        f"/admin/accounts/user/{root.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert admin.get("/admin/").status_code == 200
    assert User.objects.get(pk=root.pk).credentials_valid_after is not None
