import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient


def pytest_addoption(parser):
    parser.addoption(
        "--through-lane",
        action="store_true",
        help="send test client requests through the WSGI lane first (tests/lane/harness.py)",
    )


@pytest.fixture(autouse=True)
def _through_lane(request, monkeypatch):
    if request.config.getoption("--through-lane"):
        from tests.lane.harness import route_test_clients_through_lane

        route_test_clients_through_lane(monkeypatch)


def pytest_terminal_summary(terminalreporter, config):
    if config.getoption("--through-lane"):
        from tests.lane.harness import served

        terminalreporter.write_line(
            f"through the lane: {served['lane']} answered by the lane, "
            f"{served['django']} passed on to Django"
        )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "fuzz: a Hypothesis test (marked automatically); `make test-fast` leaves it out"
    )


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only and Redis-only tests when the suite runs on the embedded default.

    Mark every Hypothesis test ``fuzz``, so the fast run can leave the fuzzers out by marker.
    """
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    on_redis = settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL")
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL")
    for item in items:
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.fuzz)
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not on_redis:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True, scope="session")
def _static_files_scanned_once():
    """Scan the static files once per run, not once per test client.

    Every ``Client``/``APIClient`` builds the middleware anew, and WhiteNoise's constructor
    stats and indexes every static file (it is built once per process in a server). The files
    do not change during a run, so each later constructor gets the same index for the same
    configuration: what is served, and with which headers, is WhiteNoise's own answer.
    """
    from django.conf import settings as django_settings
    from whitenoise.middleware import WhiteNoiseMiddleware

    scan = WhiteNoiseMiddleware.add_files_from_finders
    indexes = {}

    def add_files_from_finders(self):
        configuration = (
            self.static_prefix,
            self.max_age,
            self.allow_all_origins,
            self.charset,
            self.add_headers_function,
            repr(getattr(django_settings, "WHITENOISE_MIMETYPES", None)),
            repr(getattr(django_settings, "WHITENOISE_IMMUTABLE_FILE_TEST", None)),
            tuple(django_settings.STATICFILES_DIRS),
            tuple(django_settings.INSTALLED_APPS),
        )
        if configuration not in indexes:
            before = dict(self.files)
            scan(self)
            indexes[configuration] = {
                url: static for url, static in self.files.items() if before.get(url) is not static
            }
        self.files.update(indexes[configuration])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WhiteNoiseMiddleware, "add_files_from_finders", add_files_from_finders)
        yield


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters, usage buffers and cached keys must not leak between tests."""
    forget_everything()
    yield
    forget_everything()


def forget_everything():
    from apikeys import known_keys
    from metering import backends, verified

    cache.clear()
    verified.forget_everything()
    known_keys.reset()
    backends.active.cache_clear()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture
def redis_calls(monkeypatch):
    """Every command sent to Redis, by name: counted on the connection, whoever sends it."""
    from redis.connection import AbstractConnection

    calls = []
    original = AbstractConnection.send_command

    def counting(self, *args, **options):
        calls.append(str(args[0]))
        return original(self, *args, **options)

    monkeypatch.setattr(AbstractConnection, "send_command", counting)
    return calls
