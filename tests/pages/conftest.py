import pytest
from django.test import Client

from tenants.models import Membership
from tests.factories import ApiKeyFactory, MembershipFactory, UserFactory


@pytest.fixture
def user(db):
    """A user with a personal tenant they own, as registration makes."""
    user = UserFactory()
    MembershipFactory(user=user, role=Membership.Role.OWNER, tenant__name="Personal")
    return user


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def csrf_client(user):
    """A browser-like client: logged in, and held to CSRF checks."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


@pytest.fixture
def make_key(user):
    def make(owner=None, **kwargs):
        kwargs.setdefault("name", "Billing service")
        owner = owner or user
        return ApiKeyFactory(user=owner, created_by=owner, **kwargs)

    return make


@pytest.fixture
def api_key(make_key):
    return make_key(scopes=["agents:read"])
