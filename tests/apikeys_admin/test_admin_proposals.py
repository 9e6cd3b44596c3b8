"""Shadow proposals in the admin (SPEC §12): shown on the key's page, read only."""

import pytest
from django.test import Client

from apikeys.models import Proposal
from apikeys.shadow import proposal_create
from tests.apikeys_admin.conftest import ADMIN
from tests.factories import issued_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def proposal(member):
    api_key, raw = issued_key(member, scopes=["orders:read", "widgets:read"])
    proposal = proposal_create(api_key=api_key, changes={"scopes": ["widgets:read"]}, actor=member)
    Client().get(
        "/api/v1/auth/check",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
        HTTP_X_ORIGINAL_URI="/api/v1/orders/7",
    )
    return proposal


def test_the_key_page_lists_its_proposals_with_exact_figures(admin_client, proposal):
    response = admin_client.get(f"{ADMIN}{proposal.api_key_id}/change/")

    content = response.content.decode()
    assert "would refuse 1 of 1 judged" in content
    assert f"/admin/apikeys/proposal/{proposal.pk}/change/" in content


def test_a_proposal_page_is_read_only(admin_client, proposal):
    response = admin_client.get(f"/admin/apikeys/proposal/{proposal.pk}/change/")
    posted = admin_client.post(
        f"/admin/apikeys/proposal/{proposal.pk}/change/", {"judged": 0, "would_refuse": 0}
    )

    assert response.status_code == 200
    assert "/api/v1/orders/7" in response.content.decode()
    assert posted.status_code == 403
    assert Proposal.objects.get(pk=proposal.pk).would_refuse == 1
