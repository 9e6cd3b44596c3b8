"""Moving a key's buffered shadow figures and routes into the database, with usage.

``apikeys.usage.usage_flush`` calls ``shadow_flush`` for every key with some, and every read
of them (proposals, suggestion, admin) flushes its key first, so what it shows is exact.
"""

import logging
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count

from apikeys.models import MAX_ROUTE_LENGTH, ApiKey, ApiKeyRoute, Proposal
from audit.services import audit_record
from core.cache import CACHE_ERRORS
from metering import backends
from metering.backends import MAX_ROUTES_PER_DAY, RECENT_MAX

logger = logging.getLogger(__name__)

SPIKE_EVENT = "api_key.proposal_would_refuse_spike"


def shadow_flush(key_id: str) -> None:
    """Move a key's buffered shadow figures and routes into the database; put back on failure.

    Called by ``apikeys.usage.usage_flush`` for each key with some, and before every read of
    them. A failure to write is logged, not raised: the usage beside it is flushed already.
    """
    backend = backends.active()
    pending = backend.shadow_take(key_id)
    if not pending:
        return
    try:
        _apply(key_id, pending)
    except Exception:
        backend.shadow_restore(key_id, pending)
        logger.exception("shadow flush failed for key %s; buffer restored", key_id)


def shadow_flush_quietly(key_id) -> None:
    """Flush before a read, so it shows exact figures; a cache outage must not break the read."""
    try:
        shadow_flush(str(key_id))
    except CACHE_ERRORS:
        logger.warning("shadow flush skipped: cache unavailable")


@transaction.atomic
def _apply(key_id: str, pending: backends.ShadowPending) -> None:
    api_key = ApiKey.objects.filter(pk=key_id).first()
    if api_key is None:
        return  # deleted meanwhile: its proposals and routes went with it
    if pending.judged:
        _apply_proposals(api_key, pending)
    if pending.observed:
        _apply_routes(api_key, pending.observed)


def _apply_proposals(api_key: ApiKey, pending: backends.ShadowPending) -> None:
    recent = defaultdict(list)
    for entry in pending.recent:
        parts = entry.split("\t")
        if len(parts) != 6:
            continue
        proposal_id, method, path, ip, rule, at = parts
        recent[proposal_id].append(
            {
                "method": method,
                "path": path,
                "ip": ip or None,
                "rule": rule,
                "at": datetime.fromtimestamp(int(at), tz=UTC).isoformat(),
            }
        )
    ids = [pid for pid in pending.judged if _is_uuid(pid)]
    proposals = Proposal.objects.select_for_update().filter(api_key=api_key, pk__in=ids)
    for proposal in proposals:
        pid = str(proposal.pk)
        proposal.judged += pending.judged.get(pid, 0)
        proposal.would_refuse += pending.refused.get(pid, 0)
        proposal.recent = (recent[pid] + list(proposal.recent or ()))[:RECENT_MAX]
        fields = ["judged", "would_refuse", "recent"]
        level = spike_level(proposal.would_refuse)
        if level > proposal.spike_level:
            proposal.spike_level = level
            fields.append("spike_level")
            _record_spike(api_key, proposal, level)
        proposal.save(update_fields=fields)


def spike_threshold() -> int:
    return settings.KEYWARD_PROPOSAL_SPIKE_THRESHOLD


def spike_level(would_refuse: int) -> int:
    """The highest of the threshold, ten times it, a hundred times… reached; 0 for none."""
    level, threshold = 0, spike_threshold()
    if threshold <= 0:
        return 0
    while would_refuse >= threshold:
        level, threshold = threshold, threshold * 10
    return level


def _record_spike(api_key: ApiKey, proposal: Proposal, level: int) -> None:
    """Once per level crossed: notifications turn the audit event into a webhook."""
    audit_record(
        event_type=SPIKE_EVENT,
        target=api_key,
        tenant_id=api_key.tenant_id,
        data={
            "proposal_id": str(proposal.pk),
            "key_prefix": api_key.key_prefix,
            "threshold": level,
            "would_refuse": proposal.would_refuse,
            "judged": proposal.judged,
        },
    )


def _apply_routes(api_key: ApiKey, observed) -> None:
    by_day = defaultdict(set)
    for entry in observed:
        day, _, route = entry.partition("\t")
        method, _, path = route.partition(" ")
        if day and method and path and len(path) <= MAX_ROUTE_LENGTH:
            by_day[date.fromisoformat(day)].add((method, path))
    known = dict(
        ApiKeyRoute.objects.filter(api_key=api_key, date__in=list(by_day))
        .values("date")
        .annotate(n=Count("id"))
        .values_list("date", "n")
    )
    rows = []
    for day, routes in by_day.items():
        existing = set(
            ApiKeyRoute.objects.filter(api_key=api_key, date=day).values_list("method", "path")
        )
        room = MAX_ROUTES_PER_DAY - known.get(day, 0)
        for method, path in sorted(routes - existing)[: max(room, 0)]:
            rows.append(ApiKeyRoute(api_key=api_key, date=day, method=method, path=path))
    ApiKeyRoute.objects.bulk_create(rows, ignore_conflicts=True)


def _is_uuid(value: str) -> bool:

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
