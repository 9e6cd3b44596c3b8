"""factory-boy factories for test data. API keys are made through the real service."""

import factory
from django.contrib.auth import get_user_model

from tenants.models import Membership, Tenant

DEFAULT_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = "Ada"
    last_name = "Lovelace"
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffUserFactory(UserFactory):
    is_staff = True


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MEMBER


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "agents.Agent"

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Agent {n}")
    description = "A demo agent."


class ServiceClientFactory(factory.django.DjangoModelFactory):
    """A service client made through the real service; ``raw_secret`` holds its secret."""

    class Meta:
        model = "oauth.ServiceClient"

    name = factory.Sequence(lambda n: f"Service {n}")
    scopes = factory.LazyFunction(lambda: ["read:all"])
    tenant = None
    created_by = None

    @classmethod
    def _create(cls, model_class, *args, is_active=True, **kwargs):
        from oauth.services import service_client_create

        client, raw_secret = service_client_create(**kwargs)
        if not is_active:
            client.is_active = False
            client.save(update_fields=["is_active"])
        client.raw_secret = raw_secret
        return client


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """An API key issued through ``api_key_create``; ``raw_key`` holds its secret.

    The service does the hashing, the prefix and the rules, so a test key is one any door
    could have issued. ``raw_key`` is set on the returned object only, never stored. Pass
    ``is_active=False`` for a key revoked after it was issued (the service issues active keys).
    """

    class Meta:
        model = "apikeys.ApiKey"

    user = factory.SubFactory(UserFactory)
    name = "test key"

    @classmethod
    def _create(cls, model_class, *args, is_active=True, **kwargs):
        from apikeys.services import api_key_create

        api_key, raw_key = api_key_create(**kwargs)
        if not is_active:
            api_key.is_active = False
            api_key.save(update_fields=["is_active"])
        api_key.raw_key = raw_key
        return api_key

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise TypeError("ApiKeyFactory only creates: a key exists once the service issues it.")


def issued_key(user=None, **fields):
    """``ApiKeyFactory`` returning the pair the service returns: ``(api_key, raw_key)``."""
    if user is not None:
        fields["user"] = user
    api_key = ApiKeyFactory(**fields)
    return api_key, api_key.raw_key
