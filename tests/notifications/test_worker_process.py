"""The real ``manage.py db_worker`` command, in its own process, delivers a signed webhook.

PostgreSQL only: the worker process must see the rows this test commits, which needs a database
two processes share (the SQLite test database lives in this process's memory).
"""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from audit.services import audit_record
from notifications.crypto import verify_signature
from notifications.models import Delivery
from tests.factories import ApiKeyFactory
from tests.multinode.conftest import ROOT, database_url
from tests.notifications.conftest import user_webhook

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_loopback"),
]


def test_db_worker_process_delivers_the_event_signed(owner, receiver):
    _, secret = user_webhook(owner, receiver.url)
    api_key = ApiKeyFactory(user=owner)
    audit_record(event_type="api_key.leaked", target=api_key, data={"key_prefix": "x"})
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "KEYWARD_WEBHOOK_ALLOW_PRIVATE": "true",
    }

    subprocess.run(
        [sys.executable, "manage.py", "db_worker", "--batch", "--no-startup-delay", "--no-reload"],
        cwd=ROOT,
        env=env,
        timeout=120,
        check=True,
        capture_output=True,
    )

    (request,) = receiver.requests
    assert verify_signature(secret, request["body"], request["headers"]["Keyward-Signature"])
    assert receiver.events()[0]["type"] == "api_key.leaked"
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED
