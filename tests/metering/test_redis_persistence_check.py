"""``check --deploy`` warns when the Redis in use persists nothing (SPEC §10)."""

import pytest
from redis.exceptions import ResponseError

from metering import backends
from metering.checks import REDIS_PERSISTS_NOTHING, check_redis_persistence

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


def configured(monkeypatch, config):
    def persistence_config():
        if isinstance(config, Exception):
            raise config
        return config

    monkeypatch.setattr(backends.active(), "persistence_config", persistence_config)


def ids(messages):
    return [message.id for message in messages]


def test_a_redis_without_append_only_file_or_save_points_is_warned_about(monkeypatch):
    configured(monkeypatch, {"appendonly": "no", "save": ""})

    assert ids(check_redis_persistence()) == [REDIS_PERSISTS_NOTHING]


@pytest.mark.parametrize(
    "config",
    [{"appendonly": "yes", "save": ""}, {"appendonly": "no", "save": "3600 1 300 100 60 10000"}],
)
def test_a_redis_that_persists_passes(monkeypatch, config):
    configured(monkeypatch, config)

    assert check_redis_persistence() == []


def test_a_redis_that_refuses_config_is_not_judged(monkeypatch):
    configured(monkeypatch, ResponseError("unknown command 'CONFIG'"))

    assert check_redis_persistence() == []


def test_the_shared_redis_is_asked_for_real():
    config = backends.active().persistence_config()

    assert set(config) == {"appendonly", "save"}


def test_the_check_runs_with_check_deploy():
    from django.core import checks

    deploy_checks = checks.registry.registry.get_checks(include_deployment_checks=True)

    assert check_redis_persistence in deploy_checks
