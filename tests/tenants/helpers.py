"""Credentials for the tenant and agent tests, made without the key-management API."""

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.factories import ApiKeyFactory


def make_key(user, **fields) -> str:
    """Issue a key for ``user`` (``ApiKeyFactory``) and return only the raw key."""
    return ApiKeyFactory(user=user, **fields).raw_key


def make_admin_key_then_demote(user, **fields) -> str:
    """Issue an admin key while ``user`` is staff, then take staff away; return the raw key.

    The service issues admin keys only to staff owners, so this is how a non-staff owner comes
    to hold the admin scope.
    """
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    raw_key = make_key(user, key_type="admin", **fields)
    user.is_staff = False
    user.save(update_fields=["is_staff"])
    return raw_key


def jwt_for(user) -> str:
    return str(RefreshToken.for_user(user).access_token)


def client_for(credential: str | None = None, *, tenant_header=None) -> APIClient:
    """An APIClient presenting ``credential`` as a Bearer header, and an X-Tenant-Id if given."""
    client = APIClient()
    headers = {}
    if credential is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {credential}"
    if tenant_header is not None:
        headers["HTTP_X_TENANT_ID"] = str(tenant_header)
    client.credentials(**headers)
    return client
