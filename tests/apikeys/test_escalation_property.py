"""No action leaves a key wider than the key that acted (SPEC §9), for generated pairs of keys.

Hypothesis draws an acting key manager and a target (scopes, grants, type, tenant, IPs, expiry,
rate limit, key-manager flag, on a staff or non-staff owner) and one lifecycle action, and runs
the action through ``apikeys.services`` as the API does. The oracle does not ask the escalation
rule: it asks ``authorize`` — the decision every request gets — whether any probe request the
target may make (method, path, client IP) is one the actor may not, and compares tenant, expiry,
effective rate limits, type and the key-manager flag directly. It holds for the target before
the action and after it. A refused action must leave the stored keys as they were.
"""

import copy
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apikeys import services
from apikeys.authentication import principal_for_key
from apikeys.models import ApiKey
from apikeys.permissions import route_rules
from core.domain_errors import DomainError
from core.errors import status_of
from identity import limits
from identity.authorize import authorize
from tests.factories import MembershipFactory, StaffUserFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

SCOPES = (
    "read:all",
    "write:all",
    "agents:read",
    "agents:write",
    "keys:read",
    "keys:write",
    "keys:verify",
    "app:access",
    "admin",
)
GRANTS = (
    {"path": "/api/v1/agents", "methods": ["GET"]},
    {"path": "/api/v1/agents", "methods": ["*"]},
    {"path": "/api/v1/agents/5", "methods": ["GET", "PATCH"]},
    {"path": "/api/v1/user/api-keys", "methods": ["DELETE", "GET", "PATCH", "POST"]},
    {"path": "/api/v1/keys/verify", "methods": ["POST"]},
    {"path": "/api/v1", "methods": ["GET"]},
    {"path": "/orders", "methods": ["GET", "POST"]},
)
NETWORKS = ("10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/16", "2001:db8::/32")
TYPES = ("restricted", "development", "production", "admin")  # narrowest first
RATE_LIMITS = (None, {"per_minute": 10}, {"per_minute": 30, "per_hour": 500}, {"per_hour": 100})
EXPIRY_DAYS = (None, 1, 10)
ACTIONS = ("create", "update", "activate", "revoke", "rotate", "delete")

PROBE_PATHS = (
    "/api/v1/agents",
    "/api/v1/agents/5",
    "/api/v1/agents/6",
    "/api/v1/tenants",
    "/api/v1/user/api-keys",
    "/api/v1/keys/verify",
    "/api/v1/audit-events",
    "/orders/1",
    "/elsewhere",
)
PROBE_METHODS = ("GET", "POST", "DELETE")
PROBE_IPS = ("10.0.0.1", "10.1.0.1", "192.168.1.1", "2001:db8::1", "203.0.113.5")

# None at all is a case of its own (full access; grants only), so it is drawn as often as not.
scope_lists = st.one_of(
    st.just([]), st.lists(st.sampled_from(SCOPES), min_size=1, max_size=3, unique=True)
)
grant_lists = st.one_of(
    st.just([]), st.lists(st.sampled_from(GRANTS), min_size=1, max_size=2, unique_by=repr)
)
reach_fields = st.fixed_dictionaries(
    {
        "scopes": scope_lists,
        "endpoints": grant_lists,
        "key_type": st.sampled_from(TYPES),
        "tenant": st.sampled_from((None, "a", "b")),
        "allowed_ips": st.lists(st.sampled_from(NETWORKS), max_size=2, unique=True),
        "expires_in_days": st.sampled_from(EXPIRY_DAYS),
        "rate_limit": st.sampled_from(RATE_LIMITS),
        "key_manager": st.booleans(),
    }
)
LIST_FIELDS = ("scopes", "endpoints", "allowed_ips")


@st.composite
def near(draw, base: dict) -> dict:
    """``base`` with one field drawn afresh and the list fields perhaps narrowed.

    Pairs one field away from "within" are where a rule that forgets a field shows.
    """
    fresh = draw(reach_fields)
    redrawn = {draw(st.sampled_from(sorted(base)))}
    spec = {}
    for name, value in base.items():
        if name in redrawn:
            spec[name] = fresh[name]
        elif name in LIST_FIELDS and value and draw(st.booleans()):
            spec[name] = [item for item in value if draw(st.booleans())]
        else:
            spec[name] = value
    return spec


@st.composite
def actor_and_target(draw) -> tuple[dict, dict]:
    # A key manager with grants and no scopes is drawn often: it is SPEC §9's named case.
    actor = draw(st.one_of(reach_fields, reach_fields.map(lambda spec: {**spec, "scopes": []})))
    independent = draw(st.integers(0, 3)) == 0
    return actor, draw(reach_fields if independent else near(actor))


changes = st.fixed_dictionaries(
    {},
    optional={
        "scopes": scope_lists,
        "endpoints": grant_lists,
        "allowed_ips": st.lists(st.sampled_from(NETWORKS), max_size=2, unique=True),
        "rate_limit": st.sampled_from(RATE_LIMITS),
        "expires_in_days": st.sampled_from(EXPIRY_DAYS),
    },
)


class World:
    """An owner (staff or not) in two tenants, and a staff operator who sets keys up."""

    def __init__(self, owner_is_staff: bool):
        self.now = timezone.now()  # one clock for every expiry of the example
        self.owner = (StaffUserFactory if owner_is_staff else UserFactory)()
        self.operator = StaffUserFactory()
        self.tenants = {"a": TenantFactory(), "b": TenantFactory()}
        for tenant in self.tenants.values():
            MembershipFactory(user=self.owner, tenant=tenant)

    def fields(self, spec: dict) -> dict:
        """Service keywords for ``spec``, made to obey the rules of SPEC §3 that are not §9's."""
        spec = copy.deepcopy(spec)
        if not self.owner.is_staff:
            spec["scopes"] = [s for s in spec["scopes"] if s != "admin"]
            if spec["key_type"] == "admin":
                spec["key_type"] = "production"
        elif "admin" in spec["scopes"]:
            spec["key_type"] = "admin"
        if spec["key_type"] == "restricted" and not (spec["scopes"] or spec["endpoints"]):
            spec["scopes"] = ["agents:read"]
        days = spec.pop("expires_in_days")
        spec["expires_at"] = None if days is None else self.now + timedelta(days=days)
        tenant = spec.pop("tenant")
        spec["tenant"] = self.tenants[tenant] if tenant else None
        return spec

    def key(self, spec: dict, **overrides) -> ApiKey:
        """A key set up by the staff operator (who may raise limits and make admin keys)."""
        fields = {**self.fields(spec), **overrides}
        api_key, _ = services.api_key_create(
            user=self.owner, created_by=self.operator, name="generated", **fields
        )
        return ApiKey.objects.select_related("user").get(pk=api_key.pk)


def assert_within(actor: ApiKey, target: ApiKey, context) -> None:
    """The oracle: nothing ``target`` may do is beyond ``actor``."""
    acting, targeted = principal_for_key(actor), principal_for_key(target)
    for path in PROBE_PATHS:
        rules = route_rules(path)
        for method in PROBE_METHODS:
            for ip in PROBE_IPS:
                probe = {"method": method, "path": path, "ip": ip, **rules}
                if authorize(targeted, **probe).allowed:
                    assert authorize(acting, **probe).allowed, (method, path, ip, context)
    # SPEC §9 in its own words, where authorize alone cannot tell (read:all inside a grant):
    # a key with grants and no scopes holds no scope, so it gives none.
    assert actor.scopes or not actor.endpoints or not target.scopes, context
    assert actor.tenant_id is None or target.tenant_id == actor.tenant_id, context
    assert actor.expires_at is None or (
        target.expires_at is not None and target.expires_at <= actor.expires_at
    ), context
    assert rate_limit_within(
        limits.effective_rate_limit(target), limits.effective_rate_limit(actor)
    ), context
    assert actor.key_manager or not target.key_manager, context
    assert TYPES.index(target.key_type) <= TYPES.index(actor.key_type), context


def stored(api_key: ApiKey) -> tuple:
    fresh = ApiKey.objects.filter(pk=api_key.pk).first()
    if fresh is None:
        return ()
    return (
        fresh.scopes,
        fresh.endpoints,
        fresh.key_type,
        fresh.tenant_id,
        fresh.allowed_ips,
        fresh.expires_at,
        fresh.rate_limit,
        fresh.key_manager,
        fresh.is_active,
    )


GENERATED = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@GENERATED
@given(
    owner_is_staff=st.booleans(),
    pair=actor_and_target(),
    action=st.sampled_from(ACTIONS),
    change=changes,
)
def test_no_lifecycle_action_leaves_a_key_wider_than_the_acting_key(
    owner_is_staff, pair, action, change
):
    actor_spec, target_spec = pair
    world = World(owner_is_staff)
    actor = world.key(actor_spec, key_manager=True)
    principal = principal_for_key(actor)
    context = {"action": action, "actor": actor_spec, "target": target_spec, "change": change}

    target = None if action == "create" else world.key(target_spec)
    if action == "activate":
        ApiKey.objects.filter(pk=target.pk).update(is_active=False)
        target.refresh_from_db()
    before = copy.copy(target)
    keys_before = ApiKey.objects.count()
    state_before = stored(target) if target else ()

    try:
        if action == "create":
            created, _ = services.api_key_create(
                user=world.owner,
                created_by=world.owner,
                creator=principal,
                name="minted",
                **world.fields(target_spec),
            )
            after = [created]
        elif action == "update":
            fields = world.fields({**target_spec, **change})
            wanted = {name: fields[name] for name in change if name != "expires_in_days"}
            if "expires_in_days" in change:
                wanted["expires_at"] = fields["expires_at"]
            after = [
                services.api_key_update(
                    api_key=target, changes=wanted, actor=world.owner, creator=principal
                )
            ]
        elif action == "activate":
            after = [services.api_key_activate(api_key=target, creator=principal)]
        elif action == "revoke":
            after = [services.api_key_revoke(api_key=target, creator=principal)]
        elif action == "rotate":
            successor, _ = services.api_key_rotate(api_key=target, creator=principal)
            after = [successor]
        else:
            services.api_key_delete(api_key=target, creator=principal)
            after = []
    except DomainError as refused:
        event(f"{action}: refused {refused.detail[:50]}")
        assert 400 <= status_of(refused) < 500, (refused, context)
        assert ApiKey.objects.count() == keys_before, context
        assert (stored(target) if target else ()) == state_before, context
        return

    event(f"{action}: done")
    for target_key in ([before] if before is not None else []) + after:
        assert_within(actor, target_key, context)


def rate_limit_within(rate_limit: dict, bound: dict) -> bool:
    """The oracle's own reading of "no window above the actor's" (not the rule's code)."""
    for window in limits.WINDOWS:
        limit, ceiling = rate_limit.get(window), bound.get(window)
        if ceiling is not None and (limit is None or limit > ceiling):
            return False
    return True
