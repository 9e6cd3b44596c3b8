import pytest

from notifications.crypto import decrypt_secret
from notifications.models import Webhook
from notifications.services import webhook_create
from tenants.models import Membership
from tests.factories import MembershipFactory, UserFactory
from tests.notifications.helpers import Receiver

USER_WEBHOOKS = "/api/v1/user/webhooks"


@pytest.fixture
def allow_loopback(settings):
    """The receivers of these tests listen on 127.0.0.1, which the SSRF guard refuses."""
    settings.KEYWARD_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def owner(db):
    user = UserFactory()
    MembershipFactory(user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


def user_webhook(user, url, events=()) -> tuple[Webhook, str]:
    return webhook_create(url=url, events=events, user=user, actor=user)


def secret_of(webhook: Webhook) -> str:
    return decrypt_secret(webhook.secret_encrypted)
