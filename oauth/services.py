"""Writes on service clients, and the client-credentials grant itself.

Every change writes the audit log; no event ever carries a secret. A raw secret leaves this
module exactly once, in the return value of ``service_client_create`` or
``service_client_rotate_secret``.
"""

import re
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from core.domain_errors import Invalid
from oauth.crypto import client_secret_matches, generate_client_secret, hash_client_secret
from oauth.models import RevokedClientToken, ServiceClient
from oauth.protocol import OAuthError, TokenRequest, invalid_client, requested_scopes
from oauth.selectors import parse_client_id
from oauth.tokens import client_access_token_mint, client_token_lifetime

MAX_SCOPES = 50
MAX_SCOPE_LENGTH = 64
NAME_MAX_LENGTH = 100
# read:all, write:all, admin, app:access, agents:read, keys:verify, ...
_SCOPE_PATTERN = re.compile(r"[a-z][a-z0-9_.-]*(?::[a-z][a-z0-9_.-]*)?")
# Compared against when the client is unknown, so that answer takes as long as a wrong secret.
_DUMMY_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str

    def as_response(self) -> dict:
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


def scopes_normalise(value) -> list[str]:
    """A client's allowed scopes from a list or a space/comma separated string.

    Raises ``Invalid({"scopes": [...]})``: at least one scope, each well formed.
    """
    if isinstance(value, str):
        items = re.split(r"[\s,]+", value)
    elif isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        items = list(value)
    else:
        raise Invalid({"scopes": ["Give scopes as a list of strings or one string."]})
    scopes = list(dict.fromkeys(item.strip() for item in items if item.strip()))
    if not scopes:
        raise Invalid({"scopes": ["A service client needs at least one scope."]})
    if len(scopes) > MAX_SCOPES:
        raise Invalid({"scopes": [f"At most {MAX_SCOPES} scopes."]})
    bad = [
        scope
        for scope in scopes
        if len(scope) > MAX_SCOPE_LENGTH or not _SCOPE_PATTERN.fullmatch(scope)
    ]
    if bad:
        raise Invalid(
            {"scopes": [f"Not a scope: {bad[0][:MAX_SCOPE_LENGTH]!r} (e.g. agents:read)."]}
        )
    return scopes


def _name_clean(name) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > NAME_MAX_LENGTH:
        raise Invalid({"name": [f"Give a name of 1 to {NAME_MAX_LENGTH} characters."]})
    return name


@transaction.atomic
def service_client_create(
    *, name: str, scopes, tenant=None, created_by=None, request=None
) -> tuple[ServiceClient, str]:
    """Create a client and return it with its raw secret, which is shown once and not kept."""
    raw_secret = generate_client_secret()
    client = ServiceClient.objects.create(
        name=_name_clean(name),
        scopes=scopes_normalise(scopes),
        tenant=tenant,
        created_by=created_by,
        secret_hash=hash_client_secret(raw_secret),
    )
    audit_record(
        event_type="service_client.created",
        request=request,
        actor=created_by,
        target=client,
        tenant_id=client.tenant_id,
        data={"name": client.name, "scopes": client.scopes},
    )
    return client, raw_secret


@transaction.atomic
def service_client_update(
    *, client: ServiceClient, name=None, scopes=None, is_active=None, request=None, actor=None
) -> ServiceClient:
    """Rename, change the allowed scopes, or (de)activate a client.

    Narrowing the scopes or deactivating takes effect on the client's next request, for
    tokens already issued too: authentication reads the client on every request.
    """
    changes = {}
    if name is not None and _name_clean(name) != client.name:
        changes["name"] = _name_clean(name)
    if scopes is not None and scopes_normalise(scopes) != client.scopes:
        changes["scopes"] = scopes_normalise(scopes)
    if is_active is not None and bool(is_active) != client.is_active:
        changes["is_active"] = bool(is_active)
    if not changes:
        return client
    before = {field: getattr(client, field) for field in changes}
    for field, value in changes.items():
        setattr(client, field, value)
    client.save(update_fields=list(changes))
    audit_record(
        event_type="service_client.updated",
        request=request,
        actor=actor,
        target=client,
        tenant_id=client.tenant_id,
        data={"changes": {field: [before[field], changes[field]] for field in changes}},
    )
    return client


@transaction.atomic
def service_client_rotate_secret(
    *, client: ServiceClient, request=None, actor=None
) -> tuple[ServiceClient, str]:
    """Replace the secret; the old one stops working at once.

    Tokens already issued stay valid until they expire (``KEYWARD_CLIENT_TOKEN_LIFETIME``); to
    cut them off too, deactivate the client.
    """
    raw_secret = generate_client_secret()
    client.secret_hash = hash_client_secret(raw_secret)
    client.secret_rotated_at = timezone.now()
    client.save(update_fields=["secret_hash", "secret_rotated_at"])
    audit_record(
        event_type="service_client.rotated",
        request=request,
        actor=actor,
        target=client,
        tenant_id=client.tenant_id,
    )
    return client, raw_secret


@transaction.atomic
def service_client_delete(*, client: ServiceClient, request=None, actor=None) -> None:
    """Delete a client; its tokens stop working at once."""
    client_id, tenant_id, name = client.client_id, client.tenant_id, client.name
    client.delete()
    audit_record(
        event_type="service_client.deleted",
        request=request,
        actor=actor,
        target_type=ServiceClient._meta.label_lower,
        target_id=str(client_id),
        tenant_id=tenant_id,
        data={"name": name},
    )


def client_credentials_token_issue(*, token_request: TokenRequest, request=None) -> IssuedToken:
    """Authenticate the client and mint its token (RFC 6749 §4.4), or raise ``OAuthError``.

    Unknown client, wrong secret and inactive client get the same answer, in about the same time.
    The scope asked for must be a subset of the client's; none asked for grants all of them.
    """
    try:
        client = _client_authenticate(token_request)
        scopes = _scopes_granted(client, token_request.scope)
    except OAuthError as exc:
        token_denied_record(request=request, error=exc, client_id=token_request.client_id)
        raise
    token = client_access_token_mint(client=client, scopes=scopes)
    issued = IssuedToken(
        access_token=str(token), expires_in=client_token_lifetime(), scope=" ".join(scopes)
    )
    audit_record(
        event_type="oauth.token_issued",
        request=request,
        target=client,
        tenant_id=client.tenant_id,
        data={
            "scope": issued.scope,
            "auth_method": token_request.auth_method,
            "jti": token["jti"],
        },
    )
    return issued


def token_denied_record(*, request, error: OAuthError, client_id: str | None = None) -> None:
    """Audit a refused token request: the client_id as presented (public), never a secret."""
    parsed = parse_client_id(client_id)
    audit_record(
        event_type="oauth.token_denied",
        request=request,
        outcome=AuditEvent.Outcome.FAILURE,
        target_type=ServiceClient._meta.label_lower if parsed else "",
        target_id=str(parsed) if parsed else "",
        data={"error": error.error, "reason": error.description},
    )


def _client_authenticate(token_request: TokenRequest) -> ServiceClient:
    return client_authenticate(
        client_id=token_request.client_id, client_secret=token_request.client_secret
    )


def client_authenticate(*, client_id: str, client_secret: str | None) -> ServiceClient:
    """The active client these credentials name, or ``invalid_client`` (the same answer, in
    about the same time, for an unknown client, a wrong secret and an inactive client)."""
    client = None
    parsed = parse_client_id(client_id)
    if parsed is not None:
        client = ServiceClient.objects.filter(client_id=parsed).first()
    secret = client_secret or ""
    matches = client_secret_matches(secret, client.secret_hash if client else _DUMMY_HASH)
    if client is None or not matches or not client.is_active or not secret:
        raise invalid_client()
    current_hash = hash_client_secret(secret)
    if client.secret_hash != current_hash:  # it matched under a retired pepper
        _client_secret_adopt_current_pepper(client, current_hash)
    return client


def _client_secret_adopt_current_pepper(client: ServiceClient, current_hash: str) -> None:
    """Store a secret that matched under a retired pepper under the current one, so a pepper
    rotation finishes (docs/apikeys.md). A conditional UPDATE: a concurrent rotation of the
    secret, or the same re-hash by another request, wins and this one changes nothing."""
    ServiceClient.objects.filter(pk=client.pk, secret_hash=client.secret_hash).update(
        secret_hash=current_hash
    )
    client.secret_hash = current_hash


def _scopes_granted(client: ServiceClient, scope: str | None) -> list[str]:
    asked = requested_scopes(scope)
    if asked is None:
        return list(client.scopes)
    refused = [token for token in asked if token not in client.scopes]
    if refused:
        raise OAuthError(
            "invalid_scope", f"The client may not be granted: {' '.join(refused)[:200]}."
        )
    return asked


def client_token_revocations_prune(*, before) -> int:
    """Delete revocations of client tokens that expired before ``before`` (they work nowhere)."""
    deleted, _ = RevokedClientToken.objects.filter(expires_at__lt=before).delete()
    return deleted
