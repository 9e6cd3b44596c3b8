"""``Authorization: Bearer <client access token>``: a service client calling the API.

Runs after ``ApiKeyAuthentication`` and before ``BearerJWTAuthentication``. A Bearer JWT whose
(unverified) ``token_type`` is ``client_access`` is this class's to verify; any other
credential is left to the next class (``None``). The client is read on every request by its
primary key, so a deactivated or deleted client's tokens stop working at once, a revoked token
(``POST /oauth2/revoke``) too, and narrowing a client's scopes narrows the tokens it already
holds.
"""

from datetime import UTC, datetime

from rest_framework.authentication import BaseAuthentication

from accounts.access import is_verified_access_token, verified_token
from accounts.tokens import invalid_token
from core.errors import BEARER_CHALLENGE
from core.principal import AuthMethod, Principal
from identity import credentials
from oauth.selectors import service_client_get_for_authentication
from oauth.tokens import CLIENT_TOKEN_TYPE, ClientAccessToken, unverified_token_type


class ServiceClientUser:
    """What ``request.user`` is for a service client: authenticated, and nobody.

    A service client is not a Django user: it has no password, no session, no memberships and
    no staff flag, and it must never pass a check written for people (``is_staff`` opening the
    admin, ``pk`` matching a key's owner). So it gets no row in the user table; this stand-in
    answers what DRF and Django ask of ``request.user`` (``is_authenticated``, ``is_active``,
    ``is_anonymous``) and nothing more. ``pk`` is ``None``, so nothing can store or look it up
    as a user. ``is_staff`` is always ``False``: a client's ``admin`` scope never opens an
    administrative endpoint, because ``authorize`` honours that scope only for staff.
    """

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    pk = None
    id = None
    email = ""
    username = ""

    def __init__(self, client):
        self.client = client
        self.client_id = client.client_id

    def __str__(self):
        return f"service client {self.client.name} ({self.client_id})"

    def __eq__(self, other):
        return isinstance(other, ServiceClientUser) and other.client_id == self.client_id

    def __hash__(self):
        return hash(self.client_id)

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def has_perms(self, perm_list, obj=None) -> bool:
        return False

    def has_module_perms(self, app_label) -> bool:
        return False


class ClientCredentialsAuthentication(BaseAuthentication):
    def authenticate(self, request):
        raw_token = _bearer_value(request)
        if raw_token is None or is_verified_access_token(raw_token):  # a user's, known good
            return None
        if unverified_token_type(raw_token) != CLIENT_TOKEN_TYPE:
            return None
        return authenticate_client_token(raw_token)

    def authenticate_header(self, request):
        return BEARER_CHALLENGE


def authenticate_client_token(raw_token: str) -> tuple[ServiceClientUser, Principal]:
    """Verify a client access token and return ``(user, principal)``; 401 otherwise.

    The signature is checked once per process (``verified_token``); the client, and whether
    this token was revoked, on every request.
    """
    token = verified_token(ClientAccessToken, raw_token)
    client = service_client_get_for_authentication(
        client_id=token.get("client_id"), jti=token.get("jti")
    )
    if client is None:
        raise invalid_token()
    if client.token_revoked:
        raise invalid_token("This token has been revoked.")
    bound = str(client.tenant_id) if client.tenant_id else None
    if token.get("tenant_id") != bound:
        raise invalid_token()
    scope = token.get("scope")
    granted = scope.split(" ") if isinstance(scope, str) else []
    scopes = tuple(s for s in dict.fromkeys(granted) if s and s in client.scopes)
    if not scopes:
        # Without a scope ``authorize`` could not tell this token apart from a grants-only key.
        raise invalid_token("This token grants no scope its client still holds.")
    user = ServiceClientUser(client)
    # ``user`` stays None in the principal: a service client has no memberships, and tenant
    # resolution and ``auth/verify`` recognise a client by that (see docs/oauth.md).
    return user, Principal(
        auth_method=AuthMethod.CLIENT_CREDENTIALS,
        user=None,
        scopes=scopes,
        tenant_id=client.tenant_id,
        expires_at=datetime.fromtimestamp(token["exp"], tz=UTC),
        service_client=client,
        token=token,
    )


def _bearer_value(request) -> str | None:
    return credentials.bearer_value(request.META.get("HTTP_AUTHORIZATION"))
