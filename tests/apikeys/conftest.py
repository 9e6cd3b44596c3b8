"""Keys, callers and clients for the API-key suite.

Keys are issued by ``tests.factories.ApiKeyFactory`` through ``apikeys.services.api_key_create``,
the path every door uses, so a test key obeys the same rules as one made through the API;
``make_api_key`` is this folder's shorthand for it, returning ``(api_key, raw_key)``.
"""

import base64

import pytest
from rest_framework.test import APIClient

from apikeys import crypto
from tenants.models import Membership
from tests.factories import MembershipFactory, StaffUserFactory, UserFactory, issued_key
from tests.tenants.helpers import jwt_for

KEYS_URL = "/api/v1/user/api-keys"
INFO_URL = "/api/v1/api-keys/info"
VERIFY_URL = "/api/v1/keys/verify"
CHECK_URL = "/api/v1/auth/check"
BOOTSTRAP_URL = "/api/v1/api-keys/bootstrap"


def key_url(key_id, action: str = "") -> str:
    return f"{KEYS_URL}/{key_id}" + (f"/{action}" if action else "")


make_api_key = issued_key


def forged_key(raw_key: str) -> str:
    """A well-formed key (valid checksum) with ``raw_key``'s display prefix and another secret."""
    body = raw_key[: crypto.KEY_PREFIX_LENGTH]
    body += ("Z" if raw_key[crypto.KEY_PREFIX_LENGTH] != "Z" else "Y") * (
        len(raw_key) - crypto.CHECKSUM_LENGTH - crypto.KEY_PREFIX_LENGTH
    )
    return body + crypto._checksum(body)


def presentation_headers(raw_key: str, how: str) -> dict:
    """The request headers that present ``raw_key`` in one of SPEC §3's four ways."""
    if how == "bearer":
        return {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}
    if how == "x-api-key":
        return {"HTTP_X_API_KEY": raw_key}
    if how == "bare":
        return {"HTTP_AUTHORIZATION": raw_key}
    if how == "basic":
        encoded = base64.b64encode(f"apikey:{raw_key}".encode()).decode()
        return {"HTTP_AUTHORIZATION": f"Basic {encoded}"}
    raise ValueError(how)


PRESENTATIONS = ("bearer", "x-api-key", "bare", "basic")


def key_client(raw_key: str, how: str = "bearer", **headers) -> APIClient:
    client = APIClient()
    client.credentials(**presentation_headers(raw_key, how), **headers)
    return client


def person_client(user, **headers) -> APIClient:
    """A logged-in person, by JWT: manages their own keys without being a key manager."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_for(user)}", **headers)
    return client


@pytest.fixture
def user(db):
    """A user with a personal tenant, as registration makes."""
    user = UserFactory()
    MembershipFactory(user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def staff(db):
    user = StaffUserFactory()
    MembershipFactory(user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def person(user):
    return person_client(user)


@pytest.fixture
def staff_person(staff):
    return person_client(staff)
