"""Operators and their tools: a logged-in superuser for the admin, keys made by ApiKeyFactory."""

import re

import pytest
from rest_framework.test import APIClient

from tenants.models import Membership
from tests.factories import MembershipFactory, UserFactory, issued_key

ADMIN = "/admin/apikeys/apikey/"
INFO_URL = "/api/v1/api-keys/info"
RAW_KEY = re.compile(r"kw_[0-9A-Za-z]{49}")


make_key = issued_key  # this folder's shorthand for ApiKeyFactory: ``(api_key, raw_key)``


def info_status(raw_key: str) -> int:
    """What the key gets from ``GET /api/v1/api-keys/info`` as a Bearer credential."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client.get(INFO_URL).status_code


def use(raw_key: str, times: int = 1) -> None:
    """Make ``times`` authenticated requests with the key on an endpoint that does not flush
    usage, so what they count stays buffered in the cache (a 403 counts as a use too)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    for _ in range(times):
        assert client.get("/api/v1/tenants").status_code in (200, 403)


def shown_keys(response) -> list[str]:
    return RAW_KEY.findall(response.content.decode())


@pytest.fixture
def admin_user(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def member(db):
    """A user who owns a tenant, as registration makes them."""
    membership = MembershipFactory(role=Membership.Role.OWNER)
    return membership.user


def add_form(owner, **fields):
    """A complete POST of the add form, as the browser sends it."""
    return {
        "user": str(owner.pk),
        "name": "deploy bot",
        "description": "",
        "key_type": "development",
        "tenant": "",
        "scopes": "",
        "endpoints": "[]",
        "allowed_ips": "",
        "rate_limit": "",
        "metadata": "{}",
        "expires_at_0": "",
        "expires_at_1": "",
        **fields,
    }
