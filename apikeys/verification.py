"""Answers for services not written in Django: "is this key valid, and may it do this?"

``POST /api/v1/keys/verify`` asks about a key in the body; ``GET /api/v1/auth/check`` asks about
the credential of the request a reverse proxy forwards. Both use ``authorize``, the decision
every Keyward view uses, so the answer and its reason are the ones a direct call would get.
"""

from dataclasses import dataclass, field

from apikeys import crypto, known_keys
from apikeys.authentication import principal_for_key
from apikeys.canary import canary_touch_record
from apikeys.permissions import refusal, route_rules, route_view
from apikeys.selectors import api_key_get_for_authentication
from apikeys.shadow import shadow_for_verify
from apikeys.usage import usage_record_direct
from core.cache import CACHE_ERRORS
from core.client_ip import client_ip
from core.domain_errors import DomainError
from core.errors import BadRequest
from core.principal import Principal
from identity import policy
from identity.authorize import Decision, authorize, ip_refusal
from identity.paths import normalise_path
from metering import credits, verified
from metering.meter import MeterUnavailable, note_meter_unavailable, take
from tenants.resolution import tenant_for_principal, tenant_for_request
from tenants.selectors import membership_get, users_share_a_tenant


@dataclass
class Verdict:
    valid: bool
    code: str
    reason: str
    api_key: object = None
    tenant_id: object = None
    ratelimit: dict | None = None
    scopes: list = field(default_factory=list)
    credits: dict | None = None  # {remaining, retry_after} for a key with credits

    def as_dict(self) -> dict:
        """The answer of ``keys/verify``, as ``KeyVerifyResponseSerializer`` documents it."""
        key = self.api_key
        return {
            "valid": self.valid,
            "code": self.code,
            "key_id": str(key.pk) if key else None,
            "key_prefix": key.key_prefix if key else None,
            "owner": {"id": key.user_id, "email": key.user.email} if key else None,
            "tenant_id": str(self.tenant_id) if self.tenant_id is not None else None,
            "scopes": list(key.scopes) if key else [],
            "ratelimit": self.ratelimit,
            "credits": self.credits,
            "reason": self.reason,
        }


UNKNOWN = "No key matches, or it belongs to no tenant you share."


def verify_key(
    *,
    verifier: Principal,
    raw_key: str,
    method: str,
    path: str | None,
    tenant_id=None,
    ip=None,
    cost: int = 1,
    channel: str = "keys_verify",
) -> Verdict:
    """Judge ``raw_key`` for ``method path`` as if it had called it; count it as a use.

    A key with credits spends ``cost`` of them when the use is admitted (0: only checks that
    some are left); out of credits, the verdict is ``credits_exhausted`` and nothing is counted.
    Without a ``path`` the key alone is judged: valid, active, unexpired, the IP and tenant.
    ``path`` is judged in its normal form (SPEC §9); one that ``normalise_path`` refuses raises
    ``InvalidPath`` before anything is looked up or counted: the call itself is malformed.
    A canary key is answered as an unknown one, and its use recorded under ``channel``.

    A key this process has verified (here or on a request it made) is judged from its cached
    record, as a request with it would be: the trip that counts the use confirms the record is
    current, and a verdict decided before counting is confirmed by reading its generation. A
    record that has moved on is read again from the database (``metering.verified``).
    """
    if path is not None:
        path = normalise_path(path)
    if not crypto.is_well_formed(raw_key):
        return Verdict(False, "invalid_api_key", "Not a well-formed key (checksum mismatch).")
    question = _Question(verifier, method, path, tenant_id, ip, cost, channel)
    key_hash = crypto.hash_key(raw_key)
    cache_key = policy.cache_key_of_key(key_hash)
    entry = verified.get(cache_key)
    unconfirmed = None
    if entry is not None:
        verdict = _judge(question, entry.record, cache_key=cache_key, entry=entry)
        if verdict is not STALE and not isinstance(verdict, Unconfirmed):
            return verdict
        verified.forget(cache_key)
        if verdict is not STALE:
            unconfirmed = verdict  # one failed trip to the shared cache is enough
    principal, shared_cache_answers = _read(
        raw_key, key_hash, cache_key, ask_cache=unconfirmed is None
    )
    if principal is None:
        return Verdict(False, "invalid_api_key", UNKNOWN)
    if shared_cache_answers:
        count = COUNT_SHARED
    elif unconfirmed is not None and unconfirmed.maybe_counted:
        count = COUNT_NONE  # the trip that timed out may yet count it: not twice
    else:
        count = COUNT_DIRECT
    return _judge(question, principal, cache_key=cache_key, count=count)


@dataclass(frozen=True, slots=True)
class _Question:
    verifier: Principal
    method: str
    path: str | None
    tenant_id: object
    ip: str | None
    cost: int
    channel: str


STALE = object()  # a cached record that has moved on: judge again from the database


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """The shared cache did not answer the trip that would count a cached key's use: judge the
    key from the database, and count the use there unless that trip may yet count it (a
    stalled Redis resuming runs what it was sent)."""

    maybe_counted: bool


# How ``_judge`` counts an admitted use: in the shared cache, straight into the database (the
# cache is away), or not at all (a timed-out trip may still count it).
COUNT_SHARED, COUNT_DIRECT, COUNT_NONE = "shared", "direct", "none"


def _read(
    raw_key: str, key_hash: str, cache_key: str, *, ask_cache: bool
) -> tuple[Principal | None, bool]:
    """The key's principal from the database (``None``: no such key), and whether the shared
    cache answers. The key is remembered as a request with it would remember it, refused or
    not, so that its next verdict costs no query."""
    generation, answers = None, False
    if ask_cache:
        try:
            generation = verified.current_generation(cache_key)  # before the read, as ``serve``
        except CACHE_ERRORS:
            verified.clear()
        else:
            answers = True
    if answers and known_keys.absent(raw_key, key_hash):
        return None, answers  # a key no stored key can be: no query
    api_key = api_key_get_for_authentication(raw_key, key_hash=key_hash)
    if api_key is None:
        known_keys.learn()  # so that the next unknown key is answered without a query
        return None, answers
    principal = principal_for_key(api_key)
    if generation is not None:  # a refused key too, as a request with it would cache it
        verified.remember(cache_key, principal, policy.meter_for_key(api_key), generation)
    return principal, answers


def _judge(
    question: _Question, principal: Principal, *, cache_key: str, entry=None, count=COUNT_SHARED
):
    """The verdict on ``principal``'s key; ``STALE`` when ``entry`` (the cached record it came
    from) proves out of date, an ``Unconfirmed`` when the shared cache could not say whether it
    is. ``count`` says where an admitted use is counted (``COUNT_*``)."""
    api_key = principal.api_key
    ip, tenant_id = question.ip, question.tenant_id

    def confirmed() -> bool:  # a verdict decided before counting, on a cached record
        return entry is None or verified.confirms(cache_key, entry)

    if api_key.is_canary:
        # Any use, whoever asks: recorded, and answered as for a key that does not exist.
        if not confirmed():
            return STALE
        canary_touch_record(
            api_key=api_key,
            ip=ip,
            method=question.method,
            path=question.path or "",
            channel=question.channel,
        )
        return Verdict(False, "invalid_api_key", UNKNOWN)
    early = _refused_before_use(question, principal)
    if early is not None:
        return early if confirmed() else STALE

    shadow = shadow_for_verify(principal, method=question.method, path=question.path, ip=ip)
    expected = entry.generation if entry is not None else None
    reading = _count_use(api_key, ip, question.cost, shadow, expected=expected, count=count)
    if reading is STALE or isinstance(reading, Unconfirmed):
        return reading
    if reading is not None and reading.credits_exhausted:
        wait = credits.retry_after(reading.credits)
        return Verdict(
            False,
            "credits_exhausted",
            "The key has no credits left"
            + (f"; they refill in {wait} s." if wait is not None else "."),
            api_key,
            api_key.tenant_id or tenant_id,
            credits={"remaining": reading.credits.remaining, "retry_after": wait},
        )
    ratelimit = (
        {"limit": reading.limit, "remaining": reading.remaining, "reset": reading.reset}
        if reading is not None and reading.policy
        else None
    )
    if question.path is None:
        decision = _key_alone(principal, ip)
    else:
        decision = authorize(
            principal,
            method=question.method,
            path=question.path,
            ip=ip,
            **route_rules(question.path),
        )
    if not decision.allowed:
        return Verdict(False, decision.code, decision.reason, api_key, api_key.tenant_id, ratelimit)

    tenant_verdict = _tenant_rule(principal, api_key, tenant_id, question.path)
    if tenant_verdict is not None:
        code, reason = tenant_verdict
        return Verdict(False, code, reason, api_key, api_key.tenant_id, ratelimit)
    balance = _credits_of(reading)
    if reading is not None and not reading.admitted:
        return Verdict(
            False,
            "rate_limit_error",
            f"Rate limit exceeded; retry after {reading.retry_after} s.",
            api_key,
            api_key.tenant_id or tenant_id,
            ratelimit,
            credits=balance,
        )
    return Verdict(
        True,
        "valid",
        decision.reason,
        api_key,
        api_key.tenant_id or tenant_id,
        ratelimit,
        credits=balance,
    )


def _refused_before_use(question: _Question, principal: Principal) -> Verdict | None:
    """What refuses the key before it spends anything: not the verifier's to see, inactive,
    expired, or refused for its IP or its tenant (as on a real request)."""
    api_key = principal.api_key
    if not _visible(question.verifier, api_key):
        return Verdict(False, "invalid_api_key", UNKNOWN)
    refusal = api_key.refusal()
    if refusal is not None:
        code, detail = refusal
        if code == "invalid_api_key":  # an inactive owner's key: exactly as an unknown one
            return Verdict(False, code, UNKNOWN)
        return Verdict(False, code, detail, api_key)
    refused = ip_refusal(principal, question.ip) or _bound_elsewhere(api_key, question.tenant_id)
    if refused is not None:
        return Verdict(False, refused.code, refused.reason, api_key, api_key.tenant_id)
    return None


def _credits_of(reading) -> dict | None:
    """The key's balance after this use, for a key with credits."""
    if reading is None or reading.credits is None:
        return None
    return {"remaining": reading.credits.remaining, "retry_after": None}


def check_forwarded(request, *, principal: Principal, method: str, path: str):
    """``auth/check``: may the forwarded credential make the original request?

    Returns the decision and the tenant the request acts in (``None`` when none is named or
    implied and the route leaves that to its upstream); raises the refusal a direct call would
    get (the view answers it in a form a reverse proxy passes on). ``path`` is the raw
    ``X-Original-URI``: it is judged in its normal form (SPEC §9), and one that
    ``normalise_path`` refuses raises ``InvalidPath``.
    """
    if len(path) > 2048:
        raise BadRequest("X-Original-URI is over 2,048 characters.", code="validation_error")
    path = normalise_path(path)
    decision = authorize(
        principal, method=method, path=path, ip=client_ip(request), **route_rules(path)
    )
    if not decision.allowed:
        raise refusal(decision)
    try:
        return decision, tenant_for_request(request).pk
    except DomainError as exc:
        # No tenant named and none implied: a tenant-scoped Keyward route refuses, as a direct
        # call would; for any other upstream, the upstream decides.
        if exc.code != "tenant_id_required" or getattr(route_view(path), "tenant_scoped", False):
            raise
        return decision, principal.tenant_id


def _key_alone(principal: Principal, ip) -> Decision:
    """No request to judge: the key is good if the client IP (when given) may use it."""
    return ip_refusal(principal, ip) or Decision.allow(
        "The key is valid; no method and path were given to judge."
    )


def _visible(verifier: Principal, api_key) -> bool:
    """A verifier answers for keys of people it shares a tenant with (staff: for any key).

    A tenant-bound verifier, staff or not, answers only within its tenant.
    """
    if verifier.tenant_id is not None:
        # A tenant-bound verifier sees only its tenant: keys bound to it, or unbound keys of its
        # members — not those of someone its owner happens to share another tenant with.
        return api_key.tenant_id in (None, verifier.tenant_id) and (
            membership_get(user=api_key.user, tenant_id=verifier.tenant_id) is not None
        )
    if verifier.user is None:  # a service client bound to no tenant answers for nobody
        return False
    if verifier.is_staff or verifier.user.pk == api_key.user_id:
        return True
    return users_share_a_tenant(verifier.user, api_key.user)


def _bound_elsewhere(api_key, tenant_id) -> Decision | None:
    if api_key.tenant_id is not None and tenant_id is not None and api_key.tenant_id != tenant_id:
        return Decision.deny(
            "tenant_mismatch", "The key is bound to another tenant than the one named."
        )
    return None


def _tenant_rule(principal, api_key, tenant_id, path) -> tuple[str, str] | None:
    if getattr(route_view(path), "tenant_scoped", False):
        # A Keyward route that acts in a tenant: the rules a direct call would meet.
        try:
            tenant_for_principal(principal, named=str(tenant_id) if tenant_id else None)
        except DomainError as exc:
            return exc.code, exc.detail
        return None
    if tenant_id is None:
        return None
    if api_key.tenant_id is not None:
        if api_key.tenant_id != tenant_id:
            return "tenant_mismatch", "The key is bound to another tenant than the one named."
        return None
    if membership_get(user=api_key.user, tenant_id=tenant_id) is None:
        return "tenant_not_found", "The key's owner is not a member of the named tenant."
    return None


def _count_use(api_key, ip, cost: int, shadow, *, expected: str | None, count: str):
    """Count the use as ``count`` says; ``STALE`` when ``expected`` (the cached record's
    generation) has moved on, an ``Unconfirmed`` when the shared cache could not say, ``None``
    when nothing was read from the shared cache (the use went into the database, or may yet be
    counted by a stalled Redis)."""
    if count == COUNT_SHARED:
        try:
            reading = take(
                policy.meter_for_key(api_key),
                ip=ip,
                cost=cost,
                shadow=shadow,
                expected_generation=expected,
            )
        except MeterUnavailable as exc:
            note_meter_unavailable(exc)
            if expected is not None:
                verified.clear()  # nothing can be confirmed: read from the database meanwhile
                return Unconfirmed(exc.maybe_counted)
            if exc.maybe_counted:
                return None
        else:
            return STALE if reading.stale else reading
    elif count == COUNT_NONE:
        return None
    usage_record_direct(api_key.pk, ip=ip)
    return None
