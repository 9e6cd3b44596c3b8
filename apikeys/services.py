"""Writes on API keys and the rules that guard them (SPEC §3).

The API, the admin, the web pages and the management commands all call these functions, so a
rule holds whichever door a change comes through. Every change writes the audit log, and every
change that could narrow what a key may do reaches every process and node before it returns, or
is not made at all (503): it runs in ``metering.verified.narrowing_change``, and saving the row
retires the key's generation in the shared cache before the commit.

``creator`` is the principal asking. When it is an API key (a key manager), every lifecycle
action — create, change, activate, rotate, revoke, delete — passes SPEC §9's escalation rule
(``rules.check_escalation``): the target key, before the action and after it, must lie within the
calling key on every field of its reach. People act with their own rights.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apikeys import crypto, rules
from apikeys.models import ApiKey, InstallationState, KeyType
from audit.services import audit_record
from core.domain_errors import Conflicting, DomainError, Invalid
from core.principal import AuthMethod, Principal
from metering import credits as metering_credits
from metering.verified import narrowing_change

MAX_GRACE_PERIOD = 7 * 24 * 3600
MIN_IDLE_GRACE = 60  # usage is recorded to the minute: a shorter quiet period cannot be seen
# ``api_key_rotate(expires_at=…)`` left out: the successor keeps the old key's expiry.
KEEP_EXPIRY = object()
DEFAULT_GRACE_PERIOD = 3600  # what the pages and the admin propose: an hour to deploy

UPDATABLE_FIELDS = (
    "name",
    "description",
    "scopes",
    "endpoints",
    "expires_at",
    "allowed_ips",
    "rate_limit",
    "metadata",
)
# Set through the API as one object (``set_credits``), stored in these model fields.
CREDITS = "credits"
CREDIT_FIELDS = [
    "credits_remaining",
    "credits_refill_amount",
    "credits_refill_interval",
    "credits_refill_at",
]


@transaction.atomic
def api_key_create(
    *,
    user,
    name: str,
    created_by=None,
    creator: Principal | None = None,
    description: str = "",
    key_type: str = KeyType.DEVELOPMENT,
    scopes=(),
    endpoints=(),
    tenant=None,
    key_manager: bool = False,
    allowed_ips=(),
    rate_limit: dict | None = None,
    metadata: dict | None = None,
    expires_at=None,
    credits: dict | None = None,
    request=None,
) -> tuple[ApiKey, str]:
    """Issue a key for ``user``; return it with the raw key, which is never seen again.

    ``credits``: ``{remaining, refill?: {amount, interval}}``, or ``None`` for unlimited.
    """
    creator = creator or _person(created_by or user)
    if creator.auth_method == AuthMethod.API_KEY:
        tenant = tenant if tenant is not None else _tenant_of(creator)
        expires_at = expires_at if expires_at is not None else creator.expires_at
        allowed_ips = allowed_ips or creator.allowed_ips
    api_key = ApiKey(
        user=user,
        name=name,
        description=description,
        key_type=key_type,
        scopes=list(scopes),
        endpoints=list(endpoints),
        tenant=tenant,
        key_manager=key_manager,
        allowed_ips=list(allowed_ips),
        rate_limit=rate_limit,
        metadata=metadata or {},
        expires_at=expires_at,
        created_by=created_by,
    )
    set_credits(api_key, credits)
    rules.check_sizes(api_key)
    rules.check_key(api_key, actor=created_by or user)
    rules.check_tenant_membership(api_key)
    rules.check_escalation(creator, api_key)
    raw_key = api_key_issue_material(api_key)
    audit_record(
        event_type="api_key.created",
        request=request,
        actor=created_by,
        target=api_key,
        tenant_id=api_key.tenant_id,
        data=api_key_summary(api_key),
    )
    return api_key, raw_key


@narrowing_change()
def api_key_update(
    *, api_key: ApiKey, changes: dict, actor=None, creator: Principal | None = None, request=None
) -> ApiKey:
    """Change the fields of ``UPDATABLE_FIELDS``; what a key may do can only narrow.

    Scopes and endpoint grants narrow only (a key that has them keeps a subset, and a key
    cannot become full access). Type, tenant, key_manager and the secret never change here. An
    expired key's expiry never changes: it stays expired (SPEC §9).
    """
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    before = api_key_summary(api_key)
    api_key_change(api_key, changes, actor=actor, creator=creator)
    fields = [f for f in changes if f != CREDITS]
    if CREDITS in changes:
        fields += CREDIT_FIELDS
        metering_credits.store(api_key)  # the live balance becomes the new one
    api_key.save(update_fields=fields)
    after = api_key_summary(api_key)
    audit_record(
        event_type="api_key.updated",
        request=request,
        actor=actor,
        target=api_key,
        tenant_id=api_key.tenant_id,
        data={"changed": {k: after[k] for k in after if after[k] != before[k]}},
    )
    return api_key


def api_key_change(
    api_key: ApiKey, changes: dict, *, actor=None, creator: Principal | None = None
) -> None:
    """Set ``changes`` on ``api_key`` in memory, or raise the refusal a PATCH would get.

    The rules of ``api_key_update`` without the save: a shadow proposal (``apikeys.shadow``) is
    judged by them on a copy, so it is refused then rather than when it is applied.
    """
    unknown = set(changes) - {*UPDATABLE_FIELDS, CREDITS}
    if unknown:
        raise Invalid({field: ["This field cannot be changed."] for field in unknown})
    rules.check_escalation(creator, api_key)
    if "expires_at" in changes and api_key.is_expired():
        raise _expired("An expired key stays expired: its expiry cannot be changed.")
    was_full_access = api_key.full_access
    old_scopes, old_endpoints = list(api_key.scopes), list(api_key.endpoints)
    before_expiry = api_key.expires_at
    for field, value in changes.items():
        if field == CREDITS:
            set_credits(api_key, value)
        else:
            setattr(api_key, field, value)
    rules.check_sizes(api_key, changed=set(changes))  # before any per-item check below

    if "scopes" in changes and old_scopes and not set(api_key.scopes) <= set(old_scopes):
        raise Invalid({"scopes": ["Scopes can only be narrowed: remove, never add."]})
    if (
        "endpoints" in changes
        and old_endpoints
        and not rules.grants_within(api_key.endpoints, old_endpoints)
    ):
        raise Invalid({"endpoints": ["Endpoint grants can only be narrowed."]})
    if api_key.full_access and not was_full_access:
        raise Invalid(
            {"scopes": ["Removing every scope and grant would give this key full access."]}
        )
    if (
        "expires_at" in changes
        and _outlives(api_key.expires_at, before_expiry)
        and _was_rotated(api_key)
    ):
        raise Invalid(
            {"expires_at": ["A rotated key cannot outlive its grace period; use its successor."]}
        )
    rules.check_key(api_key, actor=actor or api_key.user, changed=set(changes))
    rules.check_escalation(creator, api_key)


def api_key_revoke(
    *, api_key: ApiKey, actor=None, creator: Principal | None = None, request=None
) -> ApiKey:
    """Disable the key (reversible). Every node refuses it before this returns."""
    return _set_active(
        api_key, False, "api_key.revoked", actor=actor, creator=creator, request=request
    )


def api_key_activate(
    *, api_key: ApiKey, actor=None, creator: Principal | None = None, request=None
) -> ApiKey:
    """Re-enable a revoked key; an expired key stays dead (issue a new one instead)."""
    if api_key.is_expired():
        raise _expired("An expired key cannot be activated.")
    if _was_rotated(api_key):
        # Rotation retired it; re-enabling would keep a key meant to stop working alive.
        raise Conflicting("This key was rotated: use its successor.", code="already_rotated")
    return _set_active(
        api_key, True, "api_key.activated", actor=actor, creator=creator, request=request
    )


@narrowing_change()
def api_key_rotate(
    *,
    api_key: ApiKey,
    grace_period_seconds: int = 0,
    end_grace_when_idle_seconds: int | None = None,
    expires_at=KEEP_EXPIRY,
    actor=None,
    creator: Principal | None = None,
    request=None,
) -> tuple[ApiKey, str]:
    """Issue a successor with the same settings; the old key dies after the grace period.

    With no grace period the old key is revoked at once; otherwise its expiry is brought
    forward to the end of the grace period (never pushed back), and with
    ``end_grace_when_idle_seconds`` the grace ends sooner once the old key has served no request
    for that long (``apikeys.expiry``). A key is rotated once. ``expires_at`` gives the successor
    its own expiry (``None``: never; in the future); left out, the successor keeps the old key's.
    Rotation hands out the successor's raw key, so a key manager may rotate only keys within
    itself: otherwise rotating would be a way to mint a wider key.
    """
    if not 0 <= grace_period_seconds <= MAX_GRACE_PERIOD:
        raise Invalid({"grace_period_seconds": [f"Must be between 0 and {MAX_GRACE_PERIOD}."]})
    if end_grace_when_idle_seconds is not None and not (
        MIN_IDLE_GRACE <= end_grace_when_idle_seconds <= MAX_GRACE_PERIOD
    ):
        raise Invalid(
            {
                "end_grace_when_idle_seconds": [
                    f"Must be between {MIN_IDLE_GRACE} and {MAX_GRACE_PERIOD}."
                ]
            }
        )
    old = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    rules.check_escalation(creator, old)  # the successor has the same reach: checked with it
    now = timezone.now()
    if old.is_expired(now):
        raise _expired("An expired key cannot be rotated; issue a new one.")
    if not old.is_active:
        raise DomainError("Only an active, unexpired key can be rotated.", code="validation_error")
    if _was_rotated(old):
        raise Conflicting("This key has already been rotated.", code="already_rotated")
    if expires_at is KEEP_EXPIRY:
        expires_at = old.expires_at
    elif expires_at is not None and expires_at <= now:
        raise Invalid({"expires_at": ["Must be in the future."]})
    successor = ApiKey(
        user=old.user,
        name=old.name,
        description=old.description,
        key_type=old.key_type,
        scopes=old.scopes,
        endpoints=old.endpoints,
        tenant_id=old.tenant_id,
        key_manager=old.key_manager,
        allowed_ips=old.allowed_ips,
        rate_limit=old.rate_limit,
        metadata=old.metadata,
        expires_at=expires_at,
        created_by=actor,
        rotated_from=old,
    )
    _carry_credits(old, successor)
    if successor.expires_at != old.expires_at:
        rules.check_escalation(creator, successor)  # a later expiry is a wider reach
    raw_key = api_key_issue_material(successor)
    if grace_period_seconds == 0:
        old.is_active = False
        old.save(update_fields=["is_active"])
    else:
        grace_end = now + timedelta(seconds=grace_period_seconds)
        old.expires_at = min(old.expires_at or grace_end, grace_end)
        old.end_grace_when_idle_seconds = end_grace_when_idle_seconds
        old.save(update_fields=["expires_at", "end_grace_when_idle_seconds"])
    audit_record(
        event_type="api_key.rotated",
        request=request,
        actor=actor,
        target=old,
        tenant_id=old.tenant_id,
        data={
            "key_prefix": old.key_prefix,
            "successor_id": str(successor.pk),
            "successor_prefix": successor.key_prefix,
            "grace_period_seconds": grace_period_seconds,
            "end_grace_when_idle_seconds": end_grace_when_idle_seconds,
            "old_key_expires_at": old.expires_at.isoformat() if old.expires_at else None,
        },
    )
    audit_record(  # the successor's own trail starts here, as any new key's does
        event_type="api_key.created",
        request=request,
        actor=actor,
        target=successor,
        tenant_id=successor.tenant_id,
        data={**api_key_summary(successor), "rotated_from": str(old.pk)},
    )
    return successor, raw_key


@narrowing_change()
def api_key_delete(
    *, api_key: ApiKey, actor=None, creator: Principal | None = None, request=None
) -> None:
    """Delete the key for good, with its usage; the audit trail keeps its prefix."""
    rules.check_escalation(creator, api_key)  # deleted, it has no after: only its before
    summary = api_key_summary(api_key)
    key_id, tenant_id = api_key.pk, api_key.tenant_id
    api_key.delete()
    audit_record(
        event_type="api_key.deleted",
        request=request,
        actor=actor,
        target_type="apikeys.apikey",
        target_id=str(key_id),
        tenant_id=tenant_id,
        data=summary,
    )


# --- helpers -------------------------------------------------------------------------------


def api_key_issue_material(api_key: ApiKey) -> str:
    """Give ``api_key`` fresh key material, save it, and remember that a key was issued."""
    raw_key = crypto.generate_key()
    api_key.key_prefix = crypto.display_prefix(raw_key)
    api_key.key_hash = crypto.hash_key(raw_key)
    api_key.save()
    InstallationState.objects.filter(pk=1, keys_ever_issued=False).update(keys_ever_issued=True)
    return raw_key


@narrowing_change()
def _set_active(
    api_key: ApiKey, active: bool, event_type: str, *, actor, creator, request
) -> ApiKey:
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    # Revoking or activating changes no field of the reach: before and after are one check.
    rules.check_escalation(creator, api_key)
    if api_key.is_active != active:
        api_key.is_active = active
        api_key.save(update_fields=["is_active"])
    audit_record(
        event_type=event_type,
        request=request,
        actor=actor,
        target=api_key,
        tenant_id=api_key.tenant_id,
        data={"key_prefix": api_key.key_prefix, "name": api_key.name},
    )
    return api_key


def _expired(detail: str) -> DomainError:
    return DomainError(detail, code="api_key_expired")


def _was_rotated(api_key: ApiKey) -> bool:
    return ApiKey.objects.filter(rotated_from=api_key).exists()


def _outlives(expires_at, bound) -> bool:
    """True when an expiry of ``expires_at`` lasts longer than one of ``bound`` (None: forever)."""
    if bound is None:
        return False
    return expires_at is None or expires_at > bound


def _person(user) -> Principal:
    return Principal(auth_method=AuthMethod.SESSION, user=user)


def _tenant_of(principal: Principal):
    from tenants.models import Tenant

    if principal.tenant_id is None:
        return None
    return Tenant.objects.get(pk=principal.tenant_id)


def set_credits(api_key: ApiKey, credits: dict | None) -> None:
    """Give ``api_key`` the credits ``{remaining, refill?: {amount, interval}}`` (``None``:
    unlimited). A refill schedule starts at the next UTC day or month (``metering.credits``)."""
    if credits is None:
        api_key.credits_remaining = None
        api_key.credits_refill_amount = None
        api_key.credits_refill_interval = ""
        api_key.credits_refill_at = None
        return
    refill = credits.get("refill") or None
    api_key.credits_remaining = int(credits["remaining"])
    api_key.credits_refill_amount = int(refill["amount"]) if refill else None
    api_key.credits_refill_interval = refill["interval"] if refill else ""
    api_key.credits_refill_at = metering_credits.initial_refill_at(
        refill["interval"] if refill else None
    )


def _carry_credits(old: ApiKey, successor: ApiKey) -> None:
    """A successor starts with the old key's live balance and refill schedule (as Unkey's
    reroll does); during a grace period each key spends its own balance."""
    state = metering_credits.credits_state(old)
    if state is None:
        return
    successor.credits_remaining = state["remaining"]
    successor.credits_refill_amount = old.credits_refill_amount
    successor.credits_refill_interval = old.credits_refill_interval
    successor.credits_refill_at = state["refills_at"]


def credits_summary(api_key: ApiKey) -> dict | None:
    """A key's credits as set (the live balance is ``metering.credits.remaining``)."""
    if api_key.credits_remaining is None:
        return None
    refill = None
    if api_key.credits_refill_interval:
        refill = {
            "amount": api_key.credits_refill_amount,
            "interval": api_key.credits_refill_interval,
        }
    return {"remaining": api_key.credits_remaining, "refill": refill}


def api_key_summary(api_key: ApiKey) -> dict:
    """What the audit log keeps of a key: its settings, never its secret or hash."""
    return {
        "key_prefix": api_key.key_prefix,
        "name": api_key.name,
        "key_type": api_key.key_type,
        "scopes": list(api_key.scopes),
        "endpoints": list(api_key.endpoints),
        "key_manager": api_key.key_manager,
        "allowed_ips": list(api_key.allowed_ips),
        "rate_limit": api_key.rate_limit,
        "expires_at": api_key.expires_at.isoformat() if api_key.expires_at else None,
        "is_active": api_key.is_active,
        "description": api_key.description,
        "metadata": api_key.metadata,
        "credits": credits_summary(api_key),
    }


def api_key_prune_expired(*, before) -> int:
    """Delete keys that expired before ``before`` (with their usage rows); return how many."""
    _, deleted = ApiKey.objects.filter(expires_at__lt=before).delete()
    return deleted.get(ApiKey._meta.label, 0)
