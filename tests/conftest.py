import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only and Redis-only tests when the suite runs on the embedded default."""
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    on_redis = settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL")
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not on_redis:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters, usage buffers and cached keys must not leak between tests."""
    forget_everything()
    yield
    forget_everything()


def forget_everything():
    from accounts.authentication import forget_verified_access_tokens
    from accounts.sessions import forget_sessions
    from apikeys import known_keys
    from metering import backends, verified

    cache.clear()
    verified.clear()
    known_keys.reset()
    forget_verified_access_tokens()
    forget_sessions()
    backends.active.cache_clear()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"
