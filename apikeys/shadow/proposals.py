"""Proposals: made, applied and dropped under the rules of a key PATCH (SPEC §12)."""

import copy

from django.db import transaction
from django.utils import timezone

from apikeys import rules as key_rules
from apikeys import services
from apikeys.models import ApiKey, Proposal
from apikeys.shadow.flush import shadow_flush_quietly
from audit.services import audit_record
from core.domain_errors import Conflicting, Invalid

PROPOSABLE = ("scopes", "endpoints", "allowed_ips", "rate_limit")
MAX_ACTIVE_PROPOSALS = 5  # per key: each is judged on every request


def proposal_create(
    *, api_key: ApiKey, changes: dict, actor=None, creator=None, request=None
) -> Proposal:
    """Propose ``changes``; refused as the same PATCH would be refused now (SPEC §12)."""
    unknown = set(changes) - set(PROPOSABLE)
    if unknown or not changes:
        raise Invalid(
            {"non_field_errors": ["Propose one or more of: " + ", ".join(PROPOSABLE) + "."]}
        )
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().select_related("user").get(pk=api_key.pk)
        if _active(api_key).count() >= MAX_ACTIVE_PROPOSALS:
            raise Invalid(
                {
                    "non_field_errors": [
                        f"At most {MAX_ACTIVE_PROPOSALS} proposals per key are watched at once: "
                        "apply or delete one first."
                    ]
                }
            )
        services.api_key_change(copy.copy(api_key), dict(changes), actor=actor, creator=creator)
        proposal = Proposal.objects.create(
            api_key=api_key, changes=dict(changes), created_by=_user_or_none(actor)
        )
        _publish(api_key)
        audit_record(
            event_type="api_key.proposal_created",
            request=request,
            actor=actor,
            target=api_key,
            tenant_id=api_key.tenant_id,
            data={"proposal_id": str(proposal.pk), "changes": proposal.changes},
        )
    return proposal


def proposal_apply(*, proposal: Proposal, actor=None, creator=None, request=None) -> Proposal:
    """Make the proposal live: a PATCH of the key through ``services.api_key_update``."""
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
        if proposal.applied_at is not None:
            raise Conflicting("This proposal has already been applied.", code="already_applied")
        api_key = services.api_key_update(
            api_key=proposal.api_key,
            changes=dict(proposal.changes),
            actor=actor,
            creator=creator,
            request=request,
        )
        proposal.applied_at = timezone.now()
        proposal.save(update_fields=["applied_at"])
        _publish(api_key)
        audit_record(
            event_type="api_key.proposal_applied",
            request=request,
            actor=actor,
            target=api_key,
            tenant_id=api_key.tenant_id,
            data={"proposal_id": str(proposal.pk), "changes": proposal.changes},
        )
    return proposal


def proposal_delete(*, proposal: Proposal, actor=None, creator=None, request=None) -> None:
    """Stop watching the proposal and drop it (its figures go with it)."""
    key_rules.check_escalation(creator, proposal.api_key)  # as a PATCH of the key would
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().get(pk=proposal.api_key_id)
        proposal_id = str(proposal.pk)
        proposal.delete()
        _publish(api_key)
        audit_record(
            event_type="api_key.proposal_deleted",
            request=request,
            actor=actor,
            target=api_key,
            tenant_id=api_key.tenant_id,
            data={"proposal_id": proposal_id},
        )


def proposals_fresh(api_key: ApiKey):
    """The key's proposals with their figures exact: the buffered ones are flushed first."""
    shadow_flush_quietly(api_key.pk)
    return Proposal.objects.filter(api_key_id=api_key.pk)


def _active(api_key: ApiKey):
    return Proposal.objects.filter(api_key_id=api_key.pk, applied_at__isnull=True)


def _publish(api_key: ApiKey) -> None:
    """Copy the active proposals onto the key's row, and have every node reload it.

    A proposal narrows nothing by itself, so the reload is best effort (as a new membership's;
    ``ApiKeyQuerySet.update`` and ``apikeys.signals.BEST_EFFORT_FIELDS``).
    """
    active = [
        {"id": str(pk), "changes": changes}
        for pk, changes in _active(api_key)
        .order_by("created_at", "id")
        .values_list("id", "changes")
    ]
    ApiKey.objects.filter(pk=api_key.pk).update(shadow=active)  # re-read everywhere


def _user_or_none(actor):
    return actor if getattr(actor, "pk", None) else None
