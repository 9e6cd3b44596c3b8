"""Schemathesis against the published schema, in process, with every check (SPEC §11).

Every operation of ``/api/v1/schema/`` is fuzzed twice — anonymously and with an admin key of a
tenant — through the WSGI application, with the checks of the CLI's ``--checks all``: no server
error, every status, content type, header and body as the schema declares, valid data
accepted and auth never ignored. ``schemathesis.toml`` beside this file names the operations
whose refusal of schema-valid data is a rule no schema can state. The limits are raised for
the run so the fuzzer reaches the views instead of the 429s in front of them. Examples per
operation are few, to keep the run within two minutes on two cores; raise
``KEYWARD_SCHEMATHESIS_EXAMPLES`` for a deeper run.
"""

import os
from pathlib import Path

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.config import SchemathesisConfig

from config.wsgi import application
from tests.factories import MembershipFactory, StaffUserFactory, issued_key

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("KEYWARD_SCHEMATHESIS_EXAMPLES", "3"))
# The CLI's ``--checks all``, ``negative_data_rejection`` included: every string field takes only
# strings (``core.serializers.StrictCharField``), so ``"description": 0`` is a 400, not ``"0"``.
CHECKS = REGISTERED_CHECKS.get_all()
CONFIG = SchemathesisConfig.from_path(Path(__file__).with_name("schemathesis.toml"))
UNLIMITED = "1000000/m"


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Serve requests on the test's connection, as ``django.test.Client`` does.

    Schemathesis calls the WSGI app directly, so ``request_started``/``request_finished`` would
    close the connection that holds the test's transaction.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _unlimited(settings):
    for name in (
        "KEYWARD_ANON_RATE_PER_IP",
        "KEYWARD_LOGIN_RATE_PER_EMAIL",
        "KEYWARD_LOGIN_RATE_PER_IP",
        "KEYWARD_REGISTER_RATE_PER_IP",
        "KEYWARD_OAUTH_TOKEN_RATE_PER_CLIENT",
        "KEYWARD_OAUTH_TOKEN_RATE_PER_IP",
        "KEYWARD_BOOTSTRAP_RATE_PER_IP",
        "KEYWARD_KEY_CREATE_RATE_PER_USER",
    ):
        setattr(settings, name, UNLIMITED)


@pytest.fixture
def admin_key():
    staff = StaffUserFactory()
    # With a tenant, so tenant-scoped operations (agents) are reached without X-Tenant-Id.
    tenant = MembershipFactory(user=staff, role="owner").tenant
    _, raw = issued_key(
        user=staff,
        tenant=tenant,
        name="schemathesis",
        key_type="admin",
        scopes=["admin"],
        rate_limit={"per_minute": 1_000_000, "per_hour": 10_000_000},
    )
    return raw


# Loaded at collection, from the app itself. (``schemathesis.pytest.from_fixture`` would defer
# this to a fixture, but 4.32 reads ``Function._nodeid``, which pytest 9 no longer has.)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application, config=CONFIG)

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@fuzz
def test_anonymous_calls_never_get_a_server_error(case):
    case.call_and_validate(checks=CHECKS)


@schema.parametrize()
@fuzz
def test_admin_key_calls_never_get_a_server_error_and_auth_is_enforced(case, admin_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_key}"}, checks=CHECKS)
