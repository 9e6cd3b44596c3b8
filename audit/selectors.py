"""Reads of the audit log."""

from django.db.models import Q

from audit.models import AuditEvent


def audit_event_list(
    *,
    actor: str | None = None,
    event_type: str | None = None,
    outcome: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    tenant_id=None,
    since=None,
    until=None,
):
    queryset = AuditEvent.objects.select_related("actor")
    if actor:
        queryset = (
            queryset.filter(actor_id=int(actor))
            if actor.isascii() and actor.isdigit()
            else queryset.filter(Q(actor_email__iexact=actor) | Q(actor_key_prefix=actor))
        )
    exact = {
        "event_type": event_type,
        "outcome": outcome,
        "target_type": target_type,
        "target_id": target_id,
        "tenant_id": tenant_id,
    }
    queryset = queryset.filter(**{field: value for field, value in exact.items() if value})
    if since:
        queryset = queryset.filter(created_at__gte=since)
    if until:
        queryset = queryset.filter(created_at__lt=until)
    return queryset
