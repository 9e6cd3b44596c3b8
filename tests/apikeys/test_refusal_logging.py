"""SPEC §9: refusals are counted, not logged one line each, and logging obeys ``LOG_LEVEL``.

Each test installs the ``LOGGING`` that ``LOG_LEVEL`` would give (``config.logging``), as the
server does at start, and listens where its console handler writes: the root logger.
"""

import logging
import logging.config

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from apikeys import crypto
from apikeys.api import ApiKeyInfoView
from config.logging import logging_config
from tests.apikeys.conftest import INFO_URL, key_client, make_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_level(caplog):
    """Configure logging for a ``LOG_LEVEL``; restore the settings' configuration afterwards."""

    def configure(level: str) -> None:
        logging.config.dictConfig(logging_config(level))
        logging.getLogger().addHandler(caplog.handler)  # dictConfig replaced the root's

    yield configure
    logging.config.dictConfig(settings.LOGGING)


def refused_requests():
    """A refusal of each kind: no credential, an invented key, a malformed header."""
    yield APIClient().get(INFO_URL)
    yield key_client(crypto.generate_key()).get(INFO_URL)
    yield key_client("kw_short").get(INFO_URL)
    yield APIClient().get(INFO_URL, HTTP_AUTHORIZATION="Digest realm=x")


@pytest.mark.parametrize("level", ["INFO", "WARNING", "ERROR"])
def test_refused_requests_write_no_log_line(caplog, log_level, level):
    log_level(level)

    statuses = [response.status_code for response in refused_requests()]

    assert set(statuses) == {401}
    assert caplog.records == []


def test_a_forbidden_request_writes_no_log_line(caplog, log_level, user):
    log_level("WARNING")
    _, raw = make_api_key(user, allowed_ips=["10.0.0.0/8"])

    assert key_client(raw).get(INFO_URL, REMOTE_ADDR="192.0.2.1").status_code == 403
    assert caplog.records == []


@pytest.mark.parametrize("level", ["WARNING", "ERROR"])
def test_a_server_error_is_still_logged(caplog, log_level, user, monkeypatch, level):
    log_level(level)
    _, raw = make_api_key(user)
    monkeypatch.setattr(ApiKeyInfoView, "get", lambda *args, **kwargs: 1 / 0)
    client = key_client(raw)
    client.raise_request_exception = False

    assert client.get(INFO_URL).status_code == 500
    assert [(r.name, r.levelname) for r in caplog.records] == [("django.request", "ERROR")]


def test_log_level_error_holds_back_djangos_own_warnings(caplog, log_level):
    log_level("ERROR")

    logging.getLogger("django.security.csrf").warning("Forbidden (CSRF cookie not set.)")
    logging.getLogger("django.db.backends").warning("a slow query")

    assert caplog.records == []
