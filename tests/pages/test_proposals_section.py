"""The key page's proposals section (SPEC §12): what would break, suggest, apply, drop."""

import pytest

from apikeys.models import ApiKey, Proposal
from apikeys.shadow import proposal_create

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/auth/check"


def check(client, raw, path):
    return client.get(CHECK, HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_X_ORIGINAL_URI=path)


def test_the_key_page_shows_what_a_proposal_would_break(logged_in, make_key, user):
    api_key = make_key(scopes=["orders:read", "widgets:read"])
    proposal_create(api_key=api_key, changes={"scopes": ["widgets:read"]}, actor=user)
    check(logged_in, api_key.raw_key, "/api/v1/orders/7")

    content = logged_in.get(f"/keys/{api_key.pk}").content.decode()

    assert 'id="proposals"' in content
    assert '<strong class="would-refuse">1</strong> of 1 request' in content
    assert "<code>scopes</code>" in content
    assert "GET /api/v1/orders/7" in content


def test_suggest_least_privilege_makes_a_proposal_from_the_traffic(logged_in, make_key):
    api_key = make_key()  # full access
    check(logged_in, api_key.raw_key, "/api/v1/orders/7")

    response = logged_in.post(f"/keys/{api_key.pk}/proposals/suggest")

    assert response.status_code == 303
    assert Proposal.objects.get(api_key=api_key).changes == {
        "scopes": ["orders:read"],
        "endpoints": [{"path": "/api/v1/orders/7", "methods": ["GET"]}],
    }


def test_apply_and_drop_by_form(logged_in, make_key, user):
    api_key = make_key(scopes=["orders:read", "widgets:read"])
    kept = proposal_create(api_key=api_key, changes={"scopes": ["widgets:read"]}, actor=user)
    dropped = proposal_create(api_key=api_key, changes={"allowed_ips": ["10.0.0.0/8"]}, actor=user)

    logged_in.post(f"/keys/{api_key.pk}/proposals/{dropped.pk}/delete")
    logged_in.post(f"/keys/{api_key.pk}/proposals/{kept.pk}/apply")

    assert ApiKey.objects.get(pk=api_key.pk).scopes == ["widgets:read"]
    assert list(Proposal.objects.values_list("pk", flat=True)) == [kept.pk]


def test_another_users_proposal_is_404(logged_in, make_key):
    from tests.factories import UserFactory

    other = UserFactory()
    api_key = make_key(owner=other, scopes=["orders:read", "widgets:read"])
    proposal = proposal_create(api_key=api_key, changes={"scopes": ["widgets:read"]}, actor=other)

    response = logged_in.post(f"/keys/{api_key.pk}/proposals/{proposal.pk}/apply")

    assert response.status_code == 404
