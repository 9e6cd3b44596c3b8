import pytest

from tenants.models import Membership
from tests.factories import MembershipFactory, StaffUserFactory, TenantFactory, UserFactory

Role = Membership.Role


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def member_with_role(tenant):
    """Make a user holding ``role`` in ``tenant`` who also owns a personal tenant."""

    def make(role, *, user=None):
        user = user or UserFactory()
        MembershipFactory(user=user, role=Role.OWNER)  # personal tenant, as registration makes
        MembershipFactory(tenant=tenant, user=user, role=role)
        return user

    return make


@pytest.fixture
def owner(member_with_role):
    return member_with_role(Role.OWNER)


@pytest.fixture
def admin(member_with_role):
    return member_with_role(Role.ADMIN)


@pytest.fixture
def member(member_with_role):
    return member_with_role(Role.MEMBER)


@pytest.fixture
def outsider(db):
    user = UserFactory()
    MembershipFactory(user=user, role=Role.OWNER)
    return user


@pytest.fixture
def staff(db):
    user = StaffUserFactory()
    MembershipFactory(user=user, role=Role.OWNER)
    return user
