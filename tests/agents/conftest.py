from types import SimpleNamespace

import pytest

from tenants.models import Membership
from tests.factories import AgentFactory, MembershipFactory, TenantFactory, UserFactory


@pytest.fixture
def world(db):
    """Two tenants with one agent each: ``alice`` in a, ``bob`` in b, ``carol`` in both."""
    a, b = TenantFactory(name="A"), TenantFactory(name="B")
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    MembershipFactory(tenant=a, user=alice, role=Membership.Role.OWNER)
    MembershipFactory(tenant=b, user=bob, role=Membership.Role.OWNER)
    MembershipFactory(tenant=a, user=carol)
    MembershipFactory(tenant=b, user=carol)
    return SimpleNamespace(
        a=a,
        b=b,
        alice=alice,
        bob=bob,
        carol=carol,
        agent_a=AgentFactory(tenant=a, name="agent of a"),
        agent_b=AgentFactory(tenant=b, name="agent of b"),
    )
