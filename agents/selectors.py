"""The only way views reach agents: always through the tenant the request resolved to.

An agent of another tenant and an id that names no agent answer alike (404 ``not_found``),
so a caller learns nothing about other tenants' data.
"""

import uuid

from django.db.models import QuerySet

from agents.models import Agent
from core.domain_errors import NotFound
from tenants.models import Tenant


def agent_list(*, tenant: Tenant) -> QuerySet:
    return Agent.objects.filter(tenant=tenant)


def agent_get(*, tenant: Tenant, agent_id) -> Agent:
    """The tenant's agent ``agent_id``; 404 ``not_found`` for any other id, malformed or not."""
    try:
        pk = agent_id if isinstance(agent_id, uuid.UUID) else uuid.UUID(str(agent_id))
    except ValueError:
        pk = None
    agent = Agent.objects.filter(tenant=tenant, pk=pk).first() if pk is not None else None
    if agent is None:
        raise NotFound("Agent not found.", code="not_found")
    return agent
