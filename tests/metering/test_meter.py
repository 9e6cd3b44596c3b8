import time

import pytest
import time_machine
from django.core.cache import caches
from django_ratelimit.core import get_usage, is_ratelimited

from apikeys.models import ApiKeyDailyUsage
from apikeys.usage import usage_flush
from metering import backends
from metering.meter import (
    GROUP,
    Meter,
    Window,
    counter_key,
    parse_rate,
    peek,
    take,
    window_end,
)
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

MINUTE_5 = Meter(bucket="key:test", windows=(Window(5, 60),))


def test_requests_within_the_limit_are_admitted_with_remaining_counting_down():
    readings = [take(MINUTE_5) for _ in range(5)]

    assert all(r.admitted for r in readings)
    assert [r.remaining for r in readings] == [4, 3, 2, 1, 0]
    assert readings[0].limit == 5


def test_the_request_past_the_limit_is_refused_with_retry_after():
    for _ in range(5):
        take(MINUTE_5)

    reading = take(MINUTE_5)

    assert not reading.admitted
    assert reading.remaining == 0
    assert 1 <= reading.retry_after <= 60


@pytest.mark.parametrize("start", ["2026-05-01T10:00:30.05Z", "2026-05-01T10:00:30.95Z"])
def test_a_client_that_waits_retry_after_is_admitted_and_not_a_second_sooner(start):
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(5):
            take(MINUTE_5)
        refused = take(MINUTE_5)
        assert refused.reset == refused.retry_after

        clock.shift(refused.retry_after - 1)
        assert not take(MINUTE_5).admitted
        clock.shift(1)
        assert take(MINUTE_5).admitted


def test_a_new_window_admits_again():
    with time_machine.travel("2026-05-01T10:00:00Z", tick=False) as traveller:
        for _ in range(6):
            take(MINUTE_5)
        traveller.shift(61)

        assert take(MINUTE_5).admitted


def test_the_tighter_of_two_windows_decides():
    meter = Meter(bucket="key:two", windows=(Window(100, 60), Window(3, 3600)))
    for _ in range(3):
        take(meter)

    reading = take(meter)

    assert not reading.admitted
    assert reading.limit == 3
    assert reading.policy == '"minute";q=100;w=60, "hour";q=3;w=3600'


def test_a_client_refused_by_the_longer_window_waits_for_that_window():
    meter = Meter(bucket="key:two", windows=(Window(100, 60), Window(3, 3600)))
    with time_machine.travel("2026-05-01T10:00:30.5Z", tick=False) as clock:
        for _ in range(3):
            take(meter)
        refused = take(meter)
        assert refused.reset == refused.retry_after > 60  # the hour's wait, not the minute's

        clock.shift(refused.retry_after - 1)
        assert not take(meter).admitted
        clock.shift(1)
        assert take(meter).admitted


def test_headers_carry_x_ratelimit_and_the_ietf_pair():
    headers = take(MINUTE_5).headers()

    assert headers["X-RateLimit-Limit"] == "5"
    assert headers["X-RateLimit-Remaining"] == "4"
    assert int(headers["X-RateLimit-Reset"]) >= 1
    assert headers["RateLimit-Policy"] == '"minute";q=5;w=60'
    assert headers["RateLimit"] == f'"minute";r=4;t={headers["X-RateLimit-Reset"]}'


@pytest.mark.redis
def test_on_the_shared_cache_django_ratelimit_reads_the_same_counters(rf):
    for _ in range(3):
        take(MINUTE_5)

    usage = get_usage(rf.get("/"), group=GROUP, key=lambda g, r: "key:test", rate="5/60s")

    assert usage["count"] == 3


def test_peek_does_not_count():
    take(MINUTE_5)

    assert peek(MINUTE_5).remaining == 4
    assert peek(MINUTE_5).remaining == 4


def test_admitted_requests_are_buffered_and_flushed_exactly():
    key = ApiKeyFactory()
    meter = Meter(bucket=f"key:{key.pk}", windows=(Window(3, 60),), usage_key_id=str(key.pk))
    with time_machine.travel("2026-05-01T10:00:30Z", tick=False):
        for _ in range(5):  # two are refused and must not count
            take(meter, ip="203.0.113.7")

        assert usage_flush() == 3

    key.refresh_from_db()
    assert key.request_count == 3
    assert key.last_used_ip == "203.0.113.7"
    assert key.last_used_at.isoformat() == "2026-05-01T10:00:00+00:00"
    assert ApiKeyDailyUsage.objects.get(api_key=key).count == 3


def test_flush_adds_to_existing_figures_and_leaves_the_buffer_empty():
    key = ApiKeyFactory()
    meter = Meter(bucket=f"key:{key.pk}", windows=(Window(100, 60),), usage_key_id=str(key.pk))
    take(meter)
    usage_flush()
    take(meter)
    take(meter)

    usage_flush()

    key.refresh_from_db()
    assert key.request_count == 3
    assert ApiKeyDailyUsage.objects.get(api_key=key).count == 3
    assert usage_flush() == 0


def test_a_failed_flush_puts_the_buffer_back(monkeypatch):
    key = ApiKeyFactory()
    meter = Meter(bucket=f"key:{key.pk}", windows=(Window(100, 60),), usage_key_id=str(key.pk))
    take(meter)
    take(meter)
    monkeypatch.setattr("apikeys.usage._apply", _boom)

    with pytest.raises(RuntimeError):
        usage_flush()

    monkeypatch.undo()
    assert usage_flush() == 2


def test_generation_is_read_in_the_same_call_and_changes_when_bumped():
    backend = backends.active()
    first = backend.generation_ensure("abc")
    meter = Meter(bucket="key:abc", windows=(Window(10, 60),), generation_of="abc")

    assert take(meter).generation == first
    backend.generation_bump("abc")
    assert take(meter).generation not in (None, first)


def _boom(*args, **kwargs):
    raise RuntimeError("database down")


# django-ratelimit's counters, computed here as it documents them: the same names as its own,
# so that its decorators and this meter share them.


@pytest.mark.parametrize("rate", ["5/m", "100/5m", "10/s", "1000/h", "7/2d"])
def test_a_rate_parses_as_django_ratelimit_parses_it(rate):
    from django_ratelimit.core import _split_rate  # the oracle, never called by the code

    assert tuple(parse_rate(rate)) == _split_rate(rate)


@pytest.mark.parametrize("period", [1, 60, 3600, 86400])
@time_machine.travel("2026-12-07 03:41:17", tick=False)
def test_our_counter_is_the_one_django_ratelimit_counts(rf, period):
    caches["default"].clear()
    value = "key:shared-bucket"
    rate = f"5/{period}s"
    # A decorator's (or middleware's) count, by django-ratelimit's public API:
    is_ratelimited(rf.get("/"), group=GROUP, key=lambda g, r: value, rate=rate, increment=True)
    end = window_end(value, period, int(time.time()))
    key = counter_key(GROUP, end, Window(5, period), value)

    assert caches["default"].get(key) == 1
    usage = get_usage(rf.get("/"), group=GROUP, key=lambda g, r: value, rate=rate)
    assert usage["count"] == 1
