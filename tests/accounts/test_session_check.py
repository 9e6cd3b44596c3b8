"""A session is checked by Django's own ``get_user``, once per session and process.

Its backend, its hash against the user's password, a rotation when the hash was made under a
secret now among ``SECRET_KEY_FALLBACKS``, a flush when it matches nothing: Django decides, and
Keyward then serves the session from its memory of it (``metering.verified``) until the user's
record changes.
"""

import pytest
from django.contrib.auth import HASH_SESSION_KEY
from django.test import override_settings

from metering import verified
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/verify"
OLD_SECRET = "an-earlier-secret-key-of-sufficient-length-0123456789-abcdef"


def test_a_session_is_served_from_memory_once_checked(client, django_assert_num_queries):
    """Checked twice: the second time with the user's generation read before the session, so
    that a logout racing the first read cannot be remembered as current."""
    client.force_login(UserFactory())
    for _ in range(2):
        assert client.get(URL).json()["auth_method"] == "session"

    with django_assert_num_queries(0):
        response = client.get(URL)

    assert response.json()["auth_method"] == "session"


def test_a_session_hashed_under_a_fallback_secret_is_kept_under_a_new_key(client, settings):
    user = UserFactory()
    with override_settings(SECRET_KEY=OLD_SECRET):
        client.force_login(user)
    old_key = client.cookies[settings.SESSION_COOKIE_NAME].value

    with override_settings(SECRET_KEY_FALLBACKS=[OLD_SECRET]):
        response = client.get(URL)
        new_key = client.cookies[settings.SESSION_COOKIE_NAME].value

        assert response.json()["auth_method"] == "session"
        assert new_key != old_key  # Django's rotation of a session found under a fallback
        assert client.session[HASH_SESSION_KEY] == user.get_session_auth_hash()
        assert client.get(URL).json()["auth_method"] == "session"


def test_a_session_whose_hash_matches_nothing_is_flushed(client):
    user = UserFactory()
    with override_settings(SECRET_KEY=OLD_SECRET):
        client.force_login(user)

    response = client.get(URL)

    assert response.status_code == 401
    assert HASH_SESSION_KEY not in client.session


def test_a_session_rotated_away_is_not_remembered_under_its_old_key(client, settings):
    user = UserFactory()
    with override_settings(SECRET_KEY=OLD_SECRET):
        client.force_login(user)
    old_digest = verified.secret_digest(client.cookies[settings.SESSION_COOKIE_NAME].value)

    with override_settings(SECRET_KEY_FALLBACKS=[OLD_SECRET]):
        client.get(URL)

    assert verified.known_session(old_digest) is None
