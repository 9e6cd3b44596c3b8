"""Writes on agents. Every change writes the audit log, tagged with the agent's tenant."""

from django.db import transaction

from agents.models import Agent
from audit.services import audit_record
from tenants.models import Tenant


@transaction.atomic
def agent_create(
    *, tenant: Tenant, name: str, description: str = "", actor=None, request=None
) -> Agent:
    agent = Agent.objects.create(
        tenant=tenant,
        name=name,
        description=description,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        event_type="agent.created",
        request=request,
        target=agent,
        tenant_id=tenant.pk,
        data={"name": agent.name},
    )
    return agent


@transaction.atomic
def agent_update(*, agent: Agent, request=None, **changes) -> Agent:
    """Change ``name`` and/or ``description``."""
    changed = {field: value for field, value in changes.items() if getattr(agent, field) != value}
    if not changed:
        return agent
    for field, value in changed.items():
        setattr(agent, field, value)
    agent.save(update_fields=[*changed, "updated_at"])
    audit_record(
        event_type="agent.updated",
        request=request,
        target=agent,
        tenant_id=agent.tenant_id,
        data={"fields": sorted(changed)},
    )
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent, request=None) -> None:
    audit_record(
        event_type="agent.deleted",
        request=request,
        target=agent,
        tenant_id=agent.tenant_id,
        data={"name": agent.name},
    )
    agent.delete()
