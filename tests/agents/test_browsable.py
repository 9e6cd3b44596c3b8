"""Every tenants and agents endpoint is browsable and answers OPTIONS, never with a 5xx."""

import pytest

from tenants.models import Membership
from tests.factories import AgentFactory, MembershipFactory
from tests.tenants.helpers import client_for, jwt_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def paths():
    membership = MembershipFactory(role=Membership.Role.OWNER)
    agent = AgentFactory(tenant=membership.tenant)
    tenant = f"/api/v1/tenants/{membership.tenant.pk}"
    return membership.user, [
        "/api/v1/agents",
        f"/api/v1/agents/{agent.pk}",
        f"/api/v1/agents/{agent.pk}/run",
        "/api/v1/tenants",
        tenant,
        f"{tenant}/members",
        f"{tenant}/members/{membership.user.pk}",
    ]


def test_every_endpoint_answers_options_with_its_actions(paths):
    user, urls = paths
    client = client_for(jwt_for(user))

    for url in urls:
        response = client.options(url)

        assert response.status_code == 200, url
        assert response.json()["name"]


def test_every_endpoint_renders_in_the_browsable_api(paths):
    user, urls = paths
    client = client_for(jwt_for(user))

    for url in urls:
        response = client.get(url, HTTP_ACCEPT="text/html")

        assert response.status_code in (200, 405), url
        assert response["Content-Type"].startswith("text/html"), url
