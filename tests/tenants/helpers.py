"""Credentials for the tenant and agent tests, made without the key-management API."""

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from apikeys import crypto
from apikeys.models import ApiKey


def make_key(user, *, tenant=None, scopes=(), **fields) -> str:
    """Store an API key row for ``user`` and return the raw key."""
    raw_key = crypto.generate_key()
    ApiKey.objects.create(
        user=user,
        name="test key",
        key_prefix=crypto.display_prefix(raw_key),
        key_hash=crypto.hash_key(raw_key),
        scopes=list(scopes),
        tenant=tenant,
        **fields,
    )
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
