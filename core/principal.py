"""Who is calling: one shape for every credential (API key, JWT, session, service client).

Authentication classes put a ``Principal`` in ``request.auth``; the authorization decision
(``identity.authorize``), tenant resolution and ``auth/verify`` read only this.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


class AuthMethod:
    API_KEY = "api_key"
    JWT = "jwt"
    SESSION = "session"
    CLIENT_CREDENTIALS = "client_credentials"


@dataclass(frozen=True, slots=True)
class Principal:
    auth_method: str
    user: Any = None
    scopes: tuple[str, ...] = ()
    endpoints: tuple[dict, ...] = ()
    # The tenant the credential is bound to (a tenant-bound key, a service client); None = any
    # tenant the user belongs to, named by the X-Tenant-Id header.
    tenant_id: UUID | None = None
    expires_at: datetime | None = None
    api_key: Any = None  # apikeys.ApiKey for key principals
    key_type: str | None = None
    key_manager: bool = False
    allowed_ips: tuple[str, ...] = ()
    service_client: Any = None
    token: Any = field(default=None, compare=False, repr=False)
    # What is worked out from the principal alone, once: a key's principal is cached for as long
    # as the key is unchanged (``metering.verified``), so its ``auth/verify`` body is built once.
    derived: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def full_access(self) -> bool:
        """People (session, JWT) act with their own rights; a key does when it is unrestricted."""
        if self.auth_method in (AuthMethod.SESSION, AuthMethod.JWT):
            return True
        if self.auth_method == AuthMethod.API_KEY:
            return not self.scopes and not self.endpoints
        return False

    @property
    def key_prefix(self) -> str | None:
        return getattr(self.api_key, "key_prefix", None)

    @property
    def is_staff(self) -> bool:
        return bool(getattr(self.user, "is_staff", False))


def principal_of(request) -> Principal | None:
    """The principal of an authenticated request, whatever authenticated it."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, Principal):
        return auth
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return Principal(auth_method=AuthMethod.SESSION, user=user)
