"""The data migration that gives every user without a tenant a personal one."""

import importlib

import pytest
from django.apps import apps

from tenants.models import Membership, Tenant
from tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("tenants.migrations.0002_personal_tenants_for_existing_users")


def test_users_without_a_tenant_get_a_personal_one_they_own():
    ada = UserFactory(first_name="Ada", last_name="Lovelace")
    nameless = UserFactory(first_name="", last_name="", email="grace@example.com")

    migration.personal_tenants_create(apps, None)

    for user, name in [(ada, "Ada Lovelace's workspace"), (nameless, "grace's workspace")]:
        membership = Membership.objects.select_related("tenant").get(user=user)
        assert membership.role == Membership.Role.OWNER
        assert membership.tenant.name == name


def test_users_who_already_belong_somewhere_are_left_alone():
    member = UserFactory()
    MembershipFactory(user=member, role=Membership.Role.MEMBER)
    before = Tenant.objects.count()

    migration.personal_tenants_create(apps, None)

    assert Tenant.objects.count() == before
    assert Membership.objects.filter(user=member).count() == 1


def test_slugs_step_around_taken_ones():
    TenantFactory(slug="ada-lovelaces-workspace")
    first = UserFactory(first_name="Ada", last_name="Lovelace")
    second = UserFactory(first_name="Ada", last_name="Lovelace")

    migration.personal_tenants_create(apps, None)

    slugs = {Membership.objects.get(user=user).tenant.slug for user in (first, second)}
    assert slugs == {"ada-lovelaces-workspace-2", "ada-lovelaces-workspace-3"}
