"""Shadow restrictions and least-privilege suggestions (SPEC §12): keys that tighten themselves.

A *proposal* is a change to a key — any of ``scopes``, ``endpoints``, ``allowed_ips``,
``rate_limit`` — that runs in report-only mode. Every request made with the key is judged by the
live rules and by each active proposal; only the live rules decide. A request the live rules
admit and a proposal refuses is a *would-be refusal*: counted, and remembered with its method,
normalised path, client IP and the rule that would refuse it (the last 1,000 per key).

**No cost on the hot path.** The active proposals ride the key's row (``ApiKey.shadow``, kept
in step by ``proposals``), so the one indexed probe that authenticates a key brings them, and
the verified record cached per key (``metering.verified``) carries them; creating, applying
or deleting a proposal moves the key's generation on, so every node reloads it. The verdicts
ride the per-request counting script (``metering.backends``: its shadow block), which also counts a
proposal's own rate windows (counted, never enforced) and remembers the key's (method, route)
of the day for the suggestion. Nothing is written to the database per request: the figures are
flushed with usage (``apikeys.usage``), and every read flushes first, so it is exact at once.

**Suggestion.** From the routes a key was seen calling over N days (``ApiKeyRoute``: the Django
URL pattern of Keyward's own API; for ``auth/check`` of another service, the normalised
forwarded path), the narrowest scopes and grants that admit all of them, within what the key
holds now, so that it can be proposed and applied as a PATCH.

Applying goes through ``services.api_key_update``: the same rules as a PATCH, the same
escalation rule (``identity.reach``), the same everywhere-or-nowhere change.
"""

from apikeys.shadow.flush import SPIKE_EVENT, shadow_flush, shadow_flush_quietly, spike_level
from apikeys.shadow.judging import judge, shadow_for_request, shadow_for_verify
from apikeys.shadow.proposals import (
    MAX_ACTIVE_PROPOSALS,
    PROPOSABLE,
    proposal_apply,
    proposal_create,
    proposal_delete,
    proposals_fresh,
)
from apikeys.shadow.suggestion import (
    MAX_SUGGESTION_DAYS,
    api_key_routes_prune,
    suggestion_changes,
    suggestion_for,
)

__all__ = [
    "MAX_ACTIVE_PROPOSALS",
    "MAX_SUGGESTION_DAYS",
    "PROPOSABLE",
    "SPIKE_EVENT",
    "api_key_routes_prune",
    "judge",
    "proposal_apply",
    "proposal_create",
    "proposal_delete",
    "proposals_fresh",
    "shadow_flush",
    "shadow_flush_quietly",
    "shadow_for_request",
    "shadow_for_verify",
    "spike_level",
    "suggestion_changes",
    "suggestion_for",
]
