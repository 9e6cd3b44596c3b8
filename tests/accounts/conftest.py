from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD, UserFactory

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def csrf_client():
    """A client that, unlike the default test client, enforces CSRF like a browser meets it."""
    return APIClient(enforce_csrf_checks=True)


def post_form(client, path: str, data: dict, **extra):
    """Post ``data`` url-encoded, as a browser form (or ``curl -d``) does."""
    return client.post(path, urlencode(data), content_type=FORM, **extra)


def login_json(client, user, password: str = DEFAULT_PASSWORD):
    return client.post(
        "/api/v1/auth/login", {"email": user.email, "password": password}, format="json"
    )


@pytest.fixture
def tokens(api_client, user):
    """A fresh login's JSON answer: access_token, refresh_token, ..."""
    response = login_json(api_client, user)
    assert response.status_code == 200
    return response.json()
